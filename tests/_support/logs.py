"""Reading a running service's JSON-lines log (mongod.log, idp.log) from a test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete line of the log, parsed. The service may be writing a line as the test reads
    (another connection's record): text after the last newline is that line's beginning, not yet a
    record, and is left for the next read. A complete line that is not JSON still fails the test."""
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]
