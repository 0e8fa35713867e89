"""The ``application/vnd.wif.status+json`` payload: both services and the lessons with progress.

The shape is a contract with the JupyterLab extension (docs/ARCHITECTURE.md, "Display MIME
payloads"); the server extension serves it at ``/wif/api/status`` and the panel polls it. It holds
no secret: the administrator's URI (with its password) from ``stack.status`` is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import stack
from .lessons import lessons_with_progress
from .state import StateDir

MIME_TYPE = "application/vnd.wif.status+json"
VERSION = 1


def _idp(info: dict[str, Any]) -> dict[str, Any]:
    if not info.get("running"):
        return {"running": False}
    issuers: dict[str, dict[str, Any]] = {}
    for issuer_id, value in (info.get("issuers") or {}).items():
        # Records written before issuers carried their audience hold the bare URL.
        if isinstance(value, dict):
            issuers[str(issuer_id)] = {"issuer": value.get("issuer"), "audience": value.get("audience")}
        else:
            issuers[str(issuer_id)] = {"issuer": str(value), "audience": None}
    return {
        "running": True,
        "pid": info.get("pid"),
        "port": info.get("port"),
        "base_url": info.get("base_url"),
        "issuers": issuers,
    }


def _mongod(info: dict[str, Any], uri: str | None) -> dict[str, Any]:
    if not info.get("running"):
        return {"running": False}
    return {
        "running": True,
        "kind": info.get("kind", "test-server"),
        "pid": info.get("pid"),
        "port": info.get("port"),
        "mongodb_uri": uri,
    }


def status_payload(
    state: StateDir, *, lessons_dir: Path | None = None, relative_to: Path | None = None
) -> dict[str, Any]:
    """The status payload for ``state``; lesson paths relative to ``relative_to`` (see lessons.py)."""
    now = stack.status(state)
    return {
        "version": VERSION,
        "state_dir": str(state.path),
        "services": {
            "idp": _idp(now.get("idp", {})),
            "mongod": _mongod(now.get("mongod", {}), now.get("mongodb_uri")),
        },
        "lessons": lessons_with_progress(state, lessons_dir, relative_to=relative_to),
    }
