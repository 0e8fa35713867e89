"""Fixtures for the authorization tests: a fresh store and a way to run a handler like the server does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wif_notebook.server import core  # noqa: F401  (imports every handler module: registers them)
from wif_notebook.server.authz import AuthzStore, check_privileges
from wif_notebook.server.registry import AuthenticatedUser, CommandContext, lookup

Run = Callable[..., dict[str, Any]]


@pytest.fixture
def store(tmp_path: Path) -> AuthzStore:
    return AuthzStore(tmp_path / "db")


@pytest.fixture
def admin_user(store: AuthzStore, tmp_path: Path) -> AuthenticatedUser:
    """The kit's administrator (root via its user document), as a SCRAM login would produce."""
    store.ensure_admin(tmp_path)
    return AuthenticatedUser(user="admin", db="admin", mechanism="SCRAM-SHA-256")


@pytest.fixture
def run(store: AuthzStore, admin_user: AuthenticatedUser) -> Run:
    """Run a command as the server does: its parse, the privilege check, then the handler."""

    def _run(db: str, cmd: dict[str, Any], users: list[AuthenticatedUser] | None = None) -> dict[str, Any]:
        name = next(iter(cmd))
        spec = lookup(name)
        assert spec is not None, f"{name} is not registered"
        who = [admin_user] if users is None else users
        if spec.parse is not None:
            spec.parse(cmd)
        check_privileges(store, who, db, spec.name, cmd)
        ctx = CommandContext(
            server=None, conn=None, db=db, command_name=spec.name, users=who, authz=store, config=None
        )
        return spec.handler(ctx, cmd)

    return _run
