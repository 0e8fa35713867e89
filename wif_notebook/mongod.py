"""mongod.conf: the model of the configuration that starts the test mongod or a real Enterprise mongod.

(This module also renders, parses and validates mongod.conf and launches the server; see
docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MongodConfig:
    """The parts of mongod.conf the kit understands, with mongod's defaults."""

    port: int = 27017
    bind_ip: str = "127.0.0.1"
    db_path: Path = Path("/data/db")
    log_path: Path | None = None  # systemLog.path (JSON log); None = stdout
    authorization: bool = False  # security.authorization: enabled
    enable_test_commands: bool = False  # setParameter.enableTestCommands
    authentication_mechanisms: list[str] = field(default_factory=lambda: ["SCRAM-SHA-1", "SCRAM-SHA-256"])
    oidc_providers: list[Any] = field(default_factory=list)  # list[wif_notebook.oidc.ProviderConfig]
    set_parameters: dict[str, Any] = field(default_factory=dict)  # every setParameter, as given
    raw: dict[str, Any] = field(default_factory=dict)  # the whole parsed YAML document
