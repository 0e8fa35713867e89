"""The drivers' unified test ``auth/tests/unified/mongodb-oidc-no-retry`` (reference §15.1), in pytest.

``failPointClient`` is the SCRAM administrator; ``client0`` logs in with ``ENVIRONMENT:test``
(``OIDC_TOKEN_FILE``), ``retryReads``/``retryWrites`` off, appName ``mongodb-oidc-no-retry``, and its
command events are recorded as the unified runner records them (sensitive commands unobserved).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, OperationFailure

from .conftest import Events, RunningServer, fail_command, retried_once

APP_NAME = "mongodb-oidc-no-retry"
SENSITIVE = {"hello", "isMaster", "ismaster", "saslStart", "saslContinue"}


@pytest.fixture
def runner(oidc_server: RunningServer, token_file: Path) -> tuple[MongoClient[Any], MongoClient[Any], Events]:
    admin = oidc_server.admin_client()
    # initialData: test.collName with no documents.
    admin.test.drop_collection("collName")
    admin.test.create_collection("collName")
    events = Events()
    client0 = oidc_server.oidc_client(
        authMechanismProperties={"ENVIRONMENT": "test"},
        retryWrites=False,
        appName=APP_NAME,
        event_listeners=[events],
    )
    return admin, client0, events


def _observed(events: Events) -> list[tuple[str, str]]:
    return [e for e in events.events if e[1] not in SENSITIVE and e[1] != "endSessions"]


def test_a_read_operation_should_succeed(runner: tuple[MongoClient[Any], MongoClient[Any], Events]) -> None:
    _, client0, events = runner
    assert list(client0.test.collName.find({})) == []
    assert _observed(events) == [("started", "find"), ("succeeded", "find")]


def test_a_write_operation_should_succeed(runner: tuple[MongoClient[Any], MongoClient[Any], Events]) -> None:
    _, client0, events = runner
    client0.test.collName.insert_one({"_id": 1, "x": 1})
    assert _observed(events) == [("started", "insert"), ("succeeded", "insert")]


def test_read_commands_should_reauthenticate_and_retry_when_a_reauthentication_required_error_happens(
    runner: tuple[MongoClient[Any], MongoClient[Any], Events],
) -> None:
    admin, client0, events = runner
    fail_command(admin, APP_NAME, "find", error_code=391)
    assert list(client0.test.collName.find({})) == []
    assert _observed(events) == retried_once("find")
    assert events.failures[0]["errmsg"] == "Failing command via 'failCommand' failpoint"


def test_write_commands_should_reauthenticate_and_retry_when_a_reauthentication_required_error_happens(
    runner: tuple[MongoClient[Any], MongoClient[Any], Events],
) -> None:
    admin, client0, events = runner
    fail_command(admin, APP_NAME, "insert", error_code=391)
    client0.test.collName.insert_one({"_id": 1, "x": 1})
    assert _observed(events) == retried_once("insert")


def test_handshake_with_cached_token_should_use_speculative_authentication(
    runner: tuple[MongoClient[Any], MongoClient[Any], Events], oidc_server: RunningServer
) -> None:
    admin, client0, events = runner
    fail_command(admin, APP_NAME, "insert", close_connection=True)
    with pytest.raises(AutoReconnect):
        client0.test.collName.insert_one({"_id": 1, "x": 1})
    fail_command(admin, APP_NAME, "saslStart", error_code=18)
    client0.test.collName.insert_one({"_id": 2, "x": 2})
    assert _observed(events) == retried_once("insert")
    speculative = [
        e
        for e in oidc_server.log_entries(20250)
        if e["attr"]["speculative"] and e["attr"]["mechanism"] == "MONGODB-OIDC"
    ]
    assert len(speculative) == 1
    # The saslStart failpoint was never entered: turning it off reports 0 activations.
    assert admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})["count"] == 0


def test_handshake_without_cached_token_should_not_use_speculative_authentication(
    runner: tuple[MongoClient[Any], MongoClient[Any], Events],
) -> None:
    admin, client0, _ = runner
    fail_command(admin, APP_NAME, "saslStart", error_code=18)
    with pytest.raises(OperationFailure) as info:
        client0.test.collName.insert_one({"_id": 1, "x": 1})
    assert info.value.code == 18


def test_authentication_mechanisms_are_visible_to_the_runner(
    runner: tuple[MongoClient[Any], MongoClient[Any], Events],
) -> None:
    admin, _, _ = runner
    params = admin.admin.command("getParameter", "*")
    assert "MONGODB-OIDC" in params["authenticationMechanisms"]
    assert params["enableTestCommands"] is True
    assert admin.admin.command("buildInfo")["versionArray"][:2] == [7, 0]
