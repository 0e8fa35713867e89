"""MONGODB-OIDC logins with real pymongo, tokens from the kit's IdP (reference §3–§5, §11)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.errors import OperationFailure

from wif_notebook.idp.faults import FAULTS
from wif_notebook.idp.service import idp_record
from wif_notebook.oidc import RuleFailure, keyset_for, select_provider_for_token, validate_token

from .conftest import (
    AUTH_PREFIX,
    HUMAN_CLIENT_ID,
    Events,
    Idp,
    MintingCallback,
    RunningServer,
    ScriptedCallback,
    ServerFactory,
    kit_provider,
    retried_once,
)


def _auth_failures(server: RunningServer) -> list[dict]:
    return [e["attr"] for e in server.log_entries(20249)]


def test_environment_test_login_runs_find_as_the_token_user(
    oidc_server: RunningServer, token_file: Path
) -> None:
    client = oidc_server.oidc_client(authMechanismProperties={"ENVIRONMENT": "test"})
    assert list(client.test.coll.find({})) == []
    status = client.test.command("connectionStatus")
    assert status["authInfo"]["authenticatedUsers"] == [{"user": "kit/lesson-app", "db": "$external"}]
    assert {"role": "kit/lesson-readers", "db": "admin"} in status["authInfo"]["authenticatedUserRoles"]


def test_success_is_logged_with_log_claims_and_never_the_token(
    oidc_server: RunningServer, token_file: Path
) -> None:
    client = oidc_server.oidc_client(authMechanismProperties={"ENVIRONMENT": "test"})
    client.test.command("ping")
    [success] = [e for e in oidc_server.log_entries(20250) if e["attr"]["mechanism"] == "MONGODB-OIDC"]
    assert success["msg"] == "Authentication succeeded" and success["c"] == "ACCESS"
    assert success["attr"]["principalName"] == "kit/lesson-app"
    assert success["attr"]["authenticationDatabase"] == "$external"
    claims = success["attr"]["extraInfo"]["claims"]
    assert set(claims) == {"iss", "sub", "groups"} and claims["sub"] == "lesson-app"
    token = token_file.read_text()
    assert token not in oidc_server.log_path.read_text()


def test_oidc_callback_login(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = oidc_server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": callback})
    client.test.coll.insert_one({"_id": 1})
    assert client.test.coll.find_one() == {"_id": 1}
    assert callback.calls == 1
    assert callback.contexts[0].idp_info is None


def test_human_flow_gets_issuer_client_id_and_scopes_then_logs_in(
    oidc_server: RunningServer, idp: Idp
) -> None:
    callback = MintingCallback(idp)
    client = oidc_server.oidc_client(
        username="lesson-app",
        authMechanismProperties={
            "OIDC_HUMAN_CALLBACK": callback,
            "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        },
    )
    client.test.command("ping")
    assert callback.calls == 1
    info = callback.contexts[0].idp_info
    assert info is not None
    assert (info.issuer, info.clientId, info.requestScopes) == (idp.issuer, HUMAN_CLIENT_ID, ["openid"])
    assert callback.contexts[0].username == "lesson-app"


def test_human_flow_with_another_principal_than_the_hint_fails_with_18(
    oidc_server: RunningServer, idp: Idp
) -> None:
    callback = MintingCallback(idp, principal="billing-api")
    client = oidc_server.oidc_client(
        username="lesson-app",
        authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback, "ALLOWED_HOSTS": ["127.0.0.1"]},
    )
    with pytest.raises(OperationFailure) as info:
        client.test.command("ping")
    assert info.value.code == 18
    reasons = [a["error"] for a in _auth_failures(oidc_server)]
    assert "BadValue: Principal name changed between step1 'lesson-app' and step2 'billing-api'" in reasons


def test_machine_only_provider_answers_idp_info_without_client_id(
    make_server: ServerFactory, idp: Idp
) -> None:
    server = make_server([kit_provider(idp, clientId=None, supportsHumanFlows=False, requestScopes=None)])
    server.admin_client().admin.command(
        "createRole", "kit/lesson-readers", privileges=[], roles=[{"role": "read", "db": "test"}]
    )
    callback = MintingCallback(idp)
    client = server.oidc_client(
        username="lesson-app",
        authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback, "ALLOWED_HOSTS": ["127.0.0.1"]},
    )
    client.test.command("ping")
    info = callback.contexts[0].idp_info
    assert info is not None and info.issuer == idp.issuer
    assert info.clientId is None and info.requestScopes is None


def _rule_book_reason(server: RunningServer, token: str) -> str:
    """What the rule book says about ``token`` for this server's providers (its own key cache)."""
    providers = server.server.config.oidc_providers
    try:
        provider = select_provider_for_token(providers, token)
        keys = keyset_for(provider.issuer, state=server.server.state, allow_insecure_localhost=True)
        validate_token(token, provider, keys)
    except RuleFailure as failure:
        return failure.message
    raise AssertionError("the rule book accepts this token")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_bad_token_is_rejected_with_code_18_and_the_reason_is_logged(
    oidc_server: RunningServer, idp: Idp, fault: str
) -> None:
    token = idp.token("lesson-app", fault=fault)
    client = oidc_server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": ScriptedCallback(token)})
    with pytest.raises(OperationFailure) as info:
        client.test.command("ping")
    assert info.value.code == 18
    assert info.value.details is not None
    assert info.value.details["errmsg"] == "Authentication failed."
    assert info.value.details["codeName"] == "AuthenticationFailed"
    [failure] = _auth_failures(oidc_server)
    assert failure["mechanism"] == "MONGODB-OIDC" and failure["speculative"] is False
    assert failure["error"] == _rule_book_reason(oidc_server, token)
    assert token not in oidc_server.log_path.read_text()


