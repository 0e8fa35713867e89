"""The drivers' MONGODB-OIDC human-flow prose tests (reference §15.2) against SINGLE and MULTI servers.

The servers are configured like drivers-evergreen-tools' two listeners (reference §7.4), with the
kit IdP's ``kit`` issuer as provider 1 (``test1``) and its ``azure`` issuer as provider 2 (``test2``):

- SINGLE: provider 2 has ``supportsHumanFlows:false`` and no ``matchPattern``.
- MULTI: provider 2 is a human-flow provider too, with its own ``matchPattern``.

The kit IdP cannot mint ``test_user1@${OIDC_DOMAIN}``-style subjects, so the users are kit principals
and the ``matchPattern`` values match their subjects instead: ``test_user1`` is ``lesson-app`` (kit
issuer), ``test_user2`` is ``reports-sp`` (azure issuer, ``sub`` = its object id) and
``test_machine`` is ``inventory-vm`` (azure issuer). The OIDC_HUMAN_CALLBACK asks the IdP's
``/_wif/mint`` for a fresh token of that principal; ``authorizationClaim`` is ``groups`` on both
(the kit's tokens carry group claims there, not ``foo``/``bar``).

Covered: 1.1–1.8, 3.1, 3.2, 4.1 (1.7 as pymongo implements it: see the test). Not here:
- 2.1 (callback inputs) and 2.2 (missing data) are driver-only checks already made by
  test_oidc_login.py and test_prose_machine.py.
- 2.3, 4.2, 4.3, 4.4 need refresh tokens: the kit IdP has no refresh_token grant, so a human
  callback never has one to return and these tests are not applicable.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback
from pymongo.errors import AutoReconnect, ConfigurationError, OperationFailure

from wif_notebook.idp.service import idp_record

from .conftest import Events, Idp, MintingCallback, RunningServer, ServerFactory, fail_command, retried_once

APP = "prose-human"
CLIENT_ID = "kit-notebook"
USER1 = "lesson-app"  # kit issuer, groups ["lesson-readers"]
USER2 = "reports-sp"  # azure issuer
MACHINE = "inventory-vm"  # azure issuer, only reachable through the machine-only provider on SINGLE
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


def _claims(token: str) -> dict[str, Any]:
    """The payload of a kit token (read only to learn a principal's subject and groups)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


class PrincipalCallback(MintingCallback):
    """An OIDC_HUMAN_CALLBACK minting tokens for one principal; remembers its subject."""

    def __init__(self, idp: Idp, principal: str) -> None:
        super().__init__(idp, principal)
        self.subject = str(_claims(idp.token(principal))["sub"])  # whatever the IdP puts in ``sub``


def _azure(idp: Idp) -> dict[str, str]:
    record = idp_record(idp.state)
    assert record is not None
    azure: dict[str, str] = record.extra["issuers"]["azure"]
    return azure


def _providers(idp: Idp, *, multi: bool, user2_subject: str) -> list[dict[str, Any]]:
    azure = _azure(idp)
    provider1 = {
        "authNamePrefix": "test1",
        "issuer": idp.issuer,
        "clientId": CLIENT_ID,
        "audience": idp.audience,
        "authorizationClaim": "groups",
        "requestScopes": ["fizz", "buzz"],
        "matchPattern": USER1,
    }
    provider2: dict[str, Any] = {
        "authNamePrefix": "test2",
        "issuer": azure["issuer"],
        "clientId": CLIENT_ID,
        "audience": azure["audience"],
        "authorizationClaim": "groups",
        "requestScopes": ["foo", "bar"],
    }
    if multi:
        provider2["matchPattern"] = user2_subject
    else:
        provider2["supportsHumanFlows"] = False
    return [provider1, provider2]


def _start(make_server: ServerFactory, idp: Idp, *, multi: bool) -> RunningServer:
    """A SINGLE or MULTI server with roles for every group the three users carry (§7.4 setup_oidc.js)."""
    user2 = PrincipalCallback(idp, USER2).subject
    server = make_server(
        _providers(idp, multi=multi, user2_subject=user2), name="multi" if multi else "single"
    )
    admin = server.admin_client()
    roles = {"test1/lesson-readers"}
    for principal in (USER2, MACHINE):
        roles |= {f"test2/{g}" for g in _claims(idp.token(principal))["groups"]}
    for role in sorted(roles):
        admin.admin.command("createRole", role, privileges=[], roles=[{"role": "readWrite", "db": "test"}])
    return server


def _human_client(
    server: RunningServer, callback: OIDCCallback, *, username: str | None = None, **kwargs: Any
) -> MongoClient[Any]:
    if username is not None:
        kwargs["username"] = username
    return server.oidc_client(
        authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback, "ALLOWED_HOSTS": ALLOWED_HOSTS},
        appName=APP,
        **kwargs,
    )


def _user(client: MongoClient[Any]) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = client.admin.command("connectionStatus")["authInfo"]["authenticatedUsers"]
    return users


@pytest.fixture
def single(make_server: ServerFactory, idp: Idp) -> RunningServer:
    return _start(make_server, idp, multi=False)


@pytest.fixture
def multi(make_server: ServerFactory, idp: Idp) -> RunningServer:
    return _start(make_server, idp, multi=True)


