"""The drivers' MONGODB-OIDC machine prose tests 1.1–4.5 (reference §15.2), against the test server.

Every client uses ``retryReads=false`` and a callback that asks the kit's IdP for a token; failpoints
are set by the SCRAM administrator and scoped by appName.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.auth_oidc_shared import _get_authenticator
from pymongo.errors import ConfigurationError, OperationFailure
from pymongo.synchronous.auth_oidc import _OIDCAuthenticator

from .conftest import Events, Idp, MintingCallback, RunningServer, ScriptedCallback, fail_command

APP = "prose"


def _client(server: RunningServer, callback: OIDCCallback, **kwargs: Any) -> MongoClient[Any]:
    return server.oidc_client(authMechanismProperties={"OIDC_CALLBACK": callback}, appName=APP, **kwargs)


def _authenticator(client: MongoClient[Any], server: RunningServer) -> Any:
    credentials = client.options.pool_options._credentials
    assert credentials is not None
    return _get_authenticator(credentials, ("127.0.0.1", server.port), _OIDCAuthenticator)


# -- 1. callback authentication ---------------------------------------------------------------------
def test_1_1_callback_is_called_once_for_a_find(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    client.test.coll.find_one()
    assert callback.calls == 1


def test_1_2_ten_threads_share_one_callback_call(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(100):
                client.test.coll.find_one()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert callback.calls == 1


# -- 2. callback validation ---------------------------------------------------------------------------
def test_2_1_callback_receives_version_1_and_a_timeout(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    _client(oidc_server, callback).test.coll.find_one()
    context = callback.contexts[0]
    assert context.version == 1 and context.timeout_seconds and context.timeout_seconds > 0
    assert not context.username and context.idp_info is None


def test_2_2_callback_returning_null_fails_the_find(oidc_server: RunningServer) -> None:
    class Null(OIDCCallback):
        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            return None  # type: ignore[return-value]

    with pytest.raises((ValueError, TypeError)):
        _client(oidc_server, Null()).test.coll.find_one()


def test_2_3_callback_result_missing_fields_fails_the_find(oidc_server: RunningServer) -> None:
    class Incomplete(OIDCCallback):
        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            return {"foo": "bar"}  # type: ignore[return-value]

    with pytest.raises((ValueError, TypeError)):
        _client(oidc_server, Incomplete()).test.coll.find_one()


def test_2_4_callback_together_with_environment_is_a_configuration_error(idp: Idp) -> None:
    with pytest.raises(ConfigurationError):
        MongoClient(
            "mongodb://127.0.0.1:1/?authMechanism=MONGODB-OIDC",
            authMechanismProperties={"OIDC_CALLBACK": MintingCallback(idp), "ENVIRONMENT": "test"},
            connect=False,
        )


def test_2_5_azure_with_allowed_hosts_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        MongoClient(
            "mongodb://127.0.0.1:1/?authMechanism=MONGODB-OIDC",
            authMechanismProperties={"ENVIRONMENT": "azure", "TOKEN_RESOURCE": "x", "ALLOWED_HOSTS": []},
            connect=False,
        )


# -- 3. authentication failure ------------------------------------------------------------------------
def test_3_1_poisoned_cache_is_replaced_after_an_18(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    _authenticator(client, oidc_server).access_token = "bad"
    client.test.coll.find_one()
    assert callback.calls == 1
    # "bad" fails once inside hello (speculative) and once in saslStart; both only in the log.
    failures = [(e["attr"]["speculative"], e["attr"]["error"]) for e in oidc_server.log_entries(20249)]
    assert failures == [(True, "Location7095400: Unknown format of token")] + [
        (False, "Location7095400: Unknown format of token")
    ]


def test_3_2_callback_that_always_returns_an_invalid_token_fails_after_one_call(
    oidc_server: RunningServer, idp: Idp
) -> None:
    callback = ScriptedCallback("bad")
    with pytest.raises(OperationFailure) as info:
        _client(oidc_server, callback).test.coll.find_one()
    assert info.value.code == 18
    assert callback.calls == 1


def test_3_3_other_sasl_errors_keep_the_cached_token(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    fail_command(oidc_server.admin_client(), APP, "saslStart", error_code=20)
    with pytest.raises(OperationFailure) as info:
        client.test.coll.find_one()
    assert info.value.code == 20
    client.test.coll.find_one()
    assert callback.calls == 1


# -- 4. reauthentication ------------------------------------------------------------------------------
def test_4_1_reauthentication_succeeds(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    fail_command(oidc_server.admin_client(), APP, "find", error_code=391)
    client.test.coll.find_one()
    assert callback.calls == 2


@pytest.mark.parametrize("operation", ["find", "insert"])
def test_4_2_and_4_3_read_and_write_fail_when_reauthentication_fails(
    oidc_server: RunningServer, idp: Idp, operation: str
) -> None:
    callback = ScriptedCallback(idp.token("lesson-app"), "bad")
    client = _client(oidc_server, callback)
    client.test.coll.find_one()
    fail_command(oidc_server.admin_client(), APP, operation, error_code=391)
    with pytest.raises(OperationFailure) as info:
        if operation == "find":
            client.test.coll.find_one()
        else:
            client.test.coll.insert_one({"x": 1})
    assert info.value.code == 18
    assert callback.calls == 2


def test_4_4_speculative_authentication_is_used_and_reauthentication_runs_sasl_start(
    oidc_server: RunningServer, idp: Idp
) -> None:
    events = Events()
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback, event_listeners=[events])
    _authenticator(client, oidc_server).access_token = idp.token("lesson-app")
    client.test.coll.insert_one({"x": 1})
    assert callback.calls == 0
    assert events.of("saslStart") == []
    assert [e for e in oidc_server.log_entries(20250) if e["attr"]["mechanism"] == "MONGODB-OIDC"][0]["attr"][
        "speculative"
    ] is True
    fail_command(oidc_server.admin_client(), APP, "insert", error_code=391)
    client.test.coll.insert_one({"x": 2})
    assert callback.calls == 1
    assert ("started", "saslStart") in events.of("saslStart")


def test_4_5_reauthentication_succeeds_inside_a_session(oidc_server: RunningServer, idp: Idp) -> None:
    callback = MintingCallback(idp)
    client = _client(oidc_server, callback)
    fail_command(oidc_server.admin_client(), APP, "find", error_code=391)
    with client.start_session() as session:
        assert client.test.coll.find_one({}, session=session) is None
    assert callback.calls == 2
