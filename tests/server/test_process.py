"""The test mongod as a real process: ``python -m wif_notebook.server --state-dir D --config mongod.conf``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _support.logs import json_lines
from data.conftest import mongod_conf
from pymongo import MongoClient

from wif_notebook import services
from wif_notebook.errors import ServiceError
from wif_notebook.stack import administrator_uri
from wif_notebook.state import StateDir

from .conftest import Idp, kit_provider

MODULE = "wif_notebook.server"


def test_server_process_announces_itself_serves_and_stops_cleanly(
    state: StateDir, idp: Idp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This server's state directory is not the IdP's, so it does not trust that IdP's kit CA: it
    # uses the plain-http form of the issuer (enableTestCommands), and tokens in that form.
    conf = mongod_conf(state, [kit_provider(idp, issuer=idp.http_issuer)])
    record = services.start(state, "mongod", MODULE, ["--config", str(conf)])
    try:
        extra = record.extra
        assert extra["kind"] == "test-server" and extra["version"].startswith("7.0.")
        assert extra["mongodb_uri"] == f"mongodb://127.0.0.1:{record.port}/?directConnection=true"
        assert "authMechanism=MONGODB-OIDC" in extra["oidc_uri"]
        assert (state.path / "admin.json").stat().st_mode & 0o777 == 0o600
        assert oct(state.record_path("mongod").stat().st_mode & 0o777) == oct(0o600)

        admin: MongoClient[dict[str, Any]]
        assert "admin_uri" not in extra, "the administrator's password stays in admin.json alone"
        with MongoClient(administrator_uri(state), serverSelectionTimeoutMS=5000) as admin:
            opts = admin.admin.command("getCmdLineOpts")
            assert opts["parsed"]["config"] == str(conf)
            assert opts["parsed"]["security"] == {"authorization": "enabled"}
            admin.admin.command(
                "createRole", "kit/lesson-readers", privileges=[], roles=[{"role": "read", "db": "test"}]
            )
        token_path = tmp_path / "token"
        token_path.write_text(idp.token(issuer_scheme="http"))
        monkeypatch.setenv("OIDC_TOKEN_FILE", str(token_path))
        client: MongoClient[dict[str, Any]]
        with MongoClient(
            extra["oidc_uri"], authMechanismProperties={"ENVIRONMENT": "test"}, serverSelectionTimeoutMS=5000
        ) as client:
            assert client.test.coll.find_one() is None
    finally:
        assert services.stop(state, "mongod")
    assert state.read_record("mongod") is None
    log_path = Path(extra["log_path"])
    lines = json_lines(log_path)
    assert lines[-1]["msg"] in ("Shutting down", "Connection ended")
    assert any(e["msg"] == "Shutting down" for e in lines)
    assert any(e["id"] == 20250 and e["attr"]["mechanism"] == "MONGODB-OIDC" for e in lines)
    assert log_path.stat().st_mode & 0o777 == 0o600
    assert os.path.isdir(state.path / "db")


def test_invalid_configuration_stops_the_start_with_mongods_message(state: StateDir) -> None:
    conf = mongod_conf(state, [{"issuer": "http://localhost:1/x", "audience": "a"}])
    with pytest.raises(ServiceError) as info:
        services.start(state, "mongod", MODULE, ["--config", str(conf)], timeout=15)
    assert "authNamePrefix" in str(info.value)
