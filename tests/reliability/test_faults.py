"""Faults in the middle of a session: the IdP dies, the server restarts or is killed, keys are
rotated and retired, a token expires under a long cursor. Real processes, real signals, real pymongo.
"""

from __future__ import annotations

import signal
import time
from typing import Any

import jwt
import pytest
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, OperationFailure

from wif_notebook import mongod
from wif_notebook.doctor import diagnose, rule_for_reason
from wif_notebook.idp.service import retire_key, rotate_keys

from .conftest import DB, Failures, FixedCallback, Kit, MintingCallback, wait_for


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_idp_killed_mid_session_keeps_cached_key_logins_and_a_new_key_fails_with_a_reason_the_doctor_names(
    kit: Kit,
) -> None:
    session = kit.oidc_client(MintingCallback(kit.state))
    session[DB].items.insert_one({"_id": "before"})
    cached_key_token = kit.token()
    rotate_keys(kit.state, "kit")  # the IdP now signs with a key mongod has not loaded (JWKSPollSecs 0)
    new_key_token = kit.token()
    assert _kid(new_key_token) != _kid(cached_key_token)

    kit.kill("idp")

    # The session that logged in keeps working, and new logins with a cached key still succeed.
    assert session[DB].items.find_one({"_id": "before"}) == {"_id": "before"}
    second = kit.oidc_client(FixedCallback(cached_key_token))
    assert second[DB].items.find_one({"_id": "before"}) == {"_id": "before"}

    # A token signed by the new key: mongod tries to fetch the JWKS just in time, cannot, answers 18.
    third = kit.oidc_client(FixedCallback(new_key_token))
    with pytest.raises(OperationFailure) as info:
        third[DB].items.find_one()
    assert info.value.code == 18
    reason = kit.mongod_log(20249)[-1]["attr"]["error"]
    assert "Failed to fetch the OpenID discovery document" in reason
    assert kit.info["issuers"]["kit"]["issuer"] in reason
    assert rule_for_reason(reason) == "key.kid"

    diagnosis = diagnose(new_key_token, state=kit.state, last_failure=info.value)
    assert not diagnosis.ok
    assert diagnosis.rule == "idp-down"
    assert any("wif idp start" in fix or "%wif_up" in fix for fix in diagnosis.fixes)


def _reads_and_writes_again(client: MongoClient[Any]) -> None:
    """The same client, after its server came back, reads and writes."""
    # Reads are retried by pymongo (retryReads) on a new, re-authenticated connection.
    client[DB].items.find_one()
    # A standalone has no retryable writes: the first write may see the dropped socket once.
    try:
        client[DB].items.insert_one({"_id": "after"})
    except AutoReconnect:
        client[DB].items.insert_one({"_id": "after"})
    assert client[DB].items.find_one({"_id": "after"}) == {"_id": "after"}


def test_restarted_server_is_reconnected_by_the_same_clients_with_data_intact(kit: Kit) -> None:
    callback = MintingCallback(kit.state)
    client = kit.oidc_client(callback)
    client[DB].items.insert_one({"_id": "before"})
    old_pid = kit.pid("mongod")

    kit.restart_mongod()
    assert kit.pid("mongod") != old_pid

    _reads_and_writes_again(client)
    assert client[DB].items.find_one({"_id": "before"}) == {"_id": "before"}, "data lost on restart"
    starts = [e for e in kit.mongod_log() if e["msg"] == "MongoDB starting"]
    assert len(starts) == 2
    restarted_at = starts[-1]["t"]["$date"]
    assert any(e["t"]["$date"] >= restarted_at for e in kit.mongod_log(20250))


def test_server_killed_with_sigkill_comes_back_and_clients_reconnect(kit: Kit) -> None:
    client = kit.oidc_client(MintingCallback(kit.state))
    client[DB].items.insert_one({"_id": "before"})

    kit.kill("mongod", signal.SIGKILL)
    mongod.start_mongod(kit.state, kit.mongod_port)  # the stale record does not stop a new start

    _reads_and_writes_again(client)


def test_no_acknowledged_write_is_lost_when_the_server_is_killed_with_sigkill(kit: Kit) -> None:
    client = kit.oidc_client(MintingCallback(kit.state))
    coll = client[DB].durable
    acknowledged = []
    for i in range(200):
        assert coll.insert_one({"_id": i, "payload": "x" * 100}).acknowledged
        acknowledged.append(i)
    coll.update_one({"_id": 0}, {"$set": {"updated": True}})

    kit.kill("mongod", signal.SIGKILL)
    mongod.start_mongod(kit.state, kit.mongod_port)

    fresh = kit.oidc_client(MintingCallback(kit.state))
    ids = sorted(doc["_id"] for doc in fresh[DB].durable.find({}, {"_id": 1}))
    assert ids == acknowledged
    updated = fresh[DB].durable.find_one({"_id": 0})
    assert updated is not None and updated["updated"] is True


def test_rotated_and_retired_key_gives_391_then_pymongo_reauthenticates_with_a_new_token(kit: Kit) -> None:
    callback = MintingCallback(kit.state)
    listener = Failures()
    client = kit.oidc_client(callback, event_listeners=[listener])
    client[DB].items.insert_one({"_id": "x"})
    assert callback.calls == 1
    old_kid = _kid(kit.token())

    rotate_keys(kit.state, "kit")
    retire_key(kit.state, "kit", old_kid)
    # What mongod's JWKSetRefreshJob does every JWKSPollSecs (0 in the kit's mongod.conf): refresh now.
    kit.admin().admin.command("oidcRefreshKeys")

    assert client[DB].items.find_one({"_id": "x"}) == {"_id": "x"}
    assert ("find", 391) in listener.failures
    assert callback.calls == 2
    invalidated = kit.mongod_log(7119503)
    assert invalidated and old_kid in invalidated[-1]["attr"]["keyIds"]


def test_token_expiring_during_a_long_cursor_reauthenticates_on_get_more_and_the_cursor_continues(
    kit: Kit,
) -> None:
    callback = MintingCallback(kit.state, lifetime=3)
    listener = Failures()
    client = kit.oidc_client(callback, event_listeners=[listener])
    coll = client[DB].cursor
    coll.insert_many([{"_id": i} for i in range(30)])
    first_exp = time.time() + 3

    cursor = coll.find({}, batch_size=5)
    seen = [next(cursor)["_id"] for _ in range(5)]
    wait_for(lambda: time.time() > first_exp + 1.1, timeout=10, what="the first token to expire")
    seen += [doc["_id"] for doc in cursor]

    assert seen == list(range(30))
    assert ("getMore", 391) in listener.failures
    assert callback.calls >= 2
