"""A mongod.conf for the kit's test server, written by hand as a user would (not by the kit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wif_notebook.state import StateDir


def write_mongod_conf(
    state: StateDir, providers: list[dict[str, Any]], *, db_path: Path | None = None
) -> Path:
    """``state``'s mongod.conf: port 0 on loopback, dbPath ``db_path`` (else ``state``'s ``db``), a log
    file, authorization, test commands, and SCRAM plus MONGODB-OIDC with ``providers``."""
    conf = state.path / "mongod.conf"
    state.path.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"""\
net:
  port: 0
  bindIp: 127.0.0.1
storage:
  dbPath: {db_path or state.path / "db"}
systemLog:
  destination: file
  path: {state.path / "logs" / "mongod.log"}
security:
  authorization: enabled
setParameter:
  enableTestCommands: 1
  authenticationMechanisms: SCRAM-SHA-256,MONGODB-OIDC
  oidcIdentityProviders: '{json.dumps(providers)}'
"""
    )
    return conf
