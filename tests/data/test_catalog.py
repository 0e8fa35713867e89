"""Catalog commands (databases, collections, indexes, statistics), what a standalone refuses, and
who may see or continue what: against the real server process with real pymongo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bson.int64 import Int64
from pymongo import MongoClient
from pymongo.errors import OperationFailure, WriteError

from .conftest import AUTH_PREFIX, MongodProcess


@pytest.fixture(scope="module")
def admin(shared_mongod: MongodProcess) -> MongoClient[Any]:
    return shared_mongod.admin()


def test_a_collections_options_leave_out_the_generic_arguments_of_its_create(
    admin: MongoClient[Any], db_name: str
) -> None:
    # Any command takes maxTimeMS, apiVersion, readConcern...: they are the command's, not options
    # of the collection it creates.
    db = admin[db_name]
    db.command("create", "opts", maxTimeMS=5000, readConcern={"level": "local"}, capped=False)
    (entry,) = db.command("listCollections", filter={"name": "opts"})["cursor"]["firstBatch"]
    assert entry["options"] == {"capped": False}


def test_create_list_and_drop_collections(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.create_collection("a")
    db.b.insert_one({"x": 1})  # created implicitly
    with pytest.raises(OperationFailure) as exists:
        db.command("create", "a")
    assert exists.value.code == 48
    assert exists.value.details is not None
    assert exists.value.details["errmsg"] == f"Collection already exists. NS: {db_name}.a"
    assert sorted(db.list_collection_names()) == ["a", "b"]
    reply = db.command("listCollections", filter={"name": "b"})
    (entry,) = reply["cursor"]["firstBatch"]
    assert entry["name"] == "b" and entry["type"] == "collection" and entry["options"] == {}
    assert entry["info"]["readOnly"] is False and entry["idIndex"] == {
        "v": 2,
        "key": {"_id": 1},
        "name": "_id_",
    }
    assert reply["cursor"]["ns"] == f"{db_name}.$cmd.listCollections"
    assert isinstance(reply["cursor"]["id"], Int64)
    names_only = db.command("listCollections", nameOnly=True)["cursor"]["firstBatch"]
    assert sorted(names_only, key=lambda e: e["name"]) == [
        {"name": "a", "type": "collection"},
        {"name": "b", "type": "collection"},
    ]
    assert db.command("drop", "b") == {"nIndexesWas": 1, "ns": f"{db_name}.b", "ok": 1.0}
    assert db.command("drop", "never-existed") == {"ok": 1.0}  # 7.0: no NamespaceNotFound
    assert db.list_collection_names() == ["a"]


def test_drop_database_removes_it_from_list_databases(admin: MongoClient[Any], db_name: str) -> None:
    admin[db_name].c.insert_one({})
    assert db_name in admin.list_database_names()
    admin.drop_database(db_name)
    assert db_name not in admin.list_database_names()
    admin[db_name].c.insert_one({"_id": "again"})  # the same names work again after the drop
    assert list(admin[db_name].c.find()) == [{"_id": "again"}]
    admin[db_name].c.drop()
    assert admin[db_name].c.find_one() is None
    admin.drop_database(db_name)
    listed = admin.admin.command("listDatabases")
    assert {"databases", "totalSize", "totalSizeMb", "ok"} <= set(listed)
    assert all(isinstance(d["sizeOnDisk"], Int64) for d in listed["databases"])
    assert admin.admin.command("listDatabases", nameOnly=True)["databases"][0].keys() == {"name"}


def test_create_list_and_drop_indexes(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    reply = db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "a_1"}])
    assert reply == {
        "numIndexesBefore": 1,
        "numIndexesAfter": 2,
        "createdCollectionAutomatically": True,
        "ok": 1.0,
    }
    again = db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "a_1"}])
    assert again == {
        "numIndexesBefore": 2,
        "numIndexesAfter": 2,
        "note": "all indexes already exist",
        "ok": 1.0,
    }
    with pytest.raises(OperationFailure) as other_name:
        db.command("createIndexes", "c", indexes=[{"key": {"a": 1}, "name": "other"}])
    assert other_name.value.code == 85
    assert other_name.value.details is not None
    assert other_name.value.details["errmsg"] == "Index already exists with a different name: a_1"
    db.c.create_index([("b", -1), ("c", 1)], unique=True, sparse=True)
    listed = list(db.c.list_indexes())
    assert [dict(i) for i in listed] == [
        {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        {"v": 2, "key": {"a": 1}, "name": "a_1"},
        {"v": 2, "key": {"b": -1, "c": 1}, "name": "b_-1_c_1", "unique": True, "sparse": True},
    ]
    assert db.c.index_information()["b_-1_c_1"]["unique"] is True
    db.c.drop_index("a_1")
    with pytest.raises(OperationFailure) as missing:
        db.c.drop_index("a_1")
    assert missing.value.code == 27
    with pytest.raises(OperationFailure) as id_index:
        db.command("dropIndexes", "c", index="_id_")
    assert id_index.value.code == 72
    db.c.drop_indexes()
    assert [i["name"] for i in db.c.list_indexes()] == ["_id_"]
    with pytest.raises(OperationFailure) as no_ns:
        db.command("listIndexes", "missing")  # (pymongo's list_indexes hides this error)
    assert no_ns.value.code == 26
    assert no_ns.value.details is not None
    assert no_ns.value.details["errmsg"] == f"ns does not exist: {db_name}.missing"


def test_coll_stats_and_db_stats_count_documents(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_many([{"_id": i, "pad": "x" * 100} for i in range(20)])
    db.c.create_index("pad")
    stats = db.command("collStats", "c")
    assert stats["ns"] == f"{db_name}.c" and stats["count"] == 20 and stats["nindexes"] == 2
    assert stats["size"] > 20 * 100 and stats["avgObjSize"] > 100
    assert set(stats["indexSizes"]) == {"_id_", "pad_1"}
    dbs = db.command("dbStats")
    assert (dbs["db"], dbs["collections"], dbs["objects"], dbs["indexes"]) == (db_name, 1, 20, 2)
    with pytest.raises(OperationFailure) as missing:
        db.command("collStats", "nope")
    assert missing.value.code == 26


# -- what a standalone refuses -------------------------------------------------------------------
def test_transactions_are_refused_with_illegal_operation_20(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    with admin.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as refused:
            coll.insert_one({"x": 1}, session=session)
        assert refused.value.code == 20
        assert "Transaction numbers are only allowed on a replica set member or mongos" in str(refused.value)
    assert coll.count_documents({}) == 0


def test_change_streams_are_refused_with_40573(admin: MongoClient[Any], db_name: str) -> None:
    with pytest.raises(OperationFailure) as refused:
        admin[db_name].c.watch()
    assert refused.value.code == 40573
    assert refused.value.details is not None
    assert refused.value.details["errmsg"] == "The $changeStream stage is only supported on replica sets"


def test_changing_id_with_an_operator_is_immutable_field_66(admin: MongoClient[Any], db_name: str) -> None:
    admin[db_name].c.insert_one({"_id": 1})
    with pytest.raises(WriteError) as refused:
        admin[db_name].c.update_one({"_id": 1}, {"$set": {"_id": 2}})
    assert refused.value.code == 66


# -- users: what they may see and continue ---------------------------------------------------------
def test_oidc_user_sees_only_its_databases_and_cannot_continue_anothers_cursor(
    shared_mongod: MongodProcess, admin: MongoClient[Any], token_file: Path
) -> None:
    admin.admin.command(
        "createRole",
        f"{AUTH_PREFIX}/lesson-readers",
        privileges=[],
        roles=[{"role": "readWrite", "db": "lessons"}],
    )
    try:
        admin.lessons.notes.insert_many([{"_id": i} for i in range(5)])
        admin.secret.plans.insert_one({"_id": 1})
        workload = shared_mongod.oidc(token_file)
        assert workload.list_database_names() == ["lessons"]
        assert workload.admin.command("listDatabases", filter={"name": "secret"})["databases"] == []
        with pytest.raises(OperationFailure) as denied:
            workload.secret.plans.find_one()
        assert denied.value.code == 13
        # the administrator's cursor is the administrator's
        cursor_id = admin.lessons.command("find", "notes", batchSize=1)["cursor"]["id"]
        with pytest.raises(OperationFailure) as not_yours:
            workload.lessons.command("getMore", cursor_id, collection="notes")
        assert not_yours.value.code == 13
        assert not_yours.value.details is not None
        assert (
            not_yours.value.details["errmsg"]
            == f"cursor id {cursor_id} was not created by the authenticated user"
        )
        # ... and the workload's own cursor works for it
        assert [d["_id"] for d in workload.lessons.notes.find().batch_size(2)] == [0, 1, 2, 3, 4]
        workload.lessons.notes.insert_one({"_id": 5, "by": "workload"})
        assert admin.lessons.notes.count_documents({}) == 6
    finally:
        admin.admin.command("dropRole", f"{AUTH_PREFIX}/lesson-readers")
