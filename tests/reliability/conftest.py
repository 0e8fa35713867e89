"""The whole kit as a user runs it (``wif up``: the IdP and the test mongod, each its own process).

Faults are real: processes are killed with signals, restarted on the same port, keys are rotated
on the running IdP, file systems are small tmpfs mounts. Every MongoDB connection is real pymongo.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _support.kit import kill_service
from _support.logs import json_lines
from pymongo import MongoClient, monitoring
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.errors import OperationFailure

from wif_notebook import mongod, stack
from wif_notebook.idp.service import mint
from wif_notebook.state import StateDir

ROLE = "kit/lesson-readers"  # lesson-app's group, mapped by the kit issuer's entry
DB = "reliability"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MintingCallback(OIDCCallback):
    """An OIDC_CALLBACK that asks the running IdP for a fresh token on every call."""

    def __init__(self, state: StateDir, principal: str = "lesson-app", lifetime: int | None = None) -> None:
        self.state = state
        self.principal = principal
        self.lifetime = lifetime
        self.calls = 0
        self._lock = threading.Lock()

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        with self._lock:
            self.calls += 1
        token = mint(self.state, self.principal, lifetime=self.lifetime)["token"]
        return OIDCCallbackResult(access_token=str(token))


class FixedCallback(OIDCCallback):
    """Hands out one given token, every time."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        self.calls += 1
        return OIDCCallbackResult(access_token=self.token)


class Failures(monitoring.CommandListener):
    """The (command, code) of failed commands, in order, and the names of those that succeeded."""

    def __init__(self) -> None:
        self.failures: list[tuple[str, int | None]] = []
        self.successes: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.successes.append(event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.failures.append((event.command_name, dict(event.failure).get("code")))


@dataclass
class Kit:
    """A running kit in its own state directory."""

    state: StateDir
    mongod_port: int
    info: dict[str, Any] = field(default_factory=dict)
    clients: list[MongoClient[Any]] = field(default_factory=list)

    def up(self) -> dict[str, Any]:
        self.info = stack.up(self.state, idp_port=0, port=self.mongod_port)
        return self.info

    def record(self, name: str) -> Any:
        return self.state.read_record(name)

    def pid(self, name: str) -> int:
        record = self.record(name)
        assert record is not None, f"no service record for {name}"
        return int(record.pid)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a service the hard way and wait until it is gone (the record stays behind)."""
        kill_service(self.pid(name), sig)

    def restart_mongod(self) -> None:
        mongod.stop_mongod(self.state)
        mongod.start_mongod(self.state, self.mongod_port)

    def token(self, principal: str = "lesson-app", lifetime: int | None = None) -> str:
        return str(mint(self.state, principal, lifetime=lifetime)["token"])

    def admin(self) -> MongoClient[Any]:
        client: MongoClient[Any] = MongoClient(
            stack.administrator_uri(self.state), serverSelectionTimeoutMS=10_000
        )
        self.clients.append(client)
        return client

    def oidc_client(self, callback: OIDCCallback, **kwargs: Any) -> MongoClient[Any]:
        kwargs.setdefault("serverSelectionTimeoutMS", 10_000)
        client: MongoClient[Any] = MongoClient(
            f"mongodb://127.0.0.1:{self.mongod_port}/?directConnection=true",
            authMechanism="MONGODB-OIDC",
            authMechanismProperties={"OIDC_CALLBACK": callback},
            **kwargs,
        )
        self.clients.append(client)
        return client

    def grant_role(self) -> None:
        try:
            self.admin().admin.command(
                "createRole", ROLE, privileges=[], roles=[{"role": "readWrite", "db": DB}]
            )
        except OperationFailure as exc:
            if "already exists" not in str(exc):
                raise

    def mongod_log(self, log_id: int | None = None) -> list[dict[str, Any]]:
        path = self.state.logs_dir / "mongod.log"
        entries = json_lines(path)
        return [e for e in entries if log_id is None or e.get("id") == log_id]

    def idp_log(self) -> list[dict[str, Any]]:
        path = self.state.logs_dir / "idp.log"
        return json_lines(path)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        stack.down(self.state)


KitFactory = Callable[[], Kit]


@pytest.fixture
def make_kit(tmp_path: Path) -> Iterator[KitFactory]:
    """Start kits (``stack.up``) on a fixed free mongod port, so a restart keeps the address."""
    kits: list[Kit] = []

    def factory() -> Kit:
        kit = Kit(StateDir(tmp_path / f"state{len(kits)}"), free_port())
        kits.append(kit)
        kit.up()
        kit.grant_role()
        return kit

    yield factory
    for kit in kits:
        kit.close()


@pytest.fixture
def kit(make_kit: KitFactory) -> Kit:
    return make_kit()


def wait_for(probe: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
