"""Fixtures for the test mongod: the kit's real IdP process, servers on background threads, clients.

Every MongoDB connection is real pymongo over loopback; every token is signed by the real mock IdP
(``/_wif/mint``) and checked by the server against the IdP's JWKS.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _support.kit import running_idp
from _support.logs import json_lines
from pymongo import MongoClient, monitoring
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook.idp.service import mint, retire_key, rotate_keys
from wif_notebook.mongod import MongodConfig
from wif_notebook.oidc import parse_oidc_identity_providers
from wif_notebook.server.authz import AuthzStore
from wif_notebook.server.core import TestServer
from wif_notebook.state import StateDir

AUTH_PREFIX = "kit"
HUMAN_CLIENT_ID = "kit-notebook"


@dataclass
class Idp:
    state: StateDir
    issuer: str  # https://localhost:<port>/kit (the default form)
    audience: str
    http_issuer: str  # http://localhost:<port>/kit (enableTestCommands only)

    def token(
        self,
        principal: str = "lesson-app",
        *,
        lifetime: int | None = None,
        fault: str | None = None,
        issuer_scheme: str | None = None,
    ) -> str:
        answer = mint(self.state, principal, lifetime=lifetime, fault=fault, issuer_scheme=issuer_scheme)
        return str(answer["token"])

    def rotate(self) -> None:
        rotate_keys(self.state, "kit")

    def retire(self, kid: str) -> None:
        retire_key(self.state, "kit", kid)


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    with running_idp(tmp_path_factory.mktemp("idp") / "state") as (state, kit):
        yield Idp(state, kit["issuer"], kit["audience"], kit["http_issuer"])


def kit_provider(idp: Idp, **overrides: Any) -> dict[str, Any]:
    """The kit issuer as an oidcIdentityProviders entry (human flows allowed: it has a clientId)."""
    entry: dict[str, Any] = {
        "issuer": idp.issuer,
        "audience": idp.audience,
        "authNamePrefix": AUTH_PREFIX,
        "clientId": HUMAN_CLIENT_ID,
        "requestScopes": ["openid"],
        "authorizationClaim": "groups",
        "logClaims": ["iss", "sub", "groups"],
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


@dataclass
class RunningServer:
    server: TestServer
    port: int
    dir: Path
    admin: tuple[str, str] | None
    clients: list[MongoClient[Any]] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        assert self.server.config.log_path is not None
        return self.server.config.log_path

    def log_entries(self, log_id: int | None = None) -> list[dict[str, Any]]:
        entries = json_lines(self.log_path)
        return [e for e in entries if log_id is None or e["id"] == log_id]

    def client(self, **kwargs: Any) -> MongoClient[Any]:
        kwargs.setdefault("serverSelectionTimeoutMS", 5000)
        kwargs.setdefault("connectTimeoutMS", 5000)
        client: MongoClient[Any] = MongoClient("127.0.0.1", self.port, directConnection=True, **kwargs)
        self.clients.append(client)
        return client

    def admin_client(self, **kwargs: Any) -> MongoClient[Any]:
        assert self.admin is not None
        user, password = self.admin
        return self.client(
            username=user, password=password, authSource="admin", authMechanism="SCRAM-SHA-256", **kwargs
        )

    def oidc_client(self, **kwargs: Any) -> MongoClient[Any]:
        kwargs.setdefault("retryReads", False)
        return self.client(authMechanism="MONGODB-OIDC", **kwargs)


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def make_server(tmp_path: Path, idp: Idp) -> Iterator[ServerFactory]:
    """Start TestServers on background threads; each gets its own dbPath, log and administrator,
    and trusts the kit CA of the IdP's state directory (its issuers are https), or of ``state``."""
    running: list[RunningServer] = []

    def factory(
        providers: list[dict[str, Any]] | None = None,
        *,
        authorization: bool = True,
        enable_test_commands: bool = True,
        mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "MONGODB-OIDC"),
        name: str = "mongod",
        wait_for_keys: bool = True,
        state: StateDir | None = None,
    ) -> RunningServer:
        base = tmp_path / f"{name}{len(running)}"
        config = MongodConfig(
            port=0,
            db_path=base / "db",
            log_path=base / "mongod.log",
            authorization=authorization,
            enable_test_commands=enable_test_commands,
            authentication_mechanisms=list(mechanisms),
            oidc_providers=parse_oidc_identity_providers(
                json.dumps(providers or []), enable_test_commands=enable_test_commands
            ),
        )
        config.db_path.mkdir(parents=True)
        store = AuthzStore(config.db_path)
        admin = store.ensure_admin(base) if authorization else None
        server = TestServer(
            config, authz=store, argv=["mongod", "--config", "test"], state=state or idp.state
        )
        port = server.start_in_thread()
        handle = RunningServer(server, port, base, admin)
        running.append(handle)
        if wait_for_keys:
            _wait_for_keys(server)
        return handle

    yield factory
    for handle in running:
        for client in handle.clients:
            client.close()
        handle.server.stop_thread()


