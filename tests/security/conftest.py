"""One running kit per test module (``stack.up``: the mock IdP and the test mongod as processes),
plus raw-socket helpers for feeding the server bytes no driver would send."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _support.logs import json_lines
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.errors import OperationFailure

from wif_notebook import services, stack
from wif_notebook.idp.service import mint
from wif_notebook.server import wire
from wif_notebook.state import StateDir

ROLE = "kit/lesson-readers"
DB = "security"


class FixedCallback(OIDCCallback):
    """Hands out one given token, every time."""

    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        return OIDCCallbackResult(access_token=self.token)


@dataclass
class RunningKit:
    state: StateDir
    info: dict[str, Any]
    clients: list[MongoClient[Any]] = field(default_factory=list)
    _admin: MongoClient[Any] | None = None

    @property
    def port(self) -> int:
        return int(self.info["mongod"]["port"])

    @property
    def mongod_pid(self) -> int:
        return int(self.info["mongod"]["pid"])

    @property
    def issuer(self) -> str:
        return str(self.info["issuers"]["kit"]["issuer"])

    @property
    def audience(self) -> str:
        return str(self.info["issuers"]["kit"]["audience"])

    def token(self, principal: str = "lesson-app", **kwargs: Any) -> str:
        return str(mint(self.state, principal, **kwargs)["token"])

    def oidc_client(self, token: str, **kwargs: Any) -> MongoClient[Any]:
        kwargs.setdefault("serverSelectionTimeoutMS", 10_000)
        client: MongoClient[Any] = MongoClient(
            f"mongodb://127.0.0.1:{self.port}/?directConnection=true",
            authMechanism="MONGODB-OIDC",
            authMechanismProperties={"OIDC_CALLBACK": FixedCallback(token)},
            retryReads=False,
            **kwargs,
        )
        self.clients.append(client)
        return client

    def admin(self) -> MongoClient[Any]:
        client: MongoClient[Any] = MongoClient(
            stack.administrator_uri(self.state), serverSelectionTimeoutMS=10_000
        )
        self.clients.append(client)
        return client

    def shared_admin(self) -> MongoClient[Any]:
        """One administrator client for the whole module (a SCRAM login per call would dominate)."""
        if self._admin is None:
            self._admin = self.admin()
        return self._admin

    def assert_serving(self) -> None:
        """The process is alive and a well-formed client logs in and reads."""
        assert services.pid_alive(self.mongod_pid), "the test mongod died"
        client = self.oidc_client(self.token())
        try:
            assert client[DB].items.find_one({"_id": "canary"}) == {"_id": "canary", "ok": True}
        finally:
            client.close()
            self.clients.remove(client)

    def mongod_log(self, log_id: int | None = None) -> list[dict[str, Any]]:
        path = self.state.logs_dir / "mongod.log"
        entries = json_lines(path)
        return [e for e in entries if log_id is None or e.get("id") == log_id]

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.mongod_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningKit]:
    state = StateDir(tmp_path_factory.mktemp("kit") / "state")
    info = stack.up(state, idp_port=0, port=0)
    running = RunningKit(state, info)
    admin = running.admin()
    try:
        admin.admin.command("createRole", ROLE, privileges=[], roles=[{"role": "readWrite", "db": DB}])
    except OperationFailure as exc:
        if "already exists" not in str(exc):
            raise
    admin[DB].items.insert_one({"_id": "canary", "ok": True})
    try:
        yield running
    finally:
        for client in running.clients:
            client.close()
        stack.down(state)


# -- raw sockets -----------------------------------------------------------------------------------
def exchange(port: int, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data``, half-close, and read until the server closes: it must never hang."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            return b""  # the server closed first (it refused the header): fine
        chunks = []
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, "the server neither answered nor closed"
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def replies(data: bytes) -> list[dict[str, Any]]:
    """Split a server's byte stream into reply documents."""
    out = []
    while len(data) >= wire.HEADER_SIZE:
        header, doc = wire.parse_reply(data)
        out.append(doc)
        data = data[header.length :]
    return out


def raw_hello(port: int) -> dict[str, Any]:
    """A hello over a raw socket: the cheapest proof that the server still answers."""
    [reply] = replies(exchange(port, wire.encode_op_msg({"hello": 1, "$db": "admin"}, 1, 0)))
    return reply
