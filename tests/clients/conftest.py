"""Fixtures for the real-client tests: Node.js and the npm packages from tests/clients/package.json.

`./dev.sh test` installs them (`npm ci --prefix tests/clients`); the tests fail with the command to run
when they are missing, rather than skipping, because these clients are part of what is tested.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from data.conftest import AUTH_PREFIX, Idp, MongodProcess, idp, write_conf
from pymongo import MongoClient

from wif_notebook.state import StateDir

CLIENTS = Path(__file__).resolve().parent
NODE_MODULES = CLIENTS / "node_modules"
__all__ = ["idp"]  # the session IdP fixture, shared with tests/data


@pytest.fixture(scope="session")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail(
            "Node.js is needed for the client tests: install it (apt-get install nodejs npm) and rerun"
        )
    for package in ("mongodb", "mongosh"):
        if not (NODE_MODULES / package / "package.json").exists():
            pytest.fail(
                f"npm package {package} is missing: run `npm ci --prefix tests/clients` (./dev.sh test does)"
            )
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[MongodProcess]:
    """The test mongod process; the kit IdP's lesson-app workload gets readWrite on `library` (the
    CRUD test) and `test` (the drivers' unified spec files)."""
    state = StateDir(tmp_path_factory.mktemp("clients") / "state")
    process = MongodProcess(state, write_conf(state, idp))
    process.start()
    admin: MongoClient[Any] = process.admin()
    admin.admin.command(
        "createRole",
        f"{AUTH_PREFIX}/lesson-readers",
        privileges=[],
        roles=[{"role": "readWrite", "db": "library"}, {"role": "readWrite", "db": "test"}],
    )
    yield process
    process.stop()


@pytest.fixture
def token_file(tmp_path: Path, idp: Idp) -> Path:
    path = tmp_path / "oidc-token"
    path.write_text(idp.token("lesson-app"))
    return path
