"""Fixtures for the data plane: the test mongod as a real process (``python -m wif_notebook.server``)
with the kit's real IdP, clients as the SCRAM administrator and as an OIDC workload.

The process can be stopped cleanly (SIGTERM), killed with SIGKILL and started again on the same
dbPath, which is what the durability tests need.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _support.kit import running_idp
from bson import SON
from pymongo import MongoClient

from wif_notebook.idp.service import mint
from wif_notebook.services import port_open
from wif_notebook.state import StateDir

AUTH_PREFIX = "kit"
START_TIMEOUT = 20.0


@dataclass
class Idp:
    state: StateDir
    issuer: str
    audience: str

    def token(self, principal: str = "lesson-app", *, lifetime: int | None = 3600) -> str:
        return str(mint(self.state, principal, lifetime=lifetime, issuer_scheme="http")["token"])


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    # The servers here run in their own state directories, which do not trust this IdP's kit CA:
    # they use the plain-http form of the issuer (enableTestCommands) and tokens in that form.
    with running_idp(tmp_path_factory.mktemp("data-idp") / "state") as (state, kit):
        yield Idp(state, kit["http_issuer"], kit["audience"])


def mongod_conf(state: StateDir, providers: list[dict[str, Any]], db_path: Path | None = None) -> Path:
    """A plain mongod.conf for a test server in ``state`` (as an administrator would write it, not
    the kit's generated one, its dbPath created): any free port, authorization, test commands, SCRAM
    and these OIDC providers."""
    conf = state.path / "mongod.conf"
    db_path = db_path or state.path / "db"
    # As for mongod, whoever starts the server creates its dbPath (`wif mongod start` does).
    db_path.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        f"""\
net:
  port: 0
  bindIp: 127.0.0.1
storage:
  dbPath: {db_path}
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


def write_conf(state: StateDir, idp: Idp, db_path: Path | None = None) -> Path:
    """The data plane's server: the kit issuer (plain http) for machine flows, roles from ``groups``."""
    providers = [
        {
            "issuer": idp.issuer,
            "audience": idp.audience,
            "authNamePrefix": AUTH_PREFIX,
            "authorizationClaim": "groups",
            "supportsHumanFlows": False,
        }
    ]
    return mongod_conf(state, providers, db_path)


@dataclass
class MongodProcess:
    """One ``python -m wif_notebook.server`` child; restartable on the same state dir and dbPath."""

    state: StateDir
    conf: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    clients: list[MongoClient[Any]] = field(default_factory=list)

    @property
    def record_path(self) -> Path:
        return self.state.record_path("mongod")

    @property
    def out_path(self) -> Path:
        return self.state.path / "mongod.out"

    def spawn(self) -> subprocess.Popen[bytes]:
        with contextlib.suppress(FileNotFoundError):
            self.record_path.unlink()
        out = open(self.out_path, "ab")  # noqa: SIM115 - the child holds it
        with out:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wif_notebook.server",
                    "--state-dir",
                    str(self.state.path),
                    "--config",
                    str(self.conf),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def start(self) -> MongodProcess:
        self.proc = self.spawn()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"mongod exited during start: {self.out_path.read_text()[-2000:]}")
            record = self.state.read_record("mongod")
            if record is not None and record.pid == self.proc.pid and port_open(record.host, record.port):
                self.port = record.port
                return self
            time.sleep(0.02)
        raise AssertionError("mongod did not start in time")

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    def stop(self) -> int:
        """A clean shutdown (SIGTERM), as ``wif mongod stop`` does."""
        self.close_clients()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)

    def kill9(self) -> None:
        self.close_clients()
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)

    def admin_credentials(self) -> tuple[str, str]:
        doc = json.loads((self.state.path / "admin.json").read_text())
        return doc["user"], doc["password"]

    def client(self, **kwargs: Any) -> MongoClient[Any]:
        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        client: MongoClient[Any] = MongoClient("127.0.0.1", self.port, directConnection=True, **kwargs)
        self.clients.append(client)
        return client

    def admin(self, **kwargs: Any) -> MongoClient[Any]:
        user, password = self.admin_credentials()
        return self.client(
            username=user, password=password, authSource="admin", authMechanism="SCRAM-SHA-256", **kwargs
        )

    def oidc(self, token_file: Path, **kwargs: Any) -> MongoClient[Any]:
        os.environ["OIDC_TOKEN_FILE"] = str(token_file)
        return self.client(
            authMechanism="MONGODB-OIDC", authMechanismProperties={"ENVIRONMENT": "test"}, **kwargs
        )


class InBody(SON[str, Any]):
    """A command that pymongo sends whole in the OP_MSG body: it moves a write command's statements
    into a document sequence (by popping them), which holds documents only. In the body, as a
    driver that sends no sequences frames them, any value reaches the server."""

    def pop(self, key: str, *default: Any) -> Any:
        raise KeyError(key)


@pytest.fixture
def mongod(tmp_path: Path, idp: Idp) -> Iterator[MongodProcess]:
    """A fresh server process on its own state dir; stopped at the end (if still running)."""
    state = StateDir(tmp_path / "state")
    process = MongodProcess(state, write_conf(state, idp))
    process.start()
    yield process
    process.close_clients()
    if process.proc is not None and process.proc.poll() is None:
        process.proc.send_signal(signal.SIGTERM)
        try:
            process.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.proc.kill()
            process.proc.wait()


@pytest.fixture(scope="module")
def shared_mongod(tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[MongodProcess]:
    """One server process for a whole module of semantics tests (each test uses its own database)."""
    state = StateDir(tmp_path_factory.mktemp("shared") / "state")
    process = MongodProcess(state, write_conf(state, idp))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def db_name(request: pytest.FixtureRequest) -> str:
    """A database of the test's own (names are at most 63 bytes)."""
    return "t_" + request.node.name.replace("[", "_").replace("]", "")[:50]


@pytest.fixture
def token_file(tmp_path: Path, idp: Idp) -> Path:
    path = tmp_path / "oidc-token"
    path.write_text(idp.token("lesson-app"))
    return path
