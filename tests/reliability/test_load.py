"""A small, bounded version of ``benchmarks/load.py`` in the default suite: errors, not timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fifty_concurrent_oidc_connections_doing_mixed_reads_and_writes_see_no_error(tmp_path: Path) -> None:
    output = tmp_path / "load.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load.py"),
            "--connections",
            "50",
            "--clients",
            "5",
            "--seconds",
            "2",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert output.exists(), result.stderr[-2000:]
    doc = json.loads(output.read_text())
    assert result.returncode == 0, doc["error_examples"]
    assert doc["errors_total"] == 0 and doc["workers_stuck"] == 0
    assert doc["oidc_logins_logged"] >= 50
    assert doc["peak_server_connections"] >= 50 + doc["monitor_connections"]
    assert doc["operations"]["insert"] >= 50 and doc["operations"]["find_one"] > 0
    assert doc["memory_kb"]["mongod"]["VmHWM"] > 0 and doc["memory_kb"]["idp"]["VmHWM"] > 0