def test_expired_session_gets_391_and_pymongo_reauthenticates_transparently(
    oidc_server: RunningServer, idp: Idp, events: Events
) -> None:
    callback = MintingCallback(idp, lifetime=2)
    client = oidc_server.oidc_client(
        authMechanismProperties={"OIDC_CALLBACK": callback}, event_listeners=[events]
    )
    client.test.coll.insert_one({"_id": "before"})
    time.sleep(2.2)
    assert client.test.coll.find_one({"_id": "before"}) == {"_id": "before"}
    assert callback.calls == 2
    assert events.of("find") == retried_once("find")
    [failure] = events.failures
    assert failure["code"] == 391 and failure["codeName"] == "ReauthenticationRequired"
    assert failure["errmsg"] == (
        "Command find requires reauthentication since the current authorization session has expired. "
        "Please re-auth."
    )


def test_commands_before_authentication_fail_with_13(oidc_server: RunningServer) -> None:
    client = oidc_server.client()
    with pytest.raises(OperationFailure) as info:
        client.test.coll.find_one()
    assert info.value.code == 13
    assert str(info.value.details and info.value.details["errmsg"]) == "Command find requires authentication"
    assert client.admin.command("ping")["ok"] == 1.0  # ping needs no authentication


def test_external_user_must_exist_without_authorization_claim(make_server: ServerFactory, idp: Idp) -> None:
    server = make_server([kit_provider(idp, useAuthorizationClaim=False, authorizationClaim=None)])
    callback = MintingCallback(idp)
    client = server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": callback})
    with pytest.raises(OperationFailure) as info:
        client.test.command("ping")
    assert info.value.code == 18
    assert 'UserNotFound: Could not find user "kit/lesson-app" for db "$external"' in [
        a["error"] for a in _auth_failures(server)
    ]
    admin = server.admin_client()
    admin["$external"].command("createUser", "kit/lesson-app", roles=[{"role": "read", "db": "test"}])
    client2 = server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": MintingCallback(idp)})
    assert client2.test.coll.find_one() is None


def test_key_rotation_that_retires_the_signing_key_forces_reauthentication(
    oidc_server: RunningServer, idp: Idp, events: Events
) -> None:
    callback = MintingCallback(idp)
    client = oidc_server.oidc_client(
        authMechanismProperties={"OIDC_CALLBACK": callback}, event_listeners=[events]
    )
    client.test.coll.insert_one({"_id": 1})
    session_users = [
        u for c in oidc_server.server.connections.values() for u in c.users if u.mechanism == "MONGODB-OIDC"
    ]
    assert session_users and session_users[0].kid
    old_kid = session_users[0].kid
    idp.rotate()
    idp.retire(old_kid)
    oidc_server.admin_client().admin.command("oidcRefreshKeys")
    events.clear()
    assert client.test.coll.find_one() == {"_id": 1}
    assert callback.calls == 2
    assert events.of("find") == retried_once("find")
    assert any(e["msg"].startswith("Invalidating users") for e in oidc_server.log_entries())


def test_provider_prefix_names_the_user(oidc_server: RunningServer, idp: Idp) -> None:
    client = oidc_server.oidc_client(
        authMechanismProperties={"OIDC_CALLBACK": MintingCallback(idp, "billing-api")}
    )
    status = client.admin.command("connectionStatus")
    assert status["authInfo"]["authenticatedUsers"] == [
        {"user": f"{AUTH_PREFIX}/billing-api", "db": "$external"}
    ]


def test_human_flow_picks_the_provider_by_match_pattern_in_config_order(
    make_server: ServerFactory, idp: Idp
) -> None:
    issuers = idp_record(idp.state)
    assert issuers is not None
    azure = issuers.extra["issuers"]["azure"]
    server = make_server(
        [
            {
                "issuer": azure["issuer"],
                "audience": azure["audience"],
                "authNamePrefix": "entra",
                "clientId": "entra-notebook",
                "matchPattern": "@contoso\\.example$",
                "authorizationClaim": "groups",
            },
            # With two human-flow providers, each needs a matchPattern (mongod: "Required matchValue").
            kit_provider(idp, matchPattern="^[a-z-]+$"),
        ]
    )

    class Stop(Exception):
        pass

    seen: list[Any] = []

    class Capture(OIDCCallback):
        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            seen.append(context.idp_info)
            raise Stop()

    for username in ("ada@contoso.example", "lesson-app"):
        client = server.oidc_client(
            username=username,
            authMechanismProperties={"OIDC_HUMAN_CALLBACK": Capture(), "ALLOWED_HOSTS": ["127.0.0.1"]},
        )
        with pytest.raises(Stop):
            client.admin.command("ping")
    assert [(i.issuer, i.clientId) for i in seen] == [
        (azure["issuer"], "entra-notebook"),
        (idp.issuer, HUMAN_CLIENT_ID),
    ]