def _wait_for_keys(server: TestServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(server.key_loaded(issuer) for issuer in server.key_caches):
            return
        time.sleep(0.02)
    raise AssertionError("the test server did not load the IdP's JWKS in time")


@pytest.fixture
def oidc_server(make_server: ServerFactory, idp: Idp) -> RunningServer:
    """Authorization on, the kit issuer configured, and role kit/lesson-readers → readWrite on test."""
    running = make_server([kit_provider(idp)])
    admin = running.admin_client()
    admin.admin.command(
        "createRole",
        f"{AUTH_PREFIX}/lesson-readers",
        privileges=[],
        roles=[{"role": "readWrite", "db": "test"}],
    )
    return running


@pytest.fixture
def token_file(tmp_path: Path, idp: Idp, monkeypatch: pytest.MonkeyPatch) -> Path:
    """OIDC_TOKEN_FILE for ``ENVIRONMENT:test``, holding a fresh lesson-app token."""
    path = tmp_path / "oidc-token"
    path.write_text(idp.token("lesson-app"))
    monkeypatch.setenv("OIDC_TOKEN_FILE", str(path))
    return path


class CountingCallback(OIDCCallback):
    """An OIDC_CALLBACK that records each call (its context and the token it returned)."""

    def __init__(self) -> None:
        self.calls = 0
        self.contexts: list[OIDCCallbackContext] = []
        self.tokens: list[str] = []
        self._lock = threading.Lock()

    def next_token(self) -> str:
        raise NotImplementedError

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        with self._lock:
            self.calls += 1
            self.contexts.append(context)
        token = self.next_token()
        self.tokens.append(token)
        return OIDCCallbackResult(access_token=token)


class MintingCallback(CountingCallback):
    """Asks the IdP for a token each time."""

    def __init__(self, idp: Idp, principal: str = "lesson-app", *, lifetime: int | None = None) -> None:
        super().__init__()
        self.idp = idp
        self.principal = principal
        self.lifetime = lifetime

    def next_token(self) -> str:
        return self.idp.token(self.principal, lifetime=self.lifetime)


class ScriptedCallback(CountingCallback):
    """Returns the given tokens in order (the last one repeats)."""

    def __init__(self, *tokens: str) -> None:
        super().__init__()
        self.script = list(tokens)

    def next_token(self) -> str:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class Events(monitoring.CommandListener):
    """Command events as the unified test runner records them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.failures: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _add(self, kind: str, name: str) -> None:
        with self._lock:
            self.events.append((kind, name))

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self._add("started", event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._add("succeeded", event.command_name)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self.failures.append(dict(event.failure))
        self._add("failed", event.command_name)

    def of(self, *names: str) -> list[tuple[str, str]]:
        return [e for e in self.events if e[1] in names]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
            self.failures.clear()


def fail_command(
    admin: MongoClient[Any],
    app_name: str,
    command: str,
    *,
    times: int = 1,
    error_code: int | None = None,
    close_connection: bool = False,
) -> None:
    """Arm the ``failCommand`` fail point: the next ``times`` ``command`` runs of clients named
    ``app_name`` fail with ``error_code``, or have their connection closed."""
    data: dict[str, Any] = {"failCommands": [command], "appName": app_name}
    if error_code is not None:
        data["errorCode"] = error_code
    if close_connection:
        data["closeConnection"] = True
    admin.admin.command({"configureFailPoint": "failCommand", "mode": {"times": times}, "data": data})


def retried_once(command: str) -> list[tuple[str, str]]:
    """The events of a ``command`` that failed once and that the driver then ran again successfully."""
    return [("started", command), ("failed", command), ("started", command), ("succeeded", command)]


@pytest.fixture
def events() -> Events:
    return Events()
