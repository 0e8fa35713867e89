"""CRUD, cursor, aggregation and catalog commands of the test mongod, with mongod's reply shapes.

Each handler parses the command as mongod does (types, required fields, error codes and messages
of a 7.0 standalone), lets ``data.DataStore`` (mongomock underneath) evaluate filters, updates and
pipelines, and answers in mongod's shape: cursors ``{firstBatch|nextBatch, id: Int64, ns}``,
``writeErrors`` with the failing ``index``, ``E11000`` duplicate keys, ``n``/``nModified``/``upserted``.
What a standalone refuses (transactions, change streams) is refused with mongod's codes and texts.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import bson
from bson.int64 import Int64

from ..oidc.tokenparse import NUMBER_TYPES, bson_type_name
from .authz import Requirement, Resource, bson_to_string, privileges_grant, user_privileges
from .cursors import CursorManager
from .data import (
    ID_INDEX_NAME,
    MAX_USER_DOCUMENT_BYTES,
    CollectionInfo,
    DataStore,
    DuplicateKey,
    engine_error,
    index_name,
    new_object_id,
    rewrite_pipeline,
    run_pipeline,
)
from .engine import PIPELINE_STAGES, filter_applies, is_engine_error, normalize, project, store_key
from .idl import (
    GENERIC_ARGUMENTS,
    MAX_WRITE_BATCH_SIZE,
    SAFE_BOOL,
    FieldType,
    any_value,
    array_of,
    check_command,
    command_parser,
    index_hint,
    multi_delete,
    optional_bool,
    pipeline_array,
    safe_bool,
    update_modification,
    wrong_type,
)
from .privileges import AGGREGATE, AUTHENTICATED, FIND_AND_MODIFY, UPDATE, on_collection, on_database
from .registry import CommandContext, CommandError, Document, Parser, command


def _store(ctx: CommandContext) -> DataStore:
    store: DataStore = ctx.server.data
    return store


def _cursors(ctx: CommandContext) -> CursorManager:
    manager = getattr(ctx.server, "cursors", None)
    if manager is None:
        manager = CursorManager()
        ctx.server.cursors = manager
    return manager


def _owners(ctx: CommandContext) -> list[tuple[str, str]]:
    return [(u.user, u.db) for u in ctx.users]


# -- parsing helpers -------------------------------------------------------------------------------
def _refuse_transactions(cmd: Document) -> None:
    """A standalone has no transactions (nor retryable writes): mongod's check on txnNumber."""
    if "txnNumber" in cmd or "autocommit" in cmd or "startTransaction" in cmd:
        raise CommandError(
            20, "Transaction numbers are only allowed on a replica set member or mongos", "IllegalOperation"
        )


def _collection_name(ctx: CommandContext, cmd: Document, field: str | None = None) -> str:
    key = field or ctx.command_name
    name = cmd.get(key)
    if name is None and field is None:
        name = next(iter(cmd.values()), None)
    if not isinstance(name, str):
        raise CommandError(
            2,
            f"collection name has invalid type {bson_type_name(name)}",
            "BadValue",
        )
    if not name or "\x00" in name or "$" in name or name.startswith(".") or name.endswith("."):
        raise CommandError(73, f"Invalid namespace specified '{ctx.db}.{name}'", "InvalidNamespace")
    return name


def _collection_command(ctx: CommandContext, cmd: Document) -> tuple[DataStore, str]:
    """The store and the collection a command names, once transaction fields are refused (mongod
    checks those first)."""
    _refuse_transactions(cmd)
    return _store(ctx), _collection_name(ctx, cmd)


def _existing_collection(
    ctx: CommandContext, cmd: Document, missing: str
) -> tuple[DataStore, CollectionInfo]:
    """The store and the collection the command names, which must exist: else 26 NamespaceNotFound
    with this command's own text (``missing``, where ``{ns}`` stands for the namespace)."""
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    info = store.info(ctx.db, name)
    if info is None:
        raise CommandError(26, missing.format(ns=_ns(ctx, name)), "NamespaceNotFound")
    return store, info


