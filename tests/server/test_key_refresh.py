"""JWKSPollSecs scheduling, retries of issuers that were down, and session invalidation on refresh.

The key sets here are stand-ins with the KeySetCache interface, so the schedule is tested without
waiting for real poll periods (mongod's minimum is 10 s); the real cache and IdP are exercised in
test_oidc_login.py (rotation) and test_issuers.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from _support.logs import json_lines

from wif_notebook.mongod import MongodConfig
from wif_notebook.oidc import parse_oidc_identity_providers
from wif_notebook.server.authz import AuthzStore
from wif_notebook.server.core import Connection, TestServer
from wif_notebook.server.log import MongodLog
from wif_notebook.server.registry import AuthenticatedUser

POLLED = "http://localhost:1/polled"
STATIC = "http://localhost:1/static"


class FakeKeySet:
    """Answers refresh() from a script: a set of changed kids, or an exception."""

    def __init__(self) -> None:
        self.script: list[set[str] | Exception] = []
        self.calls = 0

    def refresh(self) -> set[str]:
        self.calls += 1
        outcome = self.script.pop(0) if self.script else set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def fingerprint(self, kid: str) -> str | None:
        return "fp"


def _server(tmp_path: Path) -> tuple[TestServer, dict[str, FakeKeySet]]:
    providers = [
        {
            "issuer": POLLED,
            "audience": "a",
            "authNamePrefix": "p",
            "authorizationClaim": "g",
            "supportsHumanFlows": False,
            "JWKSPollSecs": 30,
        },
        {
            "issuer": STATIC,
            "audience": "a",
            "authNamePrefix": "s",
            "authorizationClaim": "g",
            "supportsHumanFlows": False,
        },
    ]
    config = MongodConfig(
        port=0,
        db_path=tmp_path / "db",
        log_path=tmp_path / "mongod.log",
        enable_test_commands=True,
        oidc_providers=parse_oidc_identity_providers(json.dumps(providers), enable_test_commands=True),
    )
    config.db_path.mkdir()
    caches: dict[str, FakeKeySet] = {}

    def factory(issuer: str) -> FakeKeySet:
        caches[issuer] = FakeKeySet()
        return caches[issuer]

    server = TestServer(
        config, log=MongodLog(config.log_path), authz=AuthzStore(tmp_path / "db"), key_cache_factory=factory
    )
    return server, caches


def _log(tmp_path: Path) -> list[dict]:
    return json_lines(tmp_path / "mongod.log")


def test_polled_issuer_is_refreshed_every_jwks_poll_secs_and_others_never(tmp_path: Path) -> None:
    server, _ = _server(tmp_path)
    server.schedule_keys(1000.0)
    assert server.due_refreshes(1029.0) == []
    assert server.due_refreshes(1030.0) == [POLLED]
    assert server.due_refreshes(1065.0) == []  # still refreshing: never two fetches at once
    server._refreshing.clear()
    assert server.due_refreshes(1065.0) == [POLLED]
    server._refreshing.clear()
    assert server.due_refreshes(10_000.0) == [POLLED]


def test_issuer_down_at_start_is_retried_and_loads_later(tmp_path: Path) -> None:
    server, caches = _server(tmp_path)
    server.schedule_keys(time.time())
    caches[STATIC].script = [OSError("connection refused"), set()]
    asyncio.run(server._refresh_keys(STATIC, initial=True))
    assert not server.key_loaded(STATIC)
    [warning] = [e for e in _log(tmp_path) if e["id"] == 7119501]
    assert warning["s"] == "W" and warning["attr"]["issuer"] == STATIC
    retry_at = server._next_poll[STATIC]
    assert retry_at is not None
    assert server.due_refreshes(retry_at) == [STATIC]
    asyncio.run(server._refresh_keys(STATIC))
    assert server.key_loaded(STATIC) and caches[STATIC].calls == 2
    assert server._next_poll[STATIC] is None  # loaded, and no JWKSPollSecs: no more polling


def test_refresh_that_changes_a_key_expires_the_sessions_it_signed(tmp_path: Path) -> None:
    server, caches = _server(tmp_path)

    def user(name: str, issuer: str, kid: str) -> AuthenticatedUser:
        return AuthenticatedUser(
            name, "$external", "MONGODB-OIDC", issuer=issuer, kid=kid, key_fingerprint="fp"
        )

    signed_by_k1 = user("p/a", POLLED, "k1")
    signed_by_k2 = user("p/b", POLLED, "k2")
    other_issuer = user("s/c", STATIC, "k1")
    for i, u in enumerate([signed_by_k1, signed_by_k2, other_issuer], start=1):
        server.connections[i] = Connection(id=i, remote="r", local="l", users=[u])
    caches[POLLED].script = [{"k1"}]
    asyncio.run(server._refresh_keys(POLLED))
    assert (signed_by_k1.expired, signed_by_k2.expired, other_issuer.expired) == (True, False, False)
    assert any(e["id"] == 7119503 and e["attr"]["sessions"] == 1 for e in _log(tmp_path))
