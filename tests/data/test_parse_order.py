"""What a client is told first, against the real server process through real pymongo: mongod parses
a command before it checks the user's privileges (a typed command: insert, update, delete,
findAndModify), a hint must name an index of the collection, and a pipeline update's stages must be
documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure, WriteError

from .conftest import Idp, InBody, MongodProcess

NO_HINT = (
    "error processing query: ns={ns} planner returned error :: caused by :: "
    "hint provided does not correspond to an existing index"
)


@pytest.fixture(scope="module")
def admin(shared_mongod: MongodProcess) -> MongoClient[Any]:
    return shared_mongod.admin()


@pytest.fixture(scope="module")
def no_roles(
    shared_mongod: MongodProcess, idp: Idp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MongoClient[Any]]:
    """A workload logged in with MONGODB-OIDC whose token grants no role: authenticated, no privilege."""
    token_file = tmp_path_factory.mktemp("no-roles") / "oidc-token"
    token_file.write_text(idp.token("lesson-app"))
    client = shared_mongod.oidc(token_file)
    client.admin.command("ping")
    yield client


def _refusal(db: Any, cmd: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(OperationFailure) as refused:
        db.command(InBody(cmd))
    assert refused.value.details is not None
    return refused.value.code or 0, refused.value.details["errmsg"]


# -- parse, then privileges ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cmd", "code", "message"),
    [
        (
            {"insert": "w", "documents": [{"_id": 1}, 5]},
            14,
            "BSON field 'insert.documents.1' is the wrong type 'int', expected type 'object'",
        ),
        (
            {"update": "w", "updates": [{"q": {}, "u": {"$set": {"v": 1}}, "upsert": "yes"}]},
            14,
            "BSON field 'update.updates.upsert' is the wrong type 'string', expected type 'bool'",
        ),
        ({"delete": "w"}, 40414, "BSON field 'delete.deletes' is missing but a required field"),
        (
            {"delete": "w", "deletes": [{"q": {}, "limit": 0, "colour": 1}]},
            40415,
            "BSON field 'delete.deletes.colour' is an unknown field.",
        ),
        (
            {"findAndModify": "w", "query": 1, "remove": True},
            14,
            "BSON field 'findAndModify.query' is the wrong type 'int', expected type 'object'",
        ),
        (
            {"aggregate": "w", "pipeline": [{"$match": {}}, {"$frobnicate": {}}], "cursor": {}},
            40324,
            "Unrecognized pipeline stage name: '$frobnicate'",
        ),
        (
            {"aggregate": "w", "pipeline": []},
            9,
            "The 'cursor' option is required, except for aggregate with the explain argument",
        ),
        # Each is a strict IDL command: a misspelt option is refused, not ignored.
        (
            {"insert": "w", "documents": [{}], "ordred": False},
            40415,
            "BSON field 'insert.ordred' is an unknown field.",
        ),
        (
            {"update": "w", "updates": [{"q": {}, "u": {}}], "upsert": True},
            40415,
            "BSON field 'update.upsert' is an unknown field.",
        ),
        (
            {"delete": "w", "deletes": [{"q": {}, "limit": 0}], "justOne": True},
            40415,
            "BSON field 'delete.justOne' is an unknown field.",
        ),
        (
            {"findAndModify": "w", "query": {}, "remove": True, "returnNewDocument": True},
            40415,
            "BSON field 'findAndModify.returnNewDocument' is an unknown field.",
        ),
        (
            {"aggregate": "w", "pipeline": [], "cursor": {}, "batchSize": 5},
            40415,
            "BSON field 'aggregate.batchSize' is an unknown field.",
        ),
        # parsePipelineFromBSON's own words for a pipeline that is not an array (a null too).
        (
            {"aggregate": "w", "pipeline": {"$match": {}}, "cursor": {}},
            14,
            "'pipeline' option must be specified as an array",
        ),
        (
            {"aggregate": "w", "pipeline": None, "cursor": {}},
            14,
            "'pipeline' option must be specified as an array",
        ),
        (
            {"aggregate": "w", "cursor": {}},
            40414,
            "BSON field 'aggregate.pipeline' is missing but a required field",
        ),
    ],
)
def test_a_user_without_the_privilege_gets_the_parse_error_of_a_malformed_command(
    no_roles: MongoClient[Any], cmd: dict[str, Any], code: int, message: str
) -> None:
    """mongod parses a typed command and aggregate (its Command::parse) before it checks
    privileges, so a user who may not run it still learns what is malformed, as the administrator
    would."""
    assert _refusal(no_roles.lessons, cmd) == (code, message)


@pytest.mark.parametrize(
    "cmd",
    [
        {"insert": "w", "documents": [{"_id": 1}]},
        {"update": "w", "updates": [{"q": {}, "u": {"$set": {"v": 1}}}]},
        {"delete": "w", "deletes": [{"q": {}, "limit": 0}]},
        {"findAndModify": "w", "query": {}, "remove": True},
        {"aggregate": "w", "pipeline": [{"$match": {}}], "cursor": {}},
        {"create": "w", "capped": False},
        {"drop": "w"},
        {"createIndexes": "w", "indexes": [{"key": {"a": 1}, "name": "a_1"}]},
        {"listIndexes": "w", "cursor": {}},
        {"dropIndexes": "w", "index": "*"},
        {"listCollections": "w", "filter": {}, "nameOnly": True},
        {"dbStats": "w", "scale": 1024},
    ],
)
def test_a_user_without_the_privilege_gets_13_for_a_well_formed_command(
    no_roles: MongoClient[Any], cmd: dict[str, Any]
) -> None:
    code, message = _refusal(no_roles.lessons, cmd)
    assert code == 13
    assert message.startswith(f'not authorized on lessons to execute command {{ {next(iter(cmd))}: "w"')


@pytest.mark.parametrize(
    ("cmd", "code", "message"),
    [
        (
            {"create": "w", "capped": "yes"},
            14,
            "BSON field 'create.capped' is the wrong type 'string', "
            "expected types '[bool, long, int, decimal, double]'",
        ),
        ({"create": "w", "cappd": True}, 40415, "BSON field 'create.cappd' is an unknown field."),
        ({"drop": "w", "force": True}, 40415, "BSON field 'drop.force' is an unknown field."),
        ({"createIndexes": "w"}, 40414, "BSON field 'createIndexes.indexes' is missing but a required field"),
        (
            {"createIndexes": "w", "indexes": [5]},
            14,
            "BSON field 'createIndexes.indexes.0' is the wrong type 'int', expected type 'object'",
        ),
        (
            {"createIndexes": "w", "indexes": [{"key": {"a": 1}, "name": "a_1"}], "unique": True},
            40415,
            "BSON field 'createIndexes.unique' is an unknown field.",
        ),
        (
            {"listIndexes": "w", "cursor": 5},
            14,
            "BSON field 'listIndexes.cursor' is the wrong type 'int', expected type 'object'",
        ),
        (
            {"listIndexes": "w", "nameOnly": True},
            40415,
            "BSON field 'listIndexes.nameOnly' is an unknown field.",
        ),
        ({"dropIndexes": "w"}, 40414, "BSON field 'dropIndexes.index' is missing but a required field"),
        (
            {"deleteIndexes": "w", "index": 5},
            14,
            "BSON field 'dropIndexes.index' is the wrong type 'int', "
            "expected types '[string, array, object]'",
        ),
        (
            {"listCollections": 1, "nameOnly": 1},
            14,
            "BSON field 'listCollections.nameOnly' is the wrong type 'int', expected type 'bool'",
        ),
        (
            {"listCollections": 1, "names": True},
            40415,
            "BSON field 'listCollections.names' is an unknown field.",
        ),
        (
            {"dbStats": 1, "scale": "kb"},
            14,
            "BSON field 'dbStats.scale' is the wrong type 'string', "
            "expected types '[long, int, decimal, double]'",
        ),
        ({"dbStats": 1, "freeStorag": 1}, 40415, "BSON field 'dbStats.freeStorag' is an unknown field."),
    ],
)
def test_the_catalog_commands_parse_before_their_privileges_and_refuse_unknown_fields(
    no_roles: MongoClient[Any],
    admin: MongoClient[Any],
    db_name: str,
    cmd: dict[str, Any],
    code: int,
    message: str,
) -> None:
    """create, drop, createIndexes, listIndexes, dropIndexes, listCollections and dbStats are typed,
    strict IDL commands in 7.0: a malformed one (a misspelt option too) is refused with its parse
    error, to a user who may not run it as to the administrator, before anything is created or
    dropped."""
    assert _refusal(no_roles.lessons, cmd) == (code, message)
    assert _refusal(admin[db_name], cmd) == (code, message)
    assert "w" not in admin[db_name].list_collection_names()


@pytest.mark.parametrize(
    ("db", "cmd", "code", "message"),
    [
        (
            "$external",
            {"createUser": "kit/x"},
            40414,
            "BSON field 'createUser.roles' is missing but a required field",
        ),
        (
            "$external",
            {"grantRolesToUser": "kit/x", "roles": 5},
            14,
            "BSON field 'grantRolesToUser.roles' is the wrong type 'int', expected type 'array'",
        ),
        (
            "admin",
            {"createRole": "r", "privileges": [{"actions": ["find"]}], "roles": []},
            40414,
            "BSON field 'privilege.resource' is missing but a required field",
        ),
        (
            "admin",
            {"dropRole": 7},
            14,
            "BSON field 'dropRole.dropRole' is the wrong type 'int', expected type 'string'",
        ),
        ("$external", {"createUser": "kit/x", "roles": []}, 13, None),
    ],
)
def test_user_and_role_management_commands_parse_before_their_privileges(
    no_roles: MongoClient[Any], db: str, cmd: dict[str, Any], code: int, message: str | None
) -> None:
    """The user and role management commands are typed commands in mongod: a malformed one is
    refused with its parse error even to a user who may not manage users; a well-formed one with 13."""
    refused_code, errmsg = _refusal(no_roles[db], cmd)
    assert refused_code == code
    if message is not None:
        assert errmsg == message


def test_find_checks_the_privilege_before_it_parses_as_mongod_7_0_does(no_roles: MongoClient[Any]) -> None:
    """find parses its request in run() in 7.0 (8.0 moved it to parse()): a malformed find from a
    user without the privilege is refused with 13, not with the parse error."""
    code, _ = _refusal(no_roles.lessons, {"find": "w", "filter": 1})
    assert code == 13


def test_the_rules_between_find_and_modify_fields_come_after_the_privilege_check(
    no_roles: MongoClient[Any], admin: MongoClient[Any], db_name: str
) -> None:
    """findAndModify's validate() (update or remove, not both) runs in the command, after the
    privileges: the administrator is told the rule, the user without privileges 13."""
    cmd = {"findAndModify": "w", "query": {}}
    assert _refusal(admin[db_name], cmd) == (9, "Either an update or remove=true must be specified")
    assert _refusal(no_roles.lessons, cmd)[0] == 13


# -- hints -----------------------------------------------------------------------------------------
@pytest.fixture
def books(admin: MongoClient[Any], db_name: str) -> Any:
    coll = admin[db_name].books
    coll.insert_many([{"_id": 1, "title": "a"}, {"_id": 2, "title": "b"}])
    coll.create_index("title", name="by_title")
    return coll


def test_update_and_delete_with_a_hint_naming_no_index_are_write_errors_2(books: Any) -> None:
    ns = books.full_name
    with pytest.raises(WriteError) as update:
        books.update_one({"_id": 1}, {"$set": {"v": 1}}, hint="no_such_index")
    assert (update.value.code, update.value.details["errmsg"]) == (2, NO_HINT.format(ns=ns))
    with pytest.raises(WriteError) as delete:
        books.delete_many({}, hint={"author": 1})
    assert (delete.value.code, delete.value.details["errmsg"]) == (2, NO_HINT.format(ns=ns))
    assert books.count_documents({}) == 2
    assert books.find_one({"_id": 1}) == {"_id": 1, "title": "a"}


def test_find_find_and_modify_count_and_aggregate_with_a_hint_naming_no_index_fail_with_2(books: Any) -> None:
    ns = books.full_name
    with pytest.raises(OperationFailure) as find:
        list(books.find({}).hint("no_such_index"))
    assert (find.value.code, find.value.details["errmsg"]) == (2, NO_HINT.format(ns=ns))
    with pytest.raises(OperationFailure) as fam:
        books.find_one_and_update({"_id": 1}, {"$set": {"v": 1}}, hint=[("title", -1)])
    assert (fam.value.code, fam.value.details["errmsg"]) == (2, NO_HINT.format(ns=ns))
    assert books.find_one({"_id": 1}) == {"_id": 1, "title": "a"}
    for cmd in (
        {"count": "books", "hint": "no_such_index"},
        {"aggregate": "books", "pipeline": [], "cursor": {}, "hint": {"author": 1}},
    ):
        assert _refusal(books.database, cmd) == (2, NO_HINT.format(ns=ns))


def test_a_hint_naming_an_index_by_name_or_key_or_natural_order_is_used(books: Any) -> None:
    books.update_one({"_id": 1}, {"$set": {"v": 1}}, hint="by_title")
    books.update_one({"_id": 2}, {"$set": {"v": 2}}, hint=[("title", 1)])
    assert [d["_id"] for d in books.find({"v": {"$gt": 0}}).hint([("$natural", 1)])] == [1, 2]
    assert books.find_one_and_delete({"_id": 2}, hint="_id_") == {"_id": 2, "title": "b", "v": 2}
    assert books.database.command("count", "books", hint="by_title")["n"] == 1
    assert list(books.aggregate([{"$project": {"_id": 1}}], hint="by_title")) == [{"_id": 1}]
    assert books.delete_one({"_id": 1}, hint=[("_id", 1)]).deleted_count == 1


def test_a_hint_on_a_missing_collection_is_no_error(admin: MongoClient[Any], db_name: str) -> None:
    """No collection, no plan: mongod answers as for an empty collection."""
    coll = admin[db_name].nothing_here
    assert list(coll.find({}).hint("no_such_index")) == []
    assert coll.delete_one({}, hint="no_such_index").deleted_count == 0
    assert coll.update_one({}, {"$set": {"v": 1}}, hint="no_such_index").matched_count == 0


# -- pipeline-style updates ------------------------------------------------------------------------
def test_a_pipeline_update_stage_that_is_not_a_document_is_refused_with_14(
    admin: MongoClient[Any], db_name: str
) -> None:
    db = admin[db_name]
    db.w.insert_one({"_id": 1, "v": 0})
    message = "Each element of the 'pipeline' array must be an object"
    update = {"update": "w", "updates": [{"q": {"_id": 1}, "u": [{"$set": {"v": 1}}, 5]}]}
    assert _refusal(db, update) == (14, message)
    fam = {"findAndModify": "w", "query": {"_id": 1}, "update": [{"$set": {"v": 1}}, "x"]}
    assert _refusal(db, fam) == (14, message)
    assert _refusal(db, {"aggregate": "w", "pipeline": [{"$match": {}}, 5], "cursor": {}}) == (14, message)
    assert list(db.w.find()) == [{"_id": 1, "v": 0}]
    db.w.update_one({"_id": 1}, [{"$set": {"v": 2}}])
    assert db.w.find_one() == {"_id": 1, "v": 2}
