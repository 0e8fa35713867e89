"""collect() after real logins: pymongo against the test mongod, tokens from the mock IdP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.errors import OperationFailure

from wif_notebook import flow, tokens

from .conftest import Kit


class Tokens(OIDCCallback):
    """Hands out the given tokens in order, then repeats the last (pymongo calls it on each (re)auth)."""

    def __init__(self, *values: str) -> None:
        self.values = list(values)
        self.calls = 0

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        self.calls += 1
        return OIDCCallbackResult(access_token=self.values[min(self.calls, len(self.values)) - 1])


def _login(kit: Kit, callback: Tokens, *, app: str) -> MongoClient[Any]:
    return MongoClient(
        kit.info["mongodb_uri"],
        authMechanismProperties={"OIDC_CALLBACK": callback},
        appName=app,
        serverSelectionTimeoutMS=5000,
    )


def test_a_good_and_a_bad_login_appear_with_saslstart_18_reason_and_jwks_fetch(kit: Kit) -> None:
    good = tokens.obtain("billing-api", state=kit.state)
    client = _login(kit, Tokens(good.token), app="flow-good")
    try:
        client.admin.command("ping")
    finally:
        client.close()
    bad = tokens.obtain("billing-api", fault="wrong-audience", state=kit.state)
    client = _login(kit, Tokens(bad.token), app="flow-bad")
    with pytest.raises(OperationFailure) as failure:
        client.admin.command("ping")
    client.close()
    assert failure.value.code == 18
    time.sleep(0.2)  # the log lines are flushed per line; give the writer a moment

    collected = flow.collect(kit.state, since=kit.started)
    labels = collected.labels()
    # the server fetched the issuer's keys (at startup) ...
    jwks = [m for m in collected if m.label == "GET JWKS (kit)"]
    assert jwks and jwks[0].sender == "mongod" and jwks[0].to == "idp"
    # ... the workload asked for its tokens ...
    assert "POST token (client_credentials)" in labels
    assert "mint token (fault wrong-audience)" in labels
    # ... then one saslStart succeeded and one was refused with 18 and the server's reason.
    assert labels.count("saslStart MONGODB-OIDC") == 2
    assert "authenticated as kit/billing-api" in labels
    refused = [m for m in collected if m.code == 18]
    assert len(refused) == 1
    assert "Unknown audience name 'api://some-other-service'" in refused[0].detail
    # The refusal is one arrow: the 20249 record's reason, named after the command its 51803 logged.
    assert refused[0].label == "saslStart → 18 AuthenticationFailed"
    assert "mongod.log ids 20249, 51803" in refused[0].detail
    assert labels.index("authenticated as kit/billing-api") < labels.index(refused[0].label)
    # Nothing in the flow carries a raw token.
    text = str(collected)
    assert good.token not in text and bad.token not in text


def test_an_expired_session_gets_a_logged_391_then_reauthenticates_and_a_forbidden_insert_gets_13(
    kit: Kit,
) -> None:
    short = tokens.obtain("lesson-app", lifetime=2, state=kit.state)
    fresh = tokens.obtain("lesson-app", state=kit.state)
    callback = Tokens(short.token, fresh.token)
    started = time.time()
    client = _login(kit, callback, app="flow-reauth")
    try:
        client.admin.command("ping")
        time.sleep(max(0.0, (short.expires_in or 0) + 0.3))
        # The insert gets 391 → callback → saslStart on the same connection → the driver retries
        # it, and the retry gets 13: lesson-app has no role on that database.
        with pytest.raises(OperationFailure) as forbidden:
            client["flow-forbidden"].things.insert_one({"_id": 1})
    finally:
        client.close()
    assert callback.calls == 2
    assert forbidden.value.code == 13
    time.sleep(0.2)
    collected = flow.collect(kit.state, since=started)
    labels = collected.labels()
    assert labels.count("authenticated as kit/lesson-app") == 2
    # The 391 is the server's logged reply (51803), shown once, not inferred from the second login.
    [reauth] = [m for m in collected if m.code == 391]
    assert (reauth.sender, reauth.to, reauth.kind) == ("mongod", "client", "error")
    assert reauth.label == "insert → 391 ReauthenticationRequired"
    assert "mongod.log id 51803" in reauth.detail and "inferred" not in reauth.detail
    [refused] = [m for m in collected if m.code == 13]
    assert (refused.sender, refused.to, refused.kind) == ("mongod", "client", "error")
    assert refused.label == "insert → 13 Unauthorized"
    assert "not authorized on flow-forbidden" in refused.detail and "mongod.log id 51803" in refused.detail
    conn = reauth.conn
    assert conn is not None and refused.conn == conn
    only = flow.collect(kit.state, since=started, conn=f"conn{conn}")
    seq = [m.label for m in only if m.conn == conn]
    first = seq.index("authenticated as kit/lesson-app")
    assert seq[first + 1 : first + 5] == [
        "insert → 391 ReauthenticationRequired",
        "saslStart MONGODB-OIDC",
        "authenticated as kit/lesson-app",
        "insert → 13 Unauthorized",
    ]
    # Both codes travel in the display payload too.
    payload = only._repr_mimebundle_()["application/vnd.wif.flow+json"]
    assert [(m["code"], m["kind"]) for m in payload["messages"] if m["code"] in (13, 391)] == [
        (391, "error"),
        (13, "error"),
    ]
    assert short.token not in str(collected) and fresh.token not in str(collected)
