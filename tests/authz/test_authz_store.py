"""The user and role store: persistence, corruption handling, the kit's administrator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
from pathlib import Path

import pytest

from wif_notebook.errors import StateError
from wif_notebook.server.authz import (
    AuthzStore,
    new_user_document,
    read_admin_credentials,
    scram_sha256_credentials,
    verify_scram_sha256,
)
from wif_notebook.server.registry import CommandError


def test_users_and_roles_survive_a_restart(tmp_path: Path) -> None:
    store = AuthzStore(tmp_path / "db")
    store.insert_user(new_user_document("kit/alice", "$external", [{"role": "read", "db": "test"}]))
    store.insert_role(
        {"_id": "admin.kit/readers", "role": "kit/readers", "db": "admin", "privileges": [], "roles": []}
    )

    again = AuthzStore(tmp_path / "db")
    user = again.get_user("$external", "kit/alice")
    assert user is not None
    assert user["_id"] == "$external.kit/alice"
    assert user["roles"] == [{"role": "read", "db": "test"}]
    assert user["credentials"] == {"external": True}
    assert again.get_role("admin", "kit/readers") is not None


def test_store_file_is_private(tmp_path: Path) -> None:
    store = AuthzStore(tmp_path / "db")
    store.insert_user(new_user_document("bob", "test", [], password="pw"))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_corrupt_store_is_refused_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    (db / "authz.json").write_text('{"users": {"test.bob": ')
    with pytest.raises(StateError) as err:
        AuthzStore(db)
    assert "corrupt" in err.value.what and "left untouched" in err.value.what
    assert err.value.hint
    assert (db / "authz.json").read_text() == '{"users": {"test.bob": '


def test_duplicate_user_is_refused_with_51003(tmp_path: Path) -> None:
    store = AuthzStore(tmp_path / "db")
    store.insert_user(new_user_document("bob", "test", [], password="pw"))
    with pytest.raises(CommandError) as err:
        store.insert_user(new_user_document("bob", "test", [], password="pw"))
    assert err.value.code == 51003
    assert err.value.errmsg == 'User "bob@test" already exists'


def test_scram_sha256_credentials_follow_rfc_7677() -> None:
    # RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    cred = scram_sha256_credentials("pencil", salt=salt, iterations=4096)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert cred["serverKey"] == base64.b64encode(server_key).decode()
    # The server signature of the RFC's exchange is derived from this ServerKey.
    auth_message = (
        b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    signature = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest()).decode()
    assert signature == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert cred["iterationCount"] == 4096


def test_admin_is_created_once_with_root_and_a_private_credentials_file(tmp_path: Path) -> None:
    store = AuthzStore(tmp_path / "db")
    user, password = store.ensure_admin(tmp_path)
    assert (user, password) == store.ensure_admin(tmp_path)
    doc = store.get_user("admin", "admin")
    assert doc is not None
    assert doc["roles"] == [{"role": "root", "db": "admin"}]
    assert doc["credentials"]["SCRAM-SHA-256"]["iterationCount"] == 15000
    assert verify_scram_sha256(doc, password)
    assert not verify_scram_sha256(doc, password + "x")
    creds = tmp_path / "admin.json"
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    assert json.loads(creds.read_text()) == {"user": "admin", "password": password}
    assert read_admin_credentials(tmp_path) == (user, password)


def test_admin_is_recreated_with_the_saved_password_after_the_db_is_wiped(tmp_path: Path) -> None:
    _, password = AuthzStore(tmp_path / "db").ensure_admin(tmp_path)
    fresh = AuthzStore(tmp_path / "db2")
    assert fresh.ensure_admin(tmp_path) == ("admin", password)
    doc = fresh.get_user("admin", "admin")
    assert doc is not None and verify_scram_sha256(doc, password)


def test_lost_credentials_file_gets_a_new_password(tmp_path: Path) -> None:
    store = AuthzStore(tmp_path / "db")
    _, old = store.ensure_admin(tmp_path)
    (tmp_path / "admin.json").unlink()
    _, new = store.ensure_admin(tmp_path)
    assert new != old
    doc = store.get_user("admin", "admin")
    assert doc is not None and verify_scram_sha256(doc, new)


def test_custom_data_of_any_bson_type_round_trips(tmp_path: Path) -> None:
    import datetime

    from bson.int64 import Int64
    from bson.objectid import ObjectId

    custom = {
        "since": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "ref": ObjectId("65a1b2c3d4e5f6a7b8c9d0e1"),
        "quota": Int64(5),
    }
    AuthzStore(tmp_path / "db").insert_user(new_user_document("kit/a", "$external", [], custom_data=custom))
    doc = AuthzStore(tmp_path / "db").get_user("$external", "kit/a")
    assert doc is not None
    assert doc["customData"]["ref"] == custom["ref"]
    assert doc["customData"]["quota"] == 5 and isinstance(doc["customData"]["quota"], Int64)
    assert doc["customData"]["since"].replace(tzinfo=datetime.timezone.utc) == custom["since"]
