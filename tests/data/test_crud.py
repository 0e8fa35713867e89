"""CRUD, cursors and aggregation against the real server process, through real pymongo: results,
mongod's reply shapes and its error codes and messages."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from bson import Binary, Decimal128, ObjectId, Regex
from bson.int64 import Int64
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    InsertOne,
    MongoClient,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError

from .conftest import InBody, MongodProcess


@pytest.fixture(scope="module")
def admin(shared_mongod: MongodProcess) -> MongoClient[Any]:
    return shared_mongod.admin()


def _people(n: int) -> list[dict[str, Any]]:
    return [
        {"_id": i, "name": f"p{i:03d}", "age": 20 + i % 50, "team": ["red", "blue", "green"][i % 3]}
        for i in range(n)
    ]


# -- insert ------------------------------------------------------------------------------------------
def test_insert_many_sends_a_document_sequence_and_every_document_is_stored(
    admin: MongoClient[Any], db_name: str
) -> None:
    coll = admin[db_name].people
    result = coll.insert_many(_people(300))
    assert result.inserted_ids == list(range(300))
    assert coll.count_documents({}) == 300
    assert coll.find_one({"_id": 7}) == {"_id": 7, "name": "p007", "age": 27, "team": "blue"}


def test_insert_without_id_gets_an_objectid_first(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    reply = admin[db_name].command("insert", "c", documents=[{"a": 1}])
    assert reply == {"n": 1, "ok": 1.0}
    doc = coll.find_one()
    assert doc is not None and list(doc) == ["_id", "a"]


def test_duplicate_id_is_a_write_error_11000_with_mongods_message(
    admin: MongoClient[Any], db_name: str
) -> None:
    db = admin[db_name]
    reply = db.command("insert", "c", documents=[{"_id": "x"}, {"_id": "x"}, {"_id": "y"}], ordered=False)
    assert reply["n"] == 2
    (error,) = reply["writeErrors"]
    assert error == {
        "index": 1,
        "code": 11000,
        "errmsg": f'E11000 duplicate key error collection: {db_name}.c index: _id_ dup key: {{ _id: "x" }}',
        "keyPattern": {"_id": 1},
        "keyValue": {"_id": "x"},
    }
    # ordered (the default) stops at the first error
    reply = db.command("insert", "d", documents=[{"_id": 1}, {"_id": 1}, {"_id": 2}])
    assert reply["n"] == 1 and reply["writeErrors"][0]["index"] == 1
    assert db.d.count_documents({}) == 1


def test_unique_index_is_enforced_with_its_name_and_key_in_the_message(
    admin: MongoClient[Any], db_name: str
) -> None:
    coll = admin[db_name].users
    assert coll.create_index("name", unique=True) == "name_1"
    coll.insert_one({"name": "x"})
    with pytest.raises(DuplicateKeyError) as info:
        coll.insert_one({"name": "x"})
    assert info.value.code == 11000
    assert info.value.details is not None
    assert info.value.details["errmsg"] == (
        f'E11000 duplicate key error collection: {db_name}.users index: name_1 dup key: {{ name: "x" }}'
    )
    # an update that would duplicate is refused too, and changes nothing
    coll.insert_one({"name": "y"})
    with pytest.raises(DuplicateKeyError):
        coll.update_one({"name": "y"}, {"$set": {"name": "x"}})
    assert coll.count_documents({"name": "y"}) == 1
    # a unique index cannot be built over existing duplicates
    # (a document without "name" is indexed as name: null, as in mongod, so use another collection)
    admin[db_name].mail.insert_many([{"email": "a@x"}, {"email": "a@x"}])
    with pytest.raises(DuplicateKeyError) as built:
        admin[db_name].mail.create_index([("email", ASCENDING)], unique=True)
    assert 'index: email_1 dup key: { email: "a@x" }' in str(built.value)


def test_compound_unique_index_message_names_every_field(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    coll.create_index([("a", ASCENDING), ("b", DESCENDING)], unique=True)
    coll.insert_one({"a": 1, "b": "q"})
    coll.insert_one({"a": 1, "b": "r"})
    with pytest.raises(DuplicateKeyError, match=r'index: a_1_b_-1 dup key: \{ a: 1\.0, b: "q" \}'):
        coll.insert_one({"a": 1.0, "b": "q"})


# -- find, getMore, killCursors ----------------------------------------------------------------------
def test_find_returns_101_documents_first_then_getmore_batches_with_int64_ids(
    admin: MongoClient[Any], db_name: str
) -> None:
    db = admin[db_name]
    db.people.insert_many(_people(250))
    first = db.command("find", "people", filter={})
    cursor = first["cursor"]
    assert len(cursor["firstBatch"]) == 101
    assert isinstance(cursor["id"], Int64) and cursor["id"] != 0
    assert cursor["ns"] == f"{db_name}.people"
    more = db.command("getMore", cursor["id"], collection="people", batchSize=100)
    assert len(more["cursor"]["nextBatch"]) == 100 and more["cursor"]["id"] == cursor["id"]
    last = db.command("getMore", cursor["id"], collection="people")
    assert len(last["cursor"]["nextBatch"]) == 49
    assert last["cursor"]["id"] == 0 and isinstance(last["cursor"]["id"], Int64)
    with pytest.raises(OperationFailure) as gone:
        db.command("getMore", cursor["id"], collection="people")
    assert gone.value.code == 43
    assert gone.value.details is not None
    assert gone.value.details["errmsg"] == f"cursor id {cursor['id']} not found"


def test_find_with_filter_projection_sort_skip_limit(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].people
    coll.insert_many(_people(300))
    docs = list(
        coll.find({"team": {"$in": ["red", "blue"]}, "age": {"$gte": 30}}, {"name": 1, "age": 1, "_id": 0})
        .sort([("age", DESCENDING), ("name", ASCENDING)])
        .skip(2)
        .limit(150)
    )
    expected = sorted(
        (p for p in _people(300) if p["team"] in ("red", "blue") and p["age"] >= 30),
        key=lambda p: (-p["age"], p["name"]),
    )[2:152]
    assert docs == [{"name": p["name"], "age": p["age"]} for p in expected]
    assert len(docs) == 150 > 101  # beyond the first batch


def test_batch_size_and_single_batch(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_many([{"_id": i} for i in range(10)])
    reply = db.command("find", "c", batchSize=3)
    assert len(reply["cursor"]["firstBatch"]) == 3 and reply["cursor"]["id"] != 0
    db.command("killCursors", "c", cursors=[reply["cursor"]["id"]])
    single = db.command("find", "c", batchSize=3, singleBatch=True)
    assert len(single["cursor"]["firstBatch"]) == 3 and single["cursor"]["id"] == 0
    assert list(db.c.find().batch_size(4)) == [{"_id": i} for i in range(10)]


def test_kill_cursors_reports_killed_and_not_found(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_many([{"_id": i} for i in range(5)])
    cid = db.command("find", "c", batchSize=1)["cursor"]["id"]
    reply = db.command("killCursors", "c", cursors=[cid, Int64(12345)])
    assert reply["cursorsKilled"] == [cid]
    assert reply["cursorsNotFound"] == [12345]
    assert reply["cursorsAlive"] == [] and reply["cursorsUnknown"] == []


def test_find_errors_are_mongods(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as bad_op:
        list(db.c.find({"a": {"$nosuch": 1}}))
    assert bad_op.value.code == 2
    with pytest.raises(OperationFailure) as wrong_type:
        db.command("find", "c", filter="not a document")
    assert wrong_type.value.code == 14
    with pytest.raises(OperationFailure) as negative:
        db.command("find", "c", skip=-1)
    assert negative.value.code == 51024
    with pytest.raises(OperationFailure) as unknown:
        db.command("noSuchCommand")
    assert unknown.value.code == 59


# -- update / delete / findAndModify --------------------------------------------------------------
def test_update_operators_multi_upsert_and_reply_shape(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_many([{"_id": i, "n": i, "tags": ["a"]} for i in range(5)])
    reply = db.command(
        "update",
        "c",
        updates=[
            {"q": {"n": {"$lt": 3}}, "u": {"$inc": {"n": 10}, "$push": {"tags": "b"}}, "multi": True},
            {"q": {"_id": 99}, "u": {"$set": {"n": 0}}, "upsert": True},
            {"q": {"_id": 4}, "u": {"$set": {"n": 4}}},  # matches, changes nothing
        ],
    )
    assert reply == {"n": 5, "nModified": 3, "upserted": [{"index": 1, "_id": 99}], "ok": 1.0}
    assert db.c.find_one({"_id": 0}) == {"_id": 0, "n": 10, "tags": ["a", "b"]}
    assert db.c.find_one({"_id": 99}) == {"_id": 99, "n": 0}


def test_update_many_replace_and_array_filters(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    coll.insert_many([{"_id": i, "grades": [80, 95, 100], "ok": i % 2 == 0} for i in range(4)])
    result = coll.update_many(
        {"ok": True}, {"$set": {"grades.$[g]": 100}}, array_filters=[{"g": {"$gte": 90}}]
    )
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert coll.find_one({"_id": 0}) == {"_id": 0, "grades": [80, 100, 100], "ok": True}
    assert coll.find_one({"_id": 1}) == {"_id": 1, "grades": [80, 95, 100], "ok": False}
    coll.replace_one({"_id": 3}, {"only": "this"})
    assert coll.find_one({"_id": 3}) == {"_id": 3, "only": "this"}
    with pytest.raises(WriteError) as changed_id:
        coll.replace_one({"_id": 3}, {"_id": 4, "x": 1})
    assert changed_id.value.code == 66
    with pytest.raises(WriteError) as mixed:
        coll.update_one({"_id": 3}, {"$set": {"a": 1}, "b": 2})
    assert mixed.value.code == 9


def test_positional_operator_updates_the_matched_element(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    coll.insert_one({"_id": 1, "items": [{"sku": "a", "q": 1}, {"sku": "b", "q": 1}]})
    coll.update_one({"_id": 1, "items.sku": "b"}, {"$inc": {"items.$.q": 5}})
    assert coll.find_one({"_id": 1}) == {"_id": 1, "items": [{"sku": "a", "q": 1}, {"sku": "b", "q": 6}]}


def test_delete_one_and_many(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    coll.insert_many([{"_id": i, "k": i % 2} for i in range(6)])
    assert coll.delete_one({"k": 1}).deleted_count == 1
    assert coll.delete_many({"k": 1}).deleted_count == 2
    assert coll.delete_many({}).raw_result == {"n": 3, "ok": 1.0}
    assert coll.delete_many({"missing": 1}).deleted_count == 0


def test_a_delete_limit_that_is_not_a_number_reads_as_0_and_deletes_every_match(
    admin: MongoClient[Any], db_name: str
) -> None:
    """mongod reads ``limit`` as a double (readMultiDeleteProperty), and a bool is no number: its
    0 means every match, though true == 1 to Python."""
    db = admin[db_name]
    db.c.insert_many([{"_id": i, "k": 1} for i in range(3)])
    assert db.command("delete", "c", deletes=[{"q": {"k": 1}, "limit": True}])["n"] == 3


# A valid first statement of each command: it would change the collection {_id: 1, v: 0}.
_FIRST = {
    "insert": ("documents", {"_id": 2}),
    "update": ("updates", {"q": {"_id": 1}, "u": {"$set": {"v": 1}}}),
    "delete": ("deletes", {"q": {"_id": 1}, "limit": 1}),
}


@pytest.mark.parametrize(
    ("command", "second", "code", "message"),
    [
        ("update", {"q": {}, "u": 5}, 9, "Update argument must be either an object or an array"),
        ("update", {"q": {}, "u": None}, 9, "Update argument must be either an object or an array"),
        (
            "update",
            {"q": 5, "u": {}},
            14,
            "BSON field 'update.updates.q' is the wrong type 'int', expected type 'object'",
        ),
        ("update", {"u": {}}, 40414, "BSON field 'update.updates.q' is missing but a required field"),
        (
            "update",
            {"q": None, "u": {}},
            40414,
            "BSON field 'update.updates.q' is missing but a required field",
        ),
        ("update", {"q": {}}, 40414, "BSON field 'update.updates.u' is missing but a required field"),
        (
            "update",
            {"q": {}, "u": {}, "multi": 1},
            14,
            "BSON field 'update.updates.multi' is the wrong type 'int', expected type 'bool'",
        ),
        (
            "update",
            {"q": {}, "u": {}, "mutli": True},
            40415,
            "BSON field 'update.updates.mutli' is an unknown field.",
        ),
        (
            "update",
            {"q": {}, "u": {"$set": {"a.$[i]": 1}}, "arrayFilters": [7]},
            14,
            "BSON field 'update.updates.arrayFilters.0' is the wrong type 'int', expected type 'object'",
        ),
        ("update", {"q": {}, "u": {}, "hint": 5}, 9, "Hint must be a string or an object"),
        ("update", 5, 14, "BSON field 'update.updates.1' is the wrong type 'int', expected type 'object'"),
        ("delete", {"q": {}, "limit": 2}, 9, "The limit field in delete objects must be 0 or 1. Got 2"),
        ("delete", {"q": {}, "limit": 0.5}, 9, "The limit field in delete objects must be 0 or 1. Got 0.5"),
        ("delete", {"q": {}}, 40414, "BSON field 'delete.deletes.limit' is missing but a required field"),
        (
            "delete",
            {"q": "all", "limit": 0},
            14,
            "BSON field 'delete.deletes.q' is the wrong type 'string', expected type 'object'",
        ),
        ("insert", 5, 14, "BSON field 'insert.documents.1' is the wrong type 'int', expected type 'object'"),
    ],
)
def test_a_malformed_statement_fails_the_whole_write_before_any_runs(
    admin: MongoClient[Any], db_name: str, command: str, second: Any, code: int, message: str
) -> None:
    """mongod parses the whole command (write_ops.idl) before it executes a statement: the
    malformed second statement is the command's error, not a write error, and the valid first one
    never ran."""
    db = admin[db_name]
    db.drop_collection("w")  # the parameters share a database
    db.w.insert_one({"_id": 1, "v": 0})
    field, first = _FIRST[command]
    with pytest.raises(OperationFailure) as refused:
        db.command(InBody({command: "w", field: [first, second]}))
    assert (refused.value.code, refused.value.details["errmsg"]) == (code, message)
    assert list(db.w.find()) == [{"_id": 1, "v": 0}]


@pytest.mark.parametrize(
    ("cmd", "code", "message"),
    [
        (
            {"update": "w", "updates": [{"q": {}, "u": {"$set": {"v": 1}}}], "ordered": "yes"},
            14,
            "BSON field 'update.ordered' is the wrong type 'string', expected type 'bool'",
        ),
        (
            {"delete": "w", "deletes": 5},
            14,
            "BSON field 'delete.deletes' is the wrong type 'int', expected type 'array'",
        ),
        ({"update": "w"}, 40414, "BSON field 'update.updates' is missing but a required field"),
        (
            {"insert": "w", "documents": []},
            16,
            "Write batch sizes must be between 1 and 100000. Got 0 operations.",
        ),
        (
            {"delete": "w", "deletes": [None]},
            16,
            "Write batch sizes must be between 1 and 100000. Got 0 operations.",
        ),
    ],
)
def test_a_malformed_write_command_is_refused_with_mongods_text(
    admin: MongoClient[Any], db_name: str, cmd: dict[str, Any], code: int, message: str
) -> None:
    db = admin[db_name]
    db.drop_collection("w")
    db.w.insert_one({"_id": 1, "v": 0})
    with pytest.raises(OperationFailure) as refused:
        db.command(InBody(cmd))
    assert (refused.value.code, refused.value.details["errmsg"]) == (code, message)
    assert list(db.w.find()) == [{"_id": 1, "v": 0}]


def test_a_statement_that_parses_but_cannot_apply_is_a_write_error_of_its_own(
    admin: MongoClient[Any], db_name: str
) -> None:
    """Only parsing is all-or-nothing: an update mixing operators and fields is refused when it
    runs, as a write error at its index, after the statements before it were applied."""
    db = admin[db_name]
    db.w.insert_one({"_id": 1, "v": 0})
    reply = db.command(
        "update",
        "w",
        updates=[
            {"q": {"_id": 1}, "u": {"$set": {"v": 1}}},
            {"q": {"_id": 1}, "u": {"$set": {"a": 1}, "b": 2}},
        ],
    )
    assert (reply["n"], reply["nModified"]) == (1, 1)
    assert [(e["index"], e["code"]) for e in reply["writeErrors"]] == [(1, 9)]
    assert list(db.w.find()) == [{"_id": 1, "v": 1}]


def test_find_and_modify_returns_before_or_after_and_upserts(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    coll = db.counters
    coll.insert_many([{"_id": "a", "seq": 1}, {"_id": "b", "seq": 5}])
    before = coll.find_one_and_update({"_id": "a"}, {"$inc": {"seq": 1}})
    assert before == {"_id": "a", "seq": 1}
    after = coll.find_one_and_update(
        {}, {"$inc": {"seq": 1}}, sort=[("seq", DESCENDING)], return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": "b", "seq": 6}
    reply = db.command(
        "findAndModify", "counters", query={"_id": "c"}, update={"$set": {"seq": 0}}, upsert=True, new=True
    )
    assert reply["lastErrorObject"] == {"n": 1, "updatedExisting": False, "upserted": "c"}
    assert reply["value"] == {"_id": "c", "seq": 0}
    removed = coll.find_one_and_delete({"_id": "a"}, projection={"seq": 1, "_id": 0})
    assert removed == {"seq": 2}
    assert coll.find_one_and_replace({"_id": "zz"}, {"x": 1}) is None
    with pytest.raises(OperationFailure) as both:
        db.command("findAndModify", "counters", query={}, remove=True, update={"$set": {"x": 1}})
    assert both.value.code == 9


def test_find_and_modify_reads_a_decimal_flag_by_its_number(admin: MongoClient[Any], db_name: str) -> None:
    # remove/upsert/new are safeBool: NumberDecimal(0) is false and NumberDecimal(1) true, as 0 and 1.
    db = admin[db_name]
    db.flags.insert_one({"_id": "a", "n": 1})
    zero, one = Decimal128("0"), Decimal128("1")
    reply = db.command(
        "findAndModify", "flags", query={"_id": "a"}, update={"$inc": {"n": 1}}, remove=zero, new=one
    )
    assert reply["value"] == {"_id": "a", "n": 2}
    reply = db.command("findAndModify", "flags", query={"_id": "b"}, update={"$set": {"n": 0}}, upsert=zero)
    assert reply["lastErrorObject"] == {"n": 0, "updatedExisting": False} and reply["value"] is None
    reply = db.command("findAndModify", "flags", query={"_id": "a"}, remove=one, new=zero, upsert=zero)
    assert reply["value"] == {"_id": "a", "n": 2}
    assert db.flags.count_documents({}) == 0


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        # mongod's IDL parser types every field first (in the command's order), so a wrong-typed
        # sort is reported even when the update/remove rules are broken too
        ({"sort": 5}, 14, "BSON field 'findAndModify.sort' is the wrong type 'int', expected type 'object'"),
        (
            {"remove": True, "update": {"$set": {"x": 1}}, "fields": "x"},
            14,
            "BSON field 'findAndModify.fields' is the wrong type 'string', expected type 'object'",
        ),
        (
            {"remove": "yes"},
            14,
            "BSON field 'findAndModify.remove' is the wrong type 'string', "
            "expected types '[bool, long, int, decimal, double]'",
        ),
        ({"update": 5}, 9, "Update argument must be either an object or an array"),
        # IDL hands a null to a field's own parser: an update, a hint
        ({"update": None}, 9, "Update argument must be either an object or an array"),
        ({"update": {"$set": {"x": 1}}, "hint": None}, 9, "Hint must be a string or an object"),
        (
            {"update": {"$set": {"a.$[i]": 1}}, "arrayFilters": [7]},
            14,
            "BSON field 'findAndModify.arrayFilters.0' is the wrong type 'int', expected type 'object'",
        ),
        ({}, 9, "Either an update or remove=true must be specified"),
        ({"remove": True, "upsert": True}, 9, "Cannot specify both upsert=true and remove=true "),
        (
            {"remove": 1, "new": True},
            9,
            "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
        ),
        ({"remove": True, "arrayFilters": [{"i": 1}]}, 9, "Cannot specify arrayFilters and remove=true"),
        (
            {"update": [{"$set": {"x": 1}}], "arrayFilters": [{"i": 1}]},
            9,
            "Cannot specify arrayFilters and a pipeline update",
        ),
    ],
)
def test_find_and_modify_checks_field_types_before_the_rules_between_them(
    admin: MongoClient[Any], db_name: str, fields: dict[str, Any], code: int, message: str
) -> None:
    db = admin[db_name]
    db.counters.replace_one({"_id": "a"}, {"_id": "a"}, upsert=True)  # the parameters share a database
    with pytest.raises(OperationFailure) as refused:
        db.command({"findAndModify": "counters", "query": {"_id": "a"}, **fields})
    assert (refused.value.code, refused.value.details["errmsg"]) == (code, message)
    assert db.counters.find_one() == {"_id": "a"}


def test_bulk_write_mixes_operations_and_reports_counts(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].c
    result = coll.bulk_write(
        [
            InsertOne({"_id": 1, "v": 1}),
            InsertOne({"_id": 2, "v": 2}),
            UpdateOne({"_id": 1}, {"$set": {"v": 10}}),
            UpdateOne({"_id": 3}, {"$set": {"v": 3}}, upsert=True),
            ReplaceOne({"_id": 2}, {"v": 20}),
            DeleteOne({"_id": 3}),
        ]
    )
    assert (result.inserted_count, result.matched_count, result.modified_count) == (2, 2, 2)
    assert (result.upserted_count, result.deleted_count) == (1, 1)
    assert list(coll.find().sort("_id")) == [{"_id": 1, "v": 10}, {"_id": 2, "v": 20}]
    with pytest.raises(BulkWriteError) as failed:
        coll.bulk_write([InsertOne({"_id": 1}), InsertOne({"_id": 5})], ordered=False)
    assert failed.value.details["nInserted"] == 1
    assert failed.value.details["writeErrors"][0]["code"] == 11000


# -- count / distinct / aggregate ----------------------------------------------------------------
def test_count_documents_count_command_and_distinct(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.people.insert_many(_people(90))
    assert db.people.count_documents({"team": "red"}) == 30
    assert db.people.count_documents({}, skip=80) == 10
    assert db.command("count", "people", query={"age": {"$lt": 25}})["n"] == 10
    assert db.command("count", "missing") == {"n": 0, "ok": 1.0}
    assert db.people.estimated_document_count() == 90
    assert sorted(db.people.distinct("team")) == ["blue", "green", "red"]
    expected = {p["age"] for p in _people(90) if p["team"] == "red" and p["age"] < 30}
    assert sorted(db.people.distinct("age", {"team": "red", "age": {"$lt": 30}})) == sorted(expected)


def test_aggregate_stages(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.orders.insert_many(
        [
            {"_id": 1, "cust": "ann", "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]},
            {"_id": 2, "cust": "bob", "items": [{"sku": "a", "qty": 5}]},
            {"_id": 3, "cust": "ann", "items": []},
        ]
    )
    db.customers.insert_many([{"_id": "ann", "city": "Oslo"}, {"_id": "bob", "city": "Rome"}])
    pipeline: list[dict[str, Any]] = [
        {"$match": {"cust": {"$in": ["ann", "bob"]}}},
        {"$unwind": "$items"},
        {"$group": {"_id": "$items.sku", "total": {"$sum": "$items.qty"}}},
        {"$sort": {"total": -1}},
        {"$project": {"sku": "$_id", "total": 1, "_id": 0}},
    ]
    assert list(db.orders.aggregate(pipeline)) == [{"total": 7, "sku": "a"}, {"total": 1, "sku": "b"}]
    looked_up = list(
        db.orders.aggregate(
            [
                {"$lookup": {"from": "customers", "localField": "cust", "foreignField": "_id", "as": "who"}},
                {"$set": {"city": {"$first": "$who.city"}}},
                {"$unset": ["who", "items"]},
                {"$addFields": {"n": {"$literal": 1}}},
                {"$sort": {"_id": 1}},
                {"$skip": 1},
                {"$limit": 1},
            ]
        )
    )
    assert looked_up == [{"_id": 2, "cust": "bob", "city": "Rome", "n": 1}]
    assert list(db.orders.aggregate([{"$match": {"cust": "ann"}}, {"$count": "n"}])) == [{"n": 2}]
    faceted = list(
        db.orders.aggregate(
            [
                {
                    "$facet": {
                        "count": [{"$count": "n"}],
                        "custs": [{"$group": {"_id": "$cust"}}, {"$sort": {"_id": 1}}],
                    }
                }
            ]
        )
    )
    assert faceted == [{"count": [{"n": 3}], "custs": [{"_id": "ann"}, {"_id": "bob"}]}]


def test_aggregate_reply_is_a_cursor_and_batches_like_find(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.c.insert_many([{"_id": i} for i in range(150)])
    reply = db.command("aggregate", "c", pipeline=[{"$match": {}}], cursor={})
    assert len(reply["cursor"]["firstBatch"]) == 101 and reply["cursor"]["ns"] == f"{db_name}.c"
    assert len(list(db.c.aggregate([{"$sort": {"_id": -1}}], batchSize=20))) == 150
    with pytest.raises(OperationFailure) as no_cursor:
        db.command("aggregate", "c", pipeline=[])
    assert no_cursor.value.code == 9
    assert "The 'cursor' option is required" in str(no_cursor.value)
    with pytest.raises(OperationFailure) as bad_stage:
        list(db.c.aggregate([{"$nosuchstage": {}}]))
    assert bad_stage.value.code != 0


def test_out_writes_the_pipeline_result_into_a_collection(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    db.src.insert_many([{"_id": i, "even": i % 2 == 0} for i in range(6)])
    list(db.src.aggregate([{"$match": {"even": True}}, {"$out": "evens"}]))
    assert [d["_id"] for d in db.evens.find().sort("_id")] == [0, 2, 4]


def test_a_batch_holds_at_most_16_mib_of_documents(admin: MongoClient[Any], db_name: str) -> None:
    db = admin[db_name]
    big = "x" * (6 * 1024 * 1024)
    db.c.insert_many([{"_id": i, "pad": big} for i in range(4)])
    first = db.command("find", "c", projection={"_id": 1, "pad": 1})["cursor"]
    assert [d["_id"] for d in first["firstBatch"]] == [0, 1]  # a third would pass 16 MiB
    assert first["id"] != 0
    more = db.command("getMore", first["id"], collection="c")["cursor"]
    assert [d["_id"] for d in more["nextBatch"]] == [2, 3] and more["id"] == 0


def test_bson_types_round_trip_and_can_be_queried(admin: MongoClient[Any], db_name: str) -> None:
    coll = admin[db_name].types
    when = datetime.datetime(2026, 11, 29, 12, 30, 15, 123000)
    doc = {
        "_id": ObjectId(),
        "when": when,
        "price": Decimal128("19.99"),
        "uid": Binary.from_uuid(uuid.UUID(int=7)),
        "big": Int64(2**40),
        "nested": {"list": [1, "two", {"three": 3.0}]},
        "nothing": None,
    }
    coll.insert_one(dict(doc))
    assert coll.find_one({"_id": doc["_id"]}) == doc
    assert (
        coll.count_documents(
            {"when": {"$gte": datetime.datetime(2026, 1, 1), "$lt": datetime.datetime(2027, 1, 1)}}
        )
        == 1
    )
    assert coll.count_documents({"nested.list.three": 3}) == 1
    assert coll.count_documents({"uid": Binary.from_uuid(uuid.UUID(int=7))}) == 1
    assert coll.count_documents({"big": {"$gt": 2**39}}) == 1
    assert coll.count_documents({"nested.list": Regex("^tw")}) == 1