def _number(cmd: Document, name: str, command_name: str) -> int | None:
    if name not in cmd or cmd[name] is None:
        return None
    value = cmd[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wrong_type(f"{command_name}.{name}", value, NUMBER_TYPES)
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(2, f"Expected field {name} to be an integer value", "BadValue")
    return int(value)


def _non_negative(cmd: Document, name: str, command_name: str) -> int | None:
    value = _number(cmd, name, command_name)
    if value is not None and value < 0:
        raise CommandError(
            51024, f"BSON field '{name}' value must be >= 0, actual value '{value}'", "Location51024"
        )
    return value


def _document(cmd: Document, name: str, command_name: str) -> Document | None:
    if name not in cmd or cmd[name] is None:
        return None
    value = cmd[name]
    if not isinstance(value, dict):
        raise wrong_type(f"{command_name}.{name}", value, "object")
    return value


def _sync(cmd: Document) -> bool:
    """fsync before acknowledging, unless the write concern asks for no acknowledgement (w:0) or
    explicitly for no journal (j:false); those are fsynced within 100 ms, as mongod's journal."""
    wc = cmd.get("writeConcern")
    if not isinstance(wc, dict):
        return True
    if wc.get("w") == 0 or wc.get("j") is False:
        return False
    return True


def _run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call into the engine; its failures become mongod's error replies."""
    try:
        return fn(*args, **kwargs)
    except CommandError:
        raise
    except DuplicateKey as exc:
        raise exc.to_error() from exc
    except Exception as exc:
        if not is_engine_error(exc):
            raise  # a bug of the kit: the server logs it as one, the client does not get a query error
        raise engine_error(exc) from exc


def _ns(ctx: CommandContext, name: str) -> str:
    return f"{ctx.db}.{name}"


# -- find / getMore / killCursors ------------------------------------------------------------------
def query_documents(
    store: DataStore,
    info: CollectionInfo | None,
    filt: Document,
    projection: Document | None,
    sort: Document | None,
    skip: int,
    limit: int,
) -> list[Document]:
    """Matching documents as copies, sorted, skipped, limited and projected by mongomock."""
    if info is None:
        if filt:
            _run(lambda: store.validate_filter(filt))
        return []
    if not sort and not skip:
        # The point-lookup path: no sort, the store's own _id index (filter still checked).
        matches = _run(lambda: store.matching(info, filt, first=limit == 1))
        if limit:
            matches = matches[:limit]
        coll = store.collection(info.db, info.name)
        return [_run(project, coll, d, projection) for d in matches]
    coll = store.collection(info.db, info.name)
    sort_list = list(sort.items()) if sort else None

    def run() -> list[Document]:
        return list(coll.find(normalize(filt), projection, skip=skip, limit=limit, sort=sort_list))

    return list(_run(run))


@command("find", privileges=on_collection("find"))
def find(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    filt = _document(cmd, "filter", "find") or {}
    projection = _document(cmd, "projection", "find")
    sort = _document(cmd, "sort", "find")
    skip = _non_negative(cmd, "skip", "find") or 0
    limit = _number(cmd, "limit", "find") or 0
    batch_size = _non_negative(cmd, "batchSize", "find")
    single_batch = bool(cmd.get("singleBatch"))
    if limit < 0:
        # mongod 7.0 refuses a negative limit in the find command (the legacy meaning is singleBatch).
        raise CommandError(51024, f"BSON field 'limit' value must be >= 0, actual value '{limit}'")
    if sort:
        for key, direction in sort.items():
            if not (isinstance(direction, (int, float)) and direction in (1, -1)) and not isinstance(
                direction, dict
            ):
                raise CommandError(
                    15974,
                    f"Illegal key in $sort specification: {key}: {bson_to_string(direction)}",
                    "Location15974",
                )
    info = store.info(ctx.db, name)
    if info is not None:  # a missing collection needs no plan, so no index (mongod answers [])
        info.check_hint(cmd.get("hint"))
    docs = query_documents(store, info, filt, projection, sort, skip, limit)
    if limit and batch_size is not None and limit <= batch_size:
        single_batch = True
    return _cursors(ctx).first_batch(
        _ns(ctx, name), docs, _owners(ctx), batch_size=batch_size, single_batch=single_batch
    )


@command("getMore", privileges=AUTHENTICATED)
def get_more(ctx: CommandContext, cmd: Document) -> Document:
    cursor_id = cmd.get("getMore")
    if not isinstance(cursor_id, Int64):
        raise wrong_type("getMore.getMore", cursor_id, "long")
    coll = cmd.get("collection")
    if not isinstance(coll, str):
        raise wrong_type("getMore.collection", coll, "string")
    batch_size = _non_negative(cmd, "batchSize", "getMore")
    return _cursors(ctx).get_more(int(cursor_id), _ns(ctx, coll), _owners(ctx), batch_size)


@command("killCursors", privileges=AUTHENTICATED)
def kill_cursors(ctx: CommandContext, cmd: Document) -> Document:
    name = _collection_name(ctx, cmd)
    ids = cmd.get("cursors")
    if not isinstance(ids, list) or not all(isinstance(i, Int64) for i in ids):
        raise CommandError(
            14,
            "BSON field 'killCursors.cursors' is the wrong type, expected type 'array' of long",
            "TypeMismatch",
        )
    return _cursors(ctx).kill(_ns(ctx, name), [int(i) for i in ids], _owners(ctx))


# -- writes ----------------------------------------------------------------------------------------
# The fields insert, update and delete share (write_ops.idl's WriteCommandRequestBase).
_WRITE_COMMAND_FIELDS: dict[str, FieldType] = {
    "bypassDocumentValidation": SAFE_BOOL,
    "ordered": "bool",
    "stmtId": "int",
    "stmtIds": "array",
}

# Each command's fields as write_ops.idl declares them; the command and each statement are strict,
# and mongod parses every statement before the first is executed. Not declared (so refused as
# unknown): the internal fields mongod's routers send (sampleId, collectionUUID,
# $_allowShardKeyUpdatesWithoutFullShardKeyInQuery...), which a driver never sends.
_WRITE_FIELDS: dict[str, dict[str, FieldType]] = {
    "insert": {**_WRITE_COMMAND_FIELDS, "documents": array_of("insert.documents")},
    "update": {
        **_WRITE_COMMAND_FIELDS,
        "updates": array_of(
            "update.updates",
            {
                "q": "object",
                "u": update_modification,
                "c": "object",
                "arrayFilters": array_of("update.updates.arrayFilters"),
                "hint": index_hint,
                "multi": "bool",
                "upsert": "bool",
                "upsertSupplied": optional_bool("upsertSupplied"),
                "collation": "object",
            },
            ("q", "u"),
        ),
        "let": "object",
        "runtimeConstants": "object",
    },
    "delete": {
        **_WRITE_COMMAND_FIELDS,
        "deletes": array_of(
            "delete.deletes",
            {"q": "object", "limit": multi_delete, "hint": index_hint, "collation": "object"},
            ("q", "limit"),
        ),
        "let": "object",
        "runtimeConstants": "object",
    },
}


def _write_parser(command_name: str, field: str) -> Parser:
    """mongod's parse of a write command (its Invocation parses the whole request, as
    write_ops.idl declares it, and checks the batch size): a malformed field or statement anywhere
    fails the command before any statement runs, and before the privilege check. A null statement
    is skipped (IDL drops it); a batch holds 1 to 100,000 of them."""
    request = command_parser(command_name, _WRITE_FIELDS[command_name], field)

    def parse(cmd: Document) -> None:
        request(cmd)
        count = sum(1 for s in cmd[field] if s is not None)
        if not 1 <= count <= MAX_WRITE_BATCH_SIZE:
            raise CommandError(
                16,
                f"Write batch sizes must be between 1 and {MAX_WRITE_BATCH_SIZE}. Got {count} operations.",
                "InvalidLength",
            )

    return parse


def _prepare_insert(doc: Document) -> Document:
    if "_id" not in doc:
        # mongod puts a generated _id first.
        doc = {"_id": new_object_id(), **doc}
    elif isinstance(doc["_id"], list):
        raise CommandError(53, "The '_id' value cannot be of type array", "InvalidIdField")
    elif isinstance(doc["_id"], bson.regex.Regex) or hasattr(doc["_id"], "pattern"):
        raise CommandError(53, "can't use a regex for _id", "InvalidIdField")
    size = len(bson.encode(doc))
    if size > MAX_USER_DOCUMENT_BYTES:
        raise CommandError(
            2, f"object to insert too large. size in bytes: {size}, max size: {MAX_USER_DOCUMENT_BYTES}"
        )
    return normalize(doc)


def _write_error(index: int, exc: Exception) -> Document:
    if isinstance(exc, DuplicateKey):
        return exc.to_write_error(index)
    err = exc if isinstance(exc, CommandError) else engine_error(exc)
    out: Document = {"index": index, "code": err.code, "errmsg": err.errmsg}
    if err.code_name:
        out["codeName"] = err.code_name
    return out


def _write_statements(
    ctx: CommandContext, cmd: Document, field: str, write: Callable[[DataStore, str, int, Document], None]
) -> list[Document]:
    """What insert, update and delete share, once the command parsed (``_write_parser``): refuse
    transactions, ``write`` each statement in one journaled unit, and collect mongod's
    ``writeErrors`` (an ``ordered`` batch, the default, stops at the first).
    ``write(store, collection, index, statement)`` counts what it did itself."""
    store, name = _collection_command(ctx, cmd)
    statements = [s for s in cmd[field] if s is not None]
    ordered = cmd.get("ordered") is not False
    errors: list[Document] = []
    with store.journaled(sync=_sync(cmd)):
        for index, statement in enumerate(statements):
            try:
                write(store, name, index, statement)
            except (CommandError, DuplicateKey) as exc:
                errors.append(_write_error(index, exc))
                if ordered:
                    break
    return errors


def _write_reply(reply: Document, errors: list[Document]) -> Document:
    """A write command's reply: its counts, and ``writeErrors`` when a statement failed."""
    if errors:
        reply["writeErrors"] = errors
    return reply


@command("insert", privileges=on_collection("insert"), parse=_write_parser("insert", "documents"))
def insert(ctx: CommandContext, cmd: Document) -> Document:
    n = 0

    def write(store: DataStore, name: str, index: int, raw: Document) -> None:
        nonlocal n
        # Created before the first document is checked, so a batch whose documents are all refused
        # still leaves the collection behind (a no-op once it exists).
        info, _ = store.ensure_collection(ctx.db, name)
        doc = _prepare_insert(raw)
        store.check_unique(info, doc, None)
        store.put(info, doc, None)
        n += 1

    errors = _write_statements(ctx, cmd, "documents", write)
    return _write_reply({"n": n}, errors)


def _put_upserted(store: DataStore, info: CollectionInfo, new: Document) -> Document:
    """Store the document an upsert made (a generated _id first when it has none); the stored one."""
    if "_id" not in new:
        new = {"_id": new_object_id(), **new}
    _run(lambda: store.check_unique(info, new, None))
    store.put(info, new, None)
    return new


def _update_one(
    store: DataStore,
    info: CollectionInfo,
    spec: Document,
) -> tuple[int, int, Any]:
    """One update statement, parsed (``_write_parser``): (matched, modified, upserted _id or None)."""
    q, u = spec["q"], spec["u"]
    multi = bool(spec.get("multi"))
    upsert = bool(spec.get("upsert"))
    array_filters = spec.get("arrayFilters")
    if isinstance(u, dict) and u:
        keys = list(u)
        operators = [k.startswith("$") for k in keys]
        if any(operators) and not all(operators):
            bad = keys[operators.index(False)] if operators[0] else keys[operators.index(True)]
            if operators[0]:
                raise CommandError(
                    9,
                    f"Unknown modifier: {bad}. Expected a valid update modifier or pipeline-style update "
                    "specified as an array",
                    "FailedToParse",
                )
            raise CommandError(
                52,
                f"The dollar ($) prefixed field '{bad}' in '{bad}' is not allowed in the context of an "
                "update's replacement document. Consider using an aggregation pipeline with $replaceWith.",
                "DollarPrefixedFieldName",
            )
        if multi and not any(operators):
            raise CommandError(
                9, "multi update is not supported for replacement-style update", "FailedToParse"
            )
    # mongod plans the statement (the hint) once its update parsed (ParsedUpdate, just above).
    info.check_hint(spec.get("hint"))
    matches = _run(lambda: store.matching(info, q, first=not multi))
    if not matches:
        if not upsert:
            return 0, 0, None
        new = _run(lambda: store.apply_update(None, q, u, array_filters=array_filters, upsert=True))
        if new is None:
            return 0, 0, None
        return 0, 0, _put_upserted(store, info, new)["_id"]
    modified = 0
    for old in matches:
        new = _run(store.apply_update, old, q, u, array_filters=array_filters)
        if new is None:
            continue
        _run(store.check_unique, info, new, old)
        store.put(info, new, old)
        modified += 1
    return len(matches), modified, None


@command("update", privileges=UPDATE, parse=_write_parser("update", "updates"))
def update(ctx: CommandContext, cmd: Document) -> Document:
    n = modified = 0
    upserted: list[Document] = []

    def write(store: DataStore, name: str, index: int, spec: Document) -> None:
        nonlocal n, modified
        info = store.info(ctx.db, name)
        if info is None:
            if not spec.get("upsert"):
                return
            info, _ = store.ensure_collection(ctx.db, name)
        matched, changed, upserted_id = _update_one(store, info, spec)
        n += matched
        modified += changed
        if upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": upserted_id})

    errors = _write_statements(ctx, cmd, "updates", write)
    reply: Document = {"n": n, "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    return _write_reply(reply, errors)


@command("delete", privileges=on_collection("remove"), parse=_write_parser("delete", "deletes"))
def delete(ctx: CommandContext, cmd: Document) -> Document:
    n = 0

    def write(store: DataStore, name: str, index: int, spec: Document) -> None:
        nonlocal n
        info = store.info(ctx.db, name)
        if info is None:
            return
        info.check_hint(spec.get("hint"))
        for doc in _run(store.matching, info, spec["q"], first=not multi_delete(spec["limit"])):
            store.remove(info, doc)
            n += 1

    errors = _write_statements(ctx, cmd, "deletes", write)
    return _write_reply({"n": n}, errors)


# findAndModify's fields as mongod's IDL declares them (write_ops.idl), checked before the rules
# between them (_check_find_and_modify, mongod's validate()).
_FIND_AND_MODIFY_FIELDS: dict[str, FieldType] = {
    "query": "object",
    "fields": "object",
    "sort": "object",
    "collation": "object",
    "hint": index_hint,
    "arrayFilters": array_of("findAndModify.arrayFilters"),
    "remove": SAFE_BOOL,
    "update": update_modification,
    "upsert": SAFE_BOOL,
    "new": SAFE_BOOL,
    "bypassDocumentValidation": SAFE_BOOL,
    "let": "object",
}


def _parse_find_and_modify(cmd: Document) -> None:
    """mongod's parse of findAndModify (a TypedCommand: the IDL request); the rules between its
    fields (``_check_find_and_modify``, mongod's validate()) run in the command, after the
    privilege check."""
    check_command(cmd, "findAndModify", _FIND_AND_MODIFY_FIELDS)


@command("findAndModify", "findandmodify", privileges=FIND_AND_MODIFY, parse=_parse_find_and_modify)
def find_and_modify(ctx: CommandContext, cmd: Document) -> Document:
    _refuse_transactions(cmd)
    store = _store(ctx)
    name = _collection_name(ctx, cmd, ctx.command_name if ctx.command_name in cmd else "findandmodify")
    _check_find_and_modify(cmd)
    query = cmd.get("query") or {}
    info = store.info(ctx.db, name)
    if info is not None:
        info.check_hint(cmd.get("hint"))
    target = _find_one(store, info, query, cmd.get("sort"))
    coll = store.collection(ctx.db, name)
    fields = cmd.get("fields")

    def shown(doc: Document | None) -> Document | None:
        return None if doc is None else _run(lambda: project(coll, doc, fields))

    with store.journaled(sync=_sync(cmd)):
        if safe_bool(cmd.get("remove")):
            if target is None or info is None:
                return {"lastErrorObject": {"n": 0}, "value": None}
            value = shown(target)
            store.remove(info, target)
            return {"lastErrorObject": {"n": 1}, "value": value}
        if target is None:
            return _find_and_upsert(ctx, cmd, store, name, query, shown)
        assert info is not None  # a target was found in it
        before = copy.deepcopy(target)
        new = _run(
            lambda: store.apply_update(
                target, query, cmd.get("update"), array_filters=cmd.get("arrayFilters")
            )
        )
        if new is not None:
            _run(lambda: store.check_unique(info, new, target))
            store.put(info, new, target)
        after = new if new is not None else before
        return {
            "lastErrorObject": {"n": 1, "updatedExisting": True},
            "value": shown(after if safe_bool(cmd.get("new")) else before),
        }


def _check_find_and_modify(cmd: Document) -> None:
    """Exactly one of update and remove; remove takes neither upsert, new nor arrayFilters, nor does
    a pipeline update take arrayFilters (mongod's validate(): its order and texts, the trailing
    space of the upsert one included)."""
    remove, update_spec = safe_bool(cmd.get("remove")), cmd.get("update")
    if not remove and update_spec is None:
        raise CommandError(9, "Either an update or remove=true must be specified", "FailedToParse")
    if not remove:
        if isinstance(update_spec, list) and cmd.get("arrayFilters") is not None:
            raise CommandError(9, "Cannot specify arrayFilters and a pipeline update", "FailedToParse")
        return
    if update_spec is not None:
        raise CommandError(9, "Cannot specify both an update and remove=true", "FailedToParse")
    if safe_bool(cmd.get("upsert")):
        raise CommandError(9, "Cannot specify both upsert=true and remove=true ", "FailedToParse")
    if safe_bool(cmd.get("new")):
        raise CommandError(
            9,
            "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document",
            "FailedToParse",
        )
    if cmd.get("arrayFilters") is not None:
        raise CommandError(9, "Cannot specify arrayFilters and remove=true", "FailedToParse")


def _find_one(
    store: DataStore, info: CollectionInfo | None, query: Document, sort: Document | None
) -> Document | None:
    """The stored document findAndModify acts on: the first match, in ``sort`` order if given."""
    if info is None:
        return None
    if sort:
        found = query_documents(store, info, query, None, sort, 0, 1)
        return store.get(info, store_key(found[0]["_id"])) if found else None
    matches = _run(store.matching, info, query, first=True)
    return matches[0] if matches else None


def _find_and_upsert(
    ctx: CommandContext,
    cmd: Document,
    store: DataStore,
    name: str,
    query: Document,
    shown: Callable[[Document | None], Document | None],
) -> Document:
    """No document matched: insert the upsert's document (creating the collection), or report none."""
    nothing = {"lastErrorObject": {"n": 0, "updatedExisting": False}, "value": None}
    if not safe_bool(cmd.get("upsert")):
        return nothing
    info, created = store.ensure_collection(ctx.db, name)
    if created:
        # mongod creates the collection before it plans the upsert's query (the hint is checked
        # here, on the new collection, and the collection stays).
        info.check_hint(cmd.get("hint"))
    new = _run(
        lambda: store.apply_update(
            None, query, cmd.get("update"), array_filters=cmd.get("arrayFilters"), upsert=True
        )
    )
    if new is None:
        return nothing
    new = _put_upserted(store, info, new)
    return {
        "lastErrorObject": {"n": 1, "updatedExisting": False, "upserted": new["_id"]},
        "value": shown(new) if safe_bool(cmd.get("new")) else None,
    }


# -- count / distinct ------------------------------------------------------------------------------
@command("count", privileges=on_collection("find"))
def count(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    query = _document(cmd, "query", "count") or {}
    skip = _non_negative(cmd, "skip", "count") or 0
    limit = abs(_number(cmd, "limit", "count") or 0)
    info = store.info(ctx.db, name)
    if info is None:
        return {"n": 0}
    info.check_hint(cmd.get("hint"))
    n = store.count(info) if not query else len(_run(lambda: store.matching(info, query)))
    n = max(0, n - skip)
    if limit:
        n = min(n, limit)
    return {"n": n}


@command("distinct", privileges=on_collection("find"))
def distinct(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    key = cmd.get("key")
    if not isinstance(key, str):
        raise wrong_type("distinct.key", key, "string")
    query = _document(cmd, "query", "distinct") or {}
    info = store.info(ctx.db, name)
    if info is None:
        return {"values": []}
    coll = store.collection(ctx.db, name)
    return {"values": list(_run(lambda: coll.distinct(key, normalize(query))))}


# -- aggregate -------------------------------------------------------------------------------------
# Stage names mongod 7.0 knows (mongomock's table plus the aliases data.rewrite_pipeline spells out).
KNOWN_STAGES = set(PIPELINE_STAGES) | {
    "$unionWith",
    "$densify",
    "$fill",
    "$setWindowFields",
    "$search",
    "$searchMeta",
    "$documents",
    "$changeStream",
    "$changeStreamSplitLargeEvent",
    "$listSearchIndexes",
    "$shardedDataDistribution",
}
_DB_LEVEL_STAGES = {"$currentOp", "$listLocalSessions", "$documents", "$changeStream"}


# aggregate's fields as aggregate_command.idl declares them (a strict command). Not declared (so
# refused as unknown): the internal ones mongod's routers send (needsMerge, fromMongos, exchange,
# collectionUUID, $_passthroughToShard...), which a driver never sends.
_AGGREGATE_FIELDS: dict[str, FieldType] = {
    "pipeline": pipeline_array,
    "explain": any_value,  # the command refuses an explain (the kit has no planner)
    "allowDiskUse": optional_bool("allowDiskUse"),
    "cursor": any_value,  # checked below, with mongod's texts
    "bypassDocumentValidation": SAFE_BOOL,
    "readConcern": "object",
    "collation": "object",
    "hint": index_hint,
    "writeConcern": "object",
    "let": "object",
}


# A null pipeline is pipeline_stages' to refuse (its own parser), an absent one is 40414.
_AGGREGATE_REQUEST = command_parser("aggregate", _AGGREGATE_FIELDS, "pipeline")


def _parse_aggregate(cmd: Document) -> None:
    """mongod's parse of aggregate (PipelineCommand::parse: the request as aggregate_command.idl
    declares it, then the lite-parsed pipeline), before the privilege check: only declared and
    generic fields, the pipeline an array of one-field documents naming known stages, and a
    ``cursor`` unless it is an explain, its batchSize not negative."""
    _AGGREGATE_REQUEST(cmd)
    for stage in cmd["pipeline"]:
        if len(stage) != 1:
            raise CommandError(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
                "Location40323",
            )
        if next(iter(stage)) not in KNOWN_STAGES:
            raise CommandError(
                40324, f"Unrecognized pipeline stage name: '{next(iter(stage))}'", "Location40324"
            )
    cursor_opts = cmd.get("cursor")
    if not isinstance(cursor_opts, dict) and not cmd.get("explain"):
        raise CommandError(
            9,
            "The 'cursor' option is required, except for aggregate with the explain argument",
            "FailedToParse",
        )
    if isinstance(cursor_opts, dict):
        _non_negative(cursor_opts, "batchSize", "aggregate.cursor")


@command("aggregate", privileges=AGGREGATE, parse=_parse_aggregate)
def aggregate(ctx: CommandContext, cmd: Document) -> Document:
    _refuse_transactions(cmd)
    pipeline: list[Document] = cmd["pipeline"]
    stage_names = [next(iter(s)) for s in pipeline]
    if "$changeStream" in stage_names:
        raise CommandError(
            40573, "The $changeStream stage is only supported on replica sets", "Location40573"
        )
    if cmd.get("explain"):
        raise CommandError(
            2, "explain is not supported by the kit's test server (it has no query planner)", "BadValue"
        )
    cursor_opts: Document = cmd["cursor"]
    _refuse_database_aggregation(cmd.get("aggregate"), stage_names)
    name = _collection_name(ctx, cmd)
    info = _store(ctx).info(ctx.db, name)
    if info is not None:
        info.check_hint(cmd.get("hint"))
    out_target, pipeline = _split_out(ctx, pipeline, stage_names)
    docs = _evaluate(ctx, name, rewrite_pipeline(pipeline), stage_names)
    if out_target is not None:
        _replace_collection(_store(ctx), out_target[0], out_target[1], docs, sync=_sync(cmd))
        docs = []
    batch_size = _non_negative(cursor_opts, "batchSize", "aggregate.cursor")
    return _cursors(ctx).first_batch(_ns(ctx, name), docs, _owners(ctx), batch_size=batch_size)


def _refuse_database_aggregation(target: Any, stage_names: list[str]) -> None:
    """``{aggregate: 1}`` needs a database-level first stage, and the kit serves none of those."""
    if target != 1:
        return
    first = stage_names[0] if stage_names else None
    if first not in _DB_LEVEL_STAGES:
        raise CommandError(
            73,
            f"{{aggregate: 1}} is not valid for '{first or '$match'}'; a collection is required.",
            "InvalidNamespace",
        )
    raise CommandError(2, f"the kit's test server does not support the {first} stage", "BadValue")


def _split_out(
    ctx: CommandContext, pipeline: list[Document], stage_names: list[str]
) -> tuple[tuple[str, str] | None, list[Document]]:
    """A final $out's (db, collection) and the pipeline before it; $merge is refused."""
    last = stage_names[-1] if stage_names else None
    if last == "$merge":
        raise CommandError(2, "the kit's test server does not support $merge; use $out", "BadValue")
    if last != "$out":
        return None, pipeline
    spec = pipeline[-1]["$out"]
    if isinstance(spec, str):
        return (ctx.db, spec), pipeline[:-1]
    if isinstance(spec, dict) and isinstance(spec.get("coll"), str):
        return (str(spec.get("db", ctx.db)), spec["coll"]), pipeline[:-1]
    raise CommandError(
        16990,
        "$out only supports a string or object argument, but found " + bson_type_name(spec),
        "Location16990",
    )


def _evaluate(
    ctx: CommandContext, name: str, pipeline: list[Document], stage_names: list[str]
) -> list[Document]:
    """The pipeline's results; on a missing collection, none (unless a stage reads another one), but
    an invalid pipeline still fails."""
    store = _store(ctx)
    coll = store.collection(ctx.db, name)
    docs: list[Document] = _run(run_pipeline, coll, normalize(pipeline))
    if store.info(ctx.db, name) is None and not any(
        s in ("$lookup", "$unionWith", "$facet") for s in stage_names
    ):
        return []
    return docs


def _replace_collection(store: DataStore, db: str, name: str, docs: list[Document], *, sync: bool) -> None:
    """$out: the target collection's documents become ``docs`` (its indexes stay, as in mongod)."""
    with store.journaled(sync=sync):
        info, _ = store.ensure_collection(db, name)
        for old in store.documents(info):
            store.remove(info, old)
        for doc in docs:
            prepared = _prepare_insert(doc)
            _run(store.check_unique, info, prepared, None)
            store.put(info, prepared, None)


# -- catalog ---------------------------------------------------------------------------------------
# The catalog and statistics commands below are typed commands in 7.0 (TypedCommand: CmdCreate,
# CmdDrop, CmdCreateIndexes, CmdListIndexes, CmdDropIndexes, CmdListCollections, CmdDbStats), so
# mongod parses each request, as its IDL declares it, before it checks privileges. Every one of those
# commands is strict (create.idl, drop.idl, create_indexes.idl, list_indexes.idl, drop_indexes.idl and
# list_collections.idl say so; dbcommands.idl's dbStats takes IDL's default, strict): a field it does
# not declare is refused (40415). A UUID field (collectionUUID) is declared, unchecked: the kit does
# not compare it. What a field's value means (a capped size, an index spec, a scale of 0) is the
# command's to check, after the privileges. The field lists are read from the stored mongodb/mongo
# IDL files (5.0 to master, which agree on these commands being typed and strict) with what 7.0
# added or removed (create: changeStreamPreAndPostImages and encryptedFields in, recordPreImages out
# since 6.0): UNCONFIRMED against the r7.0 tag itself.
_CREATE_FIELDS: dict[str, FieldType] = {
    "capped": SAFE_BOOL,
    "autoIndexId": SAFE_BOOL,
    "idIndex": "object",
    "size": NUMBER_TYPES,
    "max": NUMBER_TYPES,
    "storageEngine": "object",
    "validator": "object",
    "validationLevel": "string",
    "validationAction": "string",
    "indexOptionDefaults": "object",
    "viewOn": "string",
    "pipeline": array_of("create.pipeline"),
    "collation": "object",
    "changeStreamPreAndPostImages": "object",
    "timeseries": "object",
    "clusteredIndex": any_value,  # a bool or a clustered index spec
    "expireAfterSeconds": NUMBER_TYPES,
    "encryptedFields": "object",
    "temp": SAFE_BOOL,
    "flags": NUMBER_TYPES,
}


@command(
    "create", privileges=on_collection("createCollection"), parse=command_parser("create", _CREATE_FIELDS)
)
def create(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    if store.info(ctx.db, name) is not None:
        # mongod's text; whether 7.0 instead accepts a create with identical options is UNCONFIRMED.
        raise CommandError(48, f"Collection already exists. NS: {ctx.db}.{name}", "NamespaceExists")
    options = {k: v for k, v in cmd.items() if k != "create" and k not in GENERIC_ARGUMENTS}
    with store.journaled(sync=_sync(cmd)):
        store.create_collection(ctx.db, name, options)
    return {}


@command(
    "drop",
    privileges=on_collection("dropCollection"),
    parse=command_parser("drop", {"collectionUUID": any_value}),
)
def drop(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    with store.journaled(sync=_sync(cmd)):
        count = store.drop_collection(ctx.db, name)
    _cursors(ctx).drop_namespace(_ns(ctx, name))
    # mongod 7.0 no longer fails a drop of a missing collection (NamespaceNotFound was 6.x and older).
    if count == 0:
        return {}
    return {"nIndexesWas": count, "ns": _ns(ctx, name)}


@command("dropDatabase", privileges=on_database("dropDatabase"))
def drop_database(ctx: CommandContext, cmd: Document) -> Document:
    _refuse_transactions(cmd)
    store = _store(ctx)
    with store.journaled(sync=_sync(cmd)):
        store.drop_database(ctx.db)
    _cursors(ctx).drop_namespace(ctx.db)
    return {}


def _database_size(store: DataStore, db: str) -> int:
    total = 0
    for name in store.collection_names(db):
        info = store.info(db, name)
        if info is not None:
            total += sum(len(bson.encode(d)) for d in store.documents(info))
    return total


def _may_see_database(privileges: list[Document], db: str) -> bool:
    """mongod's authorizedDatabases: a database is shown when the user holds any privilege in it."""
    for p in privileges:
        res = p.get("resource", {})
        if res.get("anyResource"):
            return True
        if "db" in res and res.get("db") in ("", db) and p.get("actions"):
            return True
    return False


@command("listDatabases", privileges=AUTHENTICATED, admin_only=True)
def list_databases(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    filt = _document(cmd, "filter", "listDatabases")
    name_only = bool(cmd.get("nameOnly"))
    names = store.database_names()
    privileges = user_privileges(ctx.authz, ctx.users) if ctx.config.authorization else []
    see_all = not ctx.config.authorization or privileges_grant(
        privileges, Requirement(Resource.cluster(), ("listDatabases",))
    )
    authorized = cmd.get("authorizedDatabases")
    if not see_all and authorized is False:
        raise CommandError(
            13, f"not authorized on admin to execute command {bson_to_string(cmd)}", "Unauthorized"
        )
    if not see_all or authorized is True:
        names = [n for n in names if _may_see_database(privileges, n)] if ctx.config.authorization else names
    entries: list[Document] = []
    total = 0
    for n in names:
        size = _database_size(store, n)
        entry: Document = (
            {"name": n} if name_only else {"name": n, "sizeOnDisk": Int64(size), "empty": size == 0}
        )
        if filt and not _run(_matches, filt, entry):
            continue
        entries.append(entry)
        total += size
    if name_only:
        return {"databases": entries}
    return {"databases": entries, "totalSize": Int64(total), "totalSizeMb": Int64(total // (1024 * 1024))}


def _matches(filt: Document, doc: Document) -> bool:
    return filter_applies(normalize(filt), doc)


_LIST_COLLECTIONS_FIELDS: dict[str, FieldType] = {
    "cursor": "object",
    "filter": "object",
    "nameOnly": "bool",
    "authorizedCollections": "bool",
    "includePendingDrops": SAFE_BOOL,
}


@command(
    "listCollections",
    privileges=on_database("listCollections"),
    parse=command_parser("listCollections", _LIST_COLLECTIONS_FIELDS),
)
def list_collections(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    filt = _document(cmd, "filter", "listCollections")
    name_only = bool(cmd.get("nameOnly"))
    cursor_opts = _document(cmd, "cursor", "listCollections") or {}
    batch_size = _non_negative(cursor_opts, "batchSize", "listCollections.cursor")
    infos: list[Document] = []
    for name in store.collection_names(ctx.db):
        info = store.info(ctx.db, name)
        assert info is not None
        entry: Document = {
            "name": name,
            "type": "collection",
            "options": dict(info.options),
            "info": {"readOnly": False, "uuid": info.uuid},
            "idIndex": {"v": 2, "key": {"_id": 1}, "name": ID_INDEX_NAME},
        }
        if filt and not _run(_matches, filt, entry):
            continue
        infos.append({"name": name, "type": "collection"} if name_only else entry)
    return _cursors(ctx).first_batch(
        f"{ctx.db}.$cmd.listCollections", infos, _owners(ctx), batch_size=batch_size
    )


# -- indexes ---------------------------------------------------------------------------------------
_INDEX_OPTIONS = {"unique", "sparse", "partialFilterExpression", "expireAfterSeconds", "collation", "hidden"}


def _index_spec(raw: Any) -> Document:
    if not isinstance(raw, dict):
        raise CommandError(14, "index specifications must be objects", "TypeMismatch")
    key = raw.get("key")
    if not isinstance(key, dict) or not key:
        raise (
            CommandError(2, "The 'key' field must be a non-empty object", "BadValue")
            if isinstance(key, dict)
            else CommandError(
                9,
                "Error in specification { "
                + ", ".join(raw)
                + " } :: caused by :: The 'key' field is a required property of an index specification",
                "FailedToParse",
            )
        )
    for field_name, direction in key.items():
        ok = (
            isinstance(direction, (int, float)) and not isinstance(direction, bool) and direction != 0
        ) or direction in (
            "text",
            "2dsphere",
            "2d",
            "hashed",
        )
        if not ok:
            raise CommandError(
                67,
                "Values in the index key pattern can contain only non-zero numbers or strings; "
                f"found {field_name}: {bson_to_string(direction)}",
                "CannotCreateIndex",
            )
    name = raw.get("name", index_name(key))
    if not isinstance(name, str) or not name:
        raise CommandError(9, "The 'name' field must be a non-empty string", "FailedToParse")
    spec: Document = {"v": 2, "key": dict(key), "name": name}
    for option in _INDEX_OPTIONS:
        if option in raw and raw[option] is not None:
            value = raw[option]
            if option in ("unique", "sparse", "hidden"):
                if not value:
                    continue
                value = True
            spec[option] = value
    return spec


def _same_options(a: Document, b: Document) -> bool:
    def opts(d: Document) -> Document:
        return {k: v for k, v in d.items() if k in _INDEX_OPTIONS}

    return opts(a) == opts(b)


_CREATE_INDEXES_FIELDS: dict[str, FieldType] = {
    "v": NUMBER_TYPES,
    "indexes": array_of("createIndexes.indexes"),
    "ignoreUnknownIndexOptions": SAFE_BOOL,
    "commitQuorum": any_value,  # a number, a string or a tag set
    "returnOnStart": optional_bool("returnOnStart"),
    "isTimeseriesNamespace": "bool",
    "collectionUUID": any_value,
}


@command(
    "createIndexes",
    privileges=on_collection("createIndex"),
    parse=command_parser("createIndexes", _CREATE_INDEXES_FIELDS, "indexes"),
)
def create_indexes(ctx: CommandContext, cmd: Document) -> Document:
    store, name = _collection_command(ctx, cmd)
    raw = cmd["indexes"]  # an array: the command parsed
    if not raw:
        raise CommandError(2, "Must specify at least one index to create", "BadValue")
    specs = [_index_spec(r) for r in raw]
    with store.journaled(sync=_sync(cmd)):
        info, created = store.ensure_collection(ctx.db, name)
        before = len(info.indexes)
        new_specs = []
        for spec in specs:
            same_name = info.indexes.get(spec["name"])
            same_key = next((i for i in info.indexes.values() if i.key == spec["key"]), None)
            if same_name is not None:
                if same_name.key == spec["key"] and _same_options(same_name.spec, spec):
                    continue
                if same_name.key != spec["key"]:
                    raise CommandError(
                        86,
                        "An existing index has the same name as the requested index. When index names "
                        "are not specified, they are auto generated and can cause conflicts. "
                        "Please refer to our "
                        f"documentation. Requested index: {bson_to_string(spec)}, existing index: "
                        f"{bson_to_string(same_name.spec)}",
                        "IndexKeySpecsConflict",
                    )
                raise CommandError(
                    86,
                    f"Index with name: {spec['name']} already exists with different options",
                    "IndexKeySpecsConflict",
                )
            if same_key is not None:
                if _same_options(same_key.spec, spec):
                    raise CommandError(
                        85,
                        f"Index already exists with a different name: {same_key.name}",
                        "IndexOptionsConflict",
                    )
                raise CommandError(
                    85,
                    f"An equivalent index already exists with the same name but different options. Requested "
                    f"index: {bson_to_string(spec)}, existing index: {bson_to_string(same_key.spec)}",
                    "IndexOptionsConflict",
                )
            new_specs.append(spec)
        for spec in new_specs:
            _run(store.create_index, info, spec)
        after = len(info.indexes)
    reply: Document = {"numIndexesBefore": before, "numIndexesAfter": after}
    if not new_specs:
        reply["note"] = "all indexes already exist"
    else:
        reply["createdCollectionAutomatically"] = created
    return reply


_LIST_INDEXES_FIELDS: dict[str, FieldType] = {
    "cursor": "object",
    "includeBuildUUIDs": SAFE_BOOL,
    "includeIndexBuildInfo": SAFE_BOOL,
    "isTimeseriesNamespace": "bool",
}


@command(
    "listIndexes",
    privileges=on_collection("listIndexes"),
    parse=command_parser("listIndexes", _LIST_INDEXES_FIELDS),
)
def list_indexes(ctx: CommandContext, cmd: Document) -> Document:
    _, info = _existing_collection(ctx, cmd, "ns does not exist: {ns}")
    cursor_opts = _document(cmd, "cursor", "listIndexes") or {}
    batch_size = _non_negative(cursor_opts, "batchSize", "listIndexes.cursor")
    specs = [copy.deepcopy(i.spec) for i in info.indexes.values()]
    return _cursors(ctx).first_batch(
        f"{ctx.db}.$cmd.listIndexes.{info.name}", specs, _owners(ctx), batch_size=batch_size
    )


_DROP_INDEXES_FIELDS: dict[str, FieldType] = {
    # IDL's variant [string, array<string>, object]; its wrong-type text naming the three is UNCONFIRMED.
    "index": "[string, array, object]",
    "isTimeseriesNamespace": "bool",
    "collectionUUID": any_value,
}


@command(
    "dropIndexes",
    "deleteIndexes",
    privileges=on_collection("dropIndex"),
    parse=command_parser("dropIndexes", _DROP_INDEXES_FIELDS, "index"),
)
def drop_indexes(ctx: CommandContext, cmd: Document) -> Document:
    _refuse_transactions(cmd)
    store, info = _existing_collection(ctx, cmd, "ns not found {ns}")
    which = cmd.get("index")
    count = len(info.indexes)
    if which == "*":
        targets = [n for n in info.indexes if n != ID_INDEX_NAME]
    else:
        items = which if isinstance(which, list) else [which]
        targets = []
        for item in items:
            if isinstance(item, dict):
                found = next((i.name for i in info.indexes.values() if i.key == item), None)
                if found is None:
                    raise CommandError(
                        27, f"can't find index with key: {bson_to_string(item)}", "IndexNotFound"
                    )
                targets.append(found)
            elif isinstance(item, str):
                if item not in info.indexes:
                    raise CommandError(27, f"index not found with name [{item}]", "IndexNotFound")
                targets.append(item)
            else:
                raise CommandError(
                    14,
                    f"BSON field 'dropIndexes.index' is the wrong type '{bson_type_name(item)}'",
                    "TypeMismatch",
                )
        if ID_INDEX_NAME in targets:
            raise CommandError(72, "cannot drop _id index", "InvalidOptions")
    with store.journaled(sync=_sync(cmd)):
        for target in targets:
            store.drop_index(info, target)
    return {"nIndexesWas": count}


# -- statistics ------------------------------------------------------------------------------------
@command("collStats", privileges=on_collection("collStats"))
def coll_stats(ctx: CommandContext, cmd: Document) -> Document:
    store, info = _existing_collection(ctx, cmd, "Collection [{ns}] not found.")
    scale = _number(cmd, "scale", "collStats") or 1
    docs = store.documents(info)
    size = sum(len(bson.encode(d)) for d in docs)
    index_sizes = {n: 0 for n in info.indexes}
    return {
        "ns": info.ns,
        "size": size // scale,
        "count": len(docs),
        "avgObjSize": size // len(docs) if docs else 0,
        "storageSize": size // scale,
        "freeStorageSize": 0,
        "capped": bool(info.options.get("capped")),
        "nindexes": len(info.indexes),
        "indexDetails": {},
        "totalIndexSize": 0,
        "totalSize": size // scale,
        "indexSizes": index_sizes,
        "scaleFactor": scale,
    }


@command(
    "dbStats",
    privileges=on_database("dbStats"),
    parse=command_parser("dbStats", {"scale": NUMBER_TYPES, "freeStorage": SAFE_BOOL}),
)
def db_stats(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    scale = _number(cmd, "scale", "dbStats") or 1
    names = store.collection_names(ctx.db)
    objects = 0
    size = 0
    indexes = 0
    for name in names:
        info = store.info(ctx.db, name)
        assert info is not None
        docs = store.documents(info)
        objects += len(docs)
        size += sum(len(bson.encode(d)) for d in docs)
        indexes += len(info.indexes)
    return {
        "db": ctx.db,
        "collections": len(names),
        "views": 0,
        "objects": objects,
        "avgObjSize": (size / objects) if objects else 0,
        "dataSize": size // scale,
        "storageSize": size // scale,
        "indexes": indexes,
        "indexSize": 0,
        "totalSize": size // scale,
        "scaleFactor": scale,
        "fsUsedSize": 0,
        "fsTotalSize": 0,
    }


# -- what a standalone refuses ---------------------------------------------------------------------
@command("commitTransaction", "abortTransaction", privileges=AUTHENTICATED)
def transaction_command(ctx: CommandContext, cmd: Document) -> Document:
    _refuse_transactions(cmd)
    # Without a txnNumber mongod answers that the session has no transaction (UNCONFIRMED text).
    raise CommandError(
        20, "Transaction numbers are only allowed on a replica set member or mongos", "IllegalOperation"
    )
