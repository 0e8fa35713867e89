"""What the logs say about failures and about who fetched what (for the doctor and the flow diagrams)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from wif_notebook import flow

from .conftest import DB, FixedCallback, Kit, MintingCallback, wait_for


def test_failed_commands_are_logged_with_their_codes_13_18_and_391(kit: Kit) -> None:
    anonymous: MongoClient[Any] = MongoClient(
        f"mongodb://127.0.0.1:{kit.mongod_port}/?directConnection=true", serverSelectionTimeoutMS=10_000
    )
    kit.clients.append(anonymous)
    with pytest.raises(OperationFailure) as unauthorized:
        anonymous[DB].items.find_one()
    assert unauthorized.value.code == 13

    token = kit.token()
    broken = kit.oidc_client(FixedCallback(token[:-6] + "AAAAAA"))
    with pytest.raises(OperationFailure) as refused:
        broken[DB].items.find_one()
    assert refused.value.code == 18

    expiring = kit.oidc_client(MintingCallback(kit.state, lifetime=2))
    expiring[DB].items.insert_one({"_id": "e"})
    time.sleep(3.2)
    assert expiring[DB].items.find_one({"_id": "e"}) == {"_id": "e"}  # 391, then reauthentication

    failures = kit.mongod_log(51803)
    seen = {
        (e["attr"]["command"] and next(iter(e["attr"]["command"])), e["attr"]["errCode"]) for e in failures
    }
    assert ("find", 13) in seen
    assert ("saslStart", 18) in seen
    assert ("find", 391) in seen
    for entry in failures:
        attr = entry["attr"]
        assert entry["c"] == "COMMAND" and entry["msg"] == "Slow query"
        assert attr["ok"] == 0 and attr["errName"] and attr["errMsg"]
        assert "eyJ" not in str(entry)
    reauth = next(e for e in failures if e["attr"]["errCode"] == 391)
    assert reauth["attr"]["errName"] == "ReauthenticationRequired"
    assert reauth["attr"]["ns"] == f"{DB}.items"


def test_the_servers_key_fetches_carry_its_user_agent_and_the_idp_logs_it(kit: Kit) -> None:
    from wif_notebook import __version__

    kit.oidc_client(MintingCallback(kit.state))[DB].items.find_one()
    agent = f"wif-notebook-test-mongod/{__version__}"
    entries = wait_for(
        lambda: [e for e in kit.idp_log() if e.get("user_agent") == agent], what="the server's JWKS fetch"
    )
    paths = {e["path"] for e in entries}
    assert any(p.endswith("/.well-known/openid-configuration") for p in paths)
    assert any("jwks" in p for p in paths)
    minted = [e for e in kit.idp_log() if e["path"] == "/_wif/mint"]
    assert minted and all(e["user_agent"] != agent for e in minted)

    messages = flow.collect(kit.state).messages
    discovery = [m for m in messages if m.label.startswith("GET discovery") and "User-Agent" in m.detail]
    assert discovery and all(m.sender == "mongod" for m in discovery)
