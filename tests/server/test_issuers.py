"""Issuers that are down or slow: the server starts anyway, logs why, and keeps serving everyone else."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc.helpers import Issuer, tiny_issuer
from pymongo.errors import OperationFailure

from wif_notebook.idp.service import idp_record, mint, start_idp, stop_idp
from wif_notebook.oidc import RuleFailure, keyset_for
from wif_notebook.state import StateDir

from .conftest import Idp, ScriptedCallback, ServerFactory, kit_provider

AUDIENCE = "api://slow"


def _token(issuer: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": issuer, "sub": "app", "aud": AUDIENCE, "exp": now + 600, "iat": now, "groups": ["g"]}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "unknown"})


def _provider(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "audience": AUDIENCE,
        "authNamePrefix": "slow",
        "authorizationClaim": "groups",
        "supportsHumanFlows": False,
    }


@pytest.fixture
def slow_issuer() -> Iterator[Issuer]:
    """An OpenID issuer on localhost that holds every answer until the test opens its gate (and
    publishes no keys)."""
    with tiny_issuer("/slow") as issuer:
        issuer.gate = threading.Event()
        try:
            yield issuer
        finally:
            issuer.gate.set()


def test_unreachable_issuer_is_a_startup_warning_and_logins_fail_with_18(make_server: ServerFactory) -> None:
    issuer = "http://localhost:9/nowhere"  # the discard port: connection refused
    server = make_server([_provider(issuer)], wait_for_keys=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not server.log_entries(7119501):
        time.sleep(0.05)
    [warning] = server.log_entries(7119501)
    assert warning["s"] == "W" and warning["attr"]["issuer"] == issuer
    assert server.client().admin.command("ping")["ok"] == 1.0
    client = server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": ScriptedCallback(_token(issuer))})
    with pytest.raises(OperationFailure) as info:
        client.admin.command("ping")
    assert info.value.code == 18
    [failure] = server.log_entries(20249)
    assert issuer in failure["attr"]["error"]


def test_slow_issuer_does_not_stall_other_connections(
    make_server: ServerFactory, slow_issuer: Issuer
) -> None:
    assert slow_issuer.gate is not None
    slow_issuer.gate.set()  # the server's start-up fetch of discovery and JWKS answers at once
    server = make_server([_provider(slow_issuer.issuer)])
    slow_issuer.gate.clear()
    asked = len(slow_issuer.requests)
    # A blocked event loop would hold a ping until the issuer answers: it then times out instead.
    other = server.client(socketTimeoutMS=10_000)
    other.admin.command("ping")
    results: dict[str, Any] = {}

    def slow_login() -> None:
        client = server.oidc_client(
            authMechanismProperties={"OIDC_CALLBACK": ScriptedCallback(_token(slow_issuer.issuer))}
        )
        try:
            client.admin.command("ping")
        except OperationFailure as exc:
            results["code"] = exc.code

    thread = threading.Thread(target=slow_login)
    thread.start()
    deadline = time.monotonic() + 20
    while len(slow_issuer.requests) == asked:  # the login now waits on the issuer (a just-in-time
        assert time.monotonic() < deadline, "the login never asked the issuer for its keys"
        time.sleep(0.02)  # JWKS refresh for its unknown kid)
    for _ in range(5):
        assert other.admin.command("ping")["ok"] == 1.0
    assert thread.is_alive() and "code" not in results, "the login finished without waiting for the issuer"
    slow_issuer.gate.set()
    thread.join(timeout=20)
    assert results["code"] == 18
    assert "Unknown JWT keyId" in server.log_entries(20249)[0]["attr"]["error"]


@pytest.fixture
def stranger_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    """A second kit IdP in its own state directory: its certificate chains to a different kit CA."""
    state = StateDir(tmp_path_factory.mktemp("stranger") / "state")
    start_idp(state, 0)
    try:
        yield state
    finally:
        stop_idp(state)


def test_an_https_issuer_whose_certificate_is_not_trusted_is_refused_with_the_servers_message(
    make_server: ServerFactory, idp: Idp, stranger_idp: StateDir
) -> None:
    record = idp_record(stranger_idp)
    assert record is not None
    kit = record.extra["issuers"]["kit"]
    assert kit["issuer"].startswith("https://localhost:")
    # This server trusts the kit CA of `idp`'s state directory, not the stranger's.
    running = make_server(
        [kit_provider(idp, issuer=kit["issuer"], audience=kit["audience"])], wait_for_keys=False
    )
    token = str(mint(stranger_idp, "lesson-app")["token"])
    client = running.oidc_client(authMechanismProperties={"OIDC_CALLBACK": ScriptedCallback(token)})
    with pytest.raises(OperationFailure) as info:
        client.test.command("ping")
    assert info.value.code == 18
    [failure] = [e["attr"] for e in running.log_entries(20249)]
    provider = running.server.config.oidc_providers[0]
    with pytest.raises(RuleFailure) as expected:
        keyset_for(provider.issuer, state=idp.state, allow_insecure_localhost=True).refresh()
    assert failure["error"] == expected.value.message
    assert failure["error"].startswith(
        f"OperationFailed: Failed to fetch the OpenID discovery document from {kit['issuer']}/"
    )
    assert "SSL certificate problem: unable to get local issuer certificate" in failure["error"]
    # The same token logs in to a server that trusts the stranger's kit CA.
    trusting = make_server(
        [kit_provider(idp, issuer=kit["issuer"], audience=kit["audience"])], state=stranger_idp
    )
    ok = trusting.oidc_client(authMechanismProperties={"OIDC_CALLBACK": ScriptedCallback(token)})
    assert ok.test.command("ping")["ok"] == 1.0