# -- 1. OIDC human callback authentication ------------------------------------------------------------
def test_1_1_single_principal_implicit_username(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(single, callback)
    client.test.test.find_one()
    assert callback.calls == 1
    info = callback.contexts[0].idp_info
    assert info is not None
    assert (info.issuer, info.clientId, info.requestScopes) == (idp.issuer, CLIENT_ID, ["fizz", "buzz"])
    assert _user(client) == [{"user": f"test1/{USER1}", "db": "$external"}]


def test_1_2_single_principal_explicit_username(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(single, callback, username=USER1)
    client.test.test.find_one()
    assert callback.contexts[0].username == USER1
    assert _user(client) == [{"user": f"test1/{USER1}", "db": "$external"}]


def test_1_3_multiple_principals_user1(multi: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(multi, callback, username=USER1)
    client.test.test.find_one()
    info = callback.contexts[0].idp_info
    assert info is not None and info.issuer == idp.issuer
    assert _user(client) == [{"user": f"test1/{USER1}", "db": "$external"}]


def test_1_4_multiple_principals_user2(multi: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER2)
    client = _human_client(multi, callback, username=callback.subject)
    client.test.test.find_one()
    info = callback.contexts[0].idp_info
    assert info is not None
    assert (info.issuer, info.clientId, info.requestScopes) == (
        _azure(idp)["issuer"],
        CLIENT_ID,
        ["foo", "bar"],
    )
    assert _user(client) == [{"user": f"test2/{callback.subject}", "db": "$external"}]


def test_1_5_multiple_principals_no_username_fails_with_18(multi: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(multi, callback)
    with pytest.raises(OperationFailure) as info:
        client.test.test.find_one()
    assert info.value.code == 18
    assert callback.calls == 0  # the server refused step 1: two providers support human flows
    reasons = [e["attr"]["error"] for e in multi.log_entries(20249)]
    assert any("multiple providers are known" in r for r in reasons), reasons


def test_1_6_allowed_hosts_blocked(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    empty = single.oidc_client(
        authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback, "ALLOWED_HOSTS": []}, appName=APP
    )
    with pytest.raises(ConfigurationError, match="Refusing to connect to 127.0.0.1"):
        empty.test.test.find_one()
    # A query option mentioning an allowed host must not make localhost allowed.
    with pytest.warns(UserWarning, match="Unknown option"):
        tricked: MongoClient[Any] = MongoClient(
            f"mongodb://localhost:{single.port}/?authMechanism=MONGODB-OIDC&ignored=example.com",
            authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback, "ALLOWED_HOSTS": ["example.com"]},
            directConnection=True,
            retryReads=False,
            serverSelectionTimeoutMS=5000,
        )
    single.clients.append(tricked)
    with pytest.raises(ConfigurationError, match="Refusing to connect to localhost"):
        tricked.test.test.find_one()
    assert callback.calls == 0


def test_1_7_allowed_hosts_in_the_connection_string_is_rejected(single: RunningServer, idp: Idp) -> None:
    # pymongo 4.x refuses ALLOWED_HOSTS in a URI with a warning and drops it (the spec asks for a
    # configuration error; pymongo's own test gets one only from resolving mongodb+srv://example.com).
    # What a user sees: the URI's empty list is not applied, so 127.0.0.1 stays allowed.
    callback = PrincipalCallback(idp, USER1)
    with pytest.warns(UserWarning, match="ALLOWED_HOSTS is not a supported auth mechanism property"):
        client: MongoClient[Any] = MongoClient(
            f"mongodb://127.0.0.1:{single.port}/?authMechanism=MONGODB-OIDC"
            "&authMechanismProperties=ALLOWED_HOSTS:%5B%5D",
            authMechanismProperties={"OIDC_HUMAN_CALLBACK": callback},
            directConnection=True,
            retryReads=False,
            serverSelectionTimeoutMS=5000,
        )
    single.clients.append(client)
    client.test.test.find_one()
    assert callback.calls == 1


def test_1_8_machine_idp_with_human_callback(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, MACHINE)
    client = _human_client(single, callback, username=callback.subject)
    client.test.test.find_one()
    info = callback.contexts[0].idp_info
    assert info is not None and info.issuer == _azure(idp)["issuer"]
    assert info.clientId is None  # provider 2 on SINGLE has supportsHumanFlows:false
    assert _user(client) == [{"user": f"test2/{callback.subject}", "db": "$external"}]


# -- 3. speculative authentication ----------------------------------------------------------------------
def test_3_1_speculative_authentication_uses_the_cached_token(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(single, callback)
    client.test.test.find_one()  # caches the access token
    admin = single.admin_client()
    fail_command(admin, APP, "find", close_connection=True)
    with pytest.raises(AutoReconnect):
        client.test.test.find_one()
    fail_command(admin, APP, "saslStart", times=2, error_code=18)
    # The new connection authenticates inside hello (speculativeAuthenticate), never hitting saslStart.
    client.test.test.find_one()
    assert callback.calls == 1
    # Turning the failpoint off reports how often it fired: the saslStart failpoint was never hit.
    assert admin.admin.command("configureFailPoint", "failCommand", mode="off")["count"] == 0


def test_3_2_speculative_authentication_without_a_cached_token_fails(single: RunningServer, idp: Idp) -> None:
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(single, callback)
    fail_command(single.admin_client(), APP, "saslStart", times=2, error_code=18)
    with pytest.raises(OperationFailure) as info:
        client.test.test.find_one()
    assert info.value.code == 18
    assert callback.calls == 0


# -- 4. reauthentication --------------------------------------------------------------------------------
def test_4_1_reauthentication_succeeds(single: RunningServer, idp: Idp) -> None:
    events = Events()
    callback = PrincipalCallback(idp, USER1)
    client = _human_client(single, callback, event_listeners=[events])
    client.test.test.find_one()
    events.clear()
    fail_command(single.admin_client(), APP, "find", error_code=391)
    client.test.test.find_one()
    assert events.of("find") == retried_once("find")
    assert [f["code"] for f in events.failures] == [391]
    assert callback.calls == 2
