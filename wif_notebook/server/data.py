"""A minimal in-memory data plane: enough CRUD and cursors for the OIDC lessons and spec tests.

Query, projection, sort and aggregation semantics come from mongomock (a maintained library), not
a hand-written engine; this module only turns mongod commands into calls and mongod-shaped replies
(cursor ids are Int64, batches ``firstBatch``/``nextBatch``, ``writeErrors`` with 11000).
It is one module on purpose: the durable, fuller data plane of the next issue replaces it whole.
Handlers run on the event-loop thread only, so the store needs no lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import bson
import mongomock
from bson.int64 import Int64
from pymongo.errors import DuplicateKeyError, OperationFailure

from .registry import CommandContext, CommandError, Document, command

DEFAULT_BATCH_SIZE = 101
MAX_USER_DOCUMENT_BYTES = 16 * 1024 * 1024


@dataclass
class _Cursor:
    ns: str
    docs: list[Document]
    position: int = 0


class DataStore:
    """Databases, collections and open cursors, in memory."""

    ENGINE_NAME = "wif-memory"
    PERSISTENT = False

    def __init__(self) -> None:
        self.client: Any = mongomock.MongoClient()
        self.cursors: dict[int, _Cursor] = {}

    def collection(self, db: str, name: str) -> Any:
        return self.client[db][name]

    def exists(self, db: str, name: str) -> bool:
        return db in self.client.list_database_names() and name in self.client[db].list_collection_names()

    def open_cursor(
        self, ns: str, docs: list[Document], batch_size: int | None, *, single_batch: bool = False
    ) -> Document:
        """The first batch, and a cursor for the rest (id 0 when everything fits)."""
        size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        first = docs[:size] if size > 0 else []
        rest = docs[len(first) :]
        cursor_id = 0
        if rest and not single_batch:
            cursor_id = secrets.randbits(62) or 1
            self.cursors[cursor_id] = _Cursor(ns, rest)
        return {"cursor": {"firstBatch": first, "id": Int64(cursor_id), "ns": ns}}


def _store(ctx: CommandContext) -> DataStore:
    store: DataStore = ctx.server.data
    return store


def _collection_name(ctx: CommandContext, cmd: Document) -> str:
    name = cmd.get(ctx.command_name)
    if not isinstance(name, str) or not name:
        raise CommandError(73, f"Invalid namespace specified '{ctx.db}.{name}'", "InvalidNamespace")
    return name


def _batch_size(spec: Any) -> int | None:
    if spec is None:
        return None
    if not isinstance(spec, int) or isinstance(spec, bool) or spec < 0:
        raise CommandError(2, "BatchSize value must be non-negative")
    return int(spec)


def _count_option(cmd: Document, name: str) -> int:
    value = cmd.get(name, 0)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CommandError(2, f"{name} value must be non-negative")
    return int(value)


def _run(fn: Any) -> Any:
    """Turn a mongomock failure into mongod's error reply."""
    try:
        return fn()
    except OperationFailure as exc:
        raise CommandError(exc.code or 2, str(exc)) from exc
    except (NotImplementedError, TypeError, ValueError) as exc:
        raise CommandError(2, str(exc)) from exc


@command("find")
def find(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    ns = f"{ctx.db}.{name}"
    filt = cmd.get("filter") or {}
    projection = cmd.get("projection") or None
    skip = _count_option(cmd, "skip")
    limit = _count_option(cmd, "limit")
    batch_size = _batch_size(cmd.get("batchSize"))
    if not store.exists(ctx.db, name):
        return store.open_cursor(ns, [], batch_size)

    def query() -> list[Document]:
        cursor = store.collection(ctx.db, name).find(filt, projection)
        if cmd.get("sort"):
            cursor = cursor.sort(list(cmd["sort"].items()))
        if skip:
            cursor = cursor.skip(skip)
        if limit:
            cursor = cursor.limit(limit)
        return list(cursor)

    docs = _run(query)
    return store.open_cursor(ns, docs, batch_size, single_batch=bool(cmd.get("singleBatch")))


@command("getMore")
def get_more(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    cursor_id = cmd.get("getMore")
    if not isinstance(cursor_id, int):
        raise CommandError(14, "Field 'getMore' must be of type long", "TypeMismatch")
    cursor = store.cursors.get(int(cursor_id))
    coll = cmd.get("collection")
    if cursor is None:
        raise CommandError(43, f"cursor id {cursor_id} not found", "CursorNotFound")
    if cursor.ns != f"{ctx.db}.{coll}":
        raise CommandError(
            13,
            f"Requested getMore on namespace '{ctx.db}.{coll}', but cursor belongs to a different "
            f"namespace {cursor.ns}",
            "Unauthorized",
        )
    size = _batch_size(cmd.get("batchSize"))
    end = len(cursor.docs) if not size else cursor.position + size
    batch = cursor.docs[cursor.position : end]
    cursor.position += len(batch)
    next_id = int(cursor_id)
    if cursor.position >= len(cursor.docs):
        store.cursors.pop(int(cursor_id), None)
        next_id = 0
    return {"cursor": {"nextBatch": batch, "id": Int64(next_id), "ns": cursor.ns}}


@command("killCursors")
def kill_cursors(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    killed, not_found = [], []
    for cid in cmd.get("cursors") or []:
        if store.cursors.pop(int(cid), None) is not None:
            killed.append(Int64(cid))
        else:
            not_found.append(Int64(cid))
    return {"cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": [], "cursorsUnknown": []}


@command("insert")
def insert(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    documents = cmd.get("documents") or []
    ordered = cmd.get("ordered", True)
    coll = store.collection(ctx.db, name)
    n = 0
    errors: list[Document] = []
    for index, doc in enumerate(documents):
        size = len(bson.encode(doc))
        if size > MAX_USER_DOCUMENT_BYTES:
            # mongod's fixDocumentForInsert text (BadValue).
            errors.append(
                {
                    "index": index,
                    "code": 2,
                    "errmsg": f"object to insert too large. size in bytes: {size}, max size: "
                    f"{MAX_USER_DOCUMENT_BYTES}",
                }
            )
            if ordered:
                break
            continue
        try:
            coll.insert_one(doc)
            n += 1
        except DuplicateKeyError:
            errors.append(
                {
                    "index": index,
                    "code": 11000,
                    "errmsg": f"E11000 duplicate key error collection: {ctx.db}.{name} index: _id_ "
                    f"dup key: {{ _id: {doc.get('_id')!r} }}",
                    "keyPattern": {"_id": 1},
                    "keyValue": {"_id": doc.get("_id")},
                }
            )
            if ordered:
                break
    reply: Document = {"n": n}
    if errors:
        reply["writeErrors"] = errors
    return reply


@command("delete")
def delete(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    coll = store.collection(ctx.db, _collection_name(ctx, cmd))
    n = 0
    for spec in cmd.get("deletes") or []:
        q = spec.get("q") or {}
        if spec.get("limit", 0) == 1:
            n += _run(lambda q=q: coll.delete_one(q)).deleted_count
        else:
            n += _run(lambda q=q: coll.delete_many(q)).deleted_count
    return {"n": n}


@command("update")
def update(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    coll = store.collection(ctx.db, _collection_name(ctx, cmd))
    n = modified = 0
    upserted: list[Document] = []
    for index, spec in enumerate(cmd.get("updates") or []):
        q, u = spec.get("q") or {}, spec.get("u") or {}
        upsert = bool(spec.get("upsert"))
        is_operator = isinstance(u, dict) and any(k.startswith("$") for k in u)
        if spec.get("multi"):
            result = _run(lambda q=q, u=u, upsert=upsert: coll.update_many(q, u, upsert=upsert))
        elif is_operator:
            result = _run(lambda q=q, u=u, upsert=upsert: coll.update_one(q, u, upsert=upsert))
        else:
            result = _run(lambda q=q, u=u, upsert=upsert: coll.replace_one(q, u, upsert=upsert))
        n += result.matched_count
        modified += result.modified_count
        if result.upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": result.upserted_id})
    reply: Document = {"n": n, "nModified": modified}
    if upserted:
        reply["upserted"] = upserted
    return reply


@command("count")
def count(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    if not store.exists(ctx.db, name):
        return {"n": 0}
    query = cmd.get("query") or {}
    n = _run(lambda: store.collection(ctx.db, name).count_documents(query))
    skip = _count_option(cmd, "skip")
    limit = _count_option(cmd, "limit")
    n = max(0, n - skip)
    if limit:
        n = min(n, limit)
    return {"n": n}


@command("aggregate")
def aggregate(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    target = cmd.get("aggregate")
    pipeline = cmd.get("pipeline")
    if not isinstance(pipeline, list):
        raise CommandError(14, "'pipeline' option must be specified as an array", "TypeMismatch")
    if not isinstance(cmd.get("cursor"), dict) and not cmd.get("explain"):
        raise CommandError(
            9,
            "The 'cursor' option is required, except for aggregate with the explain argument",
            "FailedToParse",
        )
    batch_size = _batch_size((cmd.get("cursor") or {}).get("batchSize"))
    if not isinstance(target, str):
        raise CommandError(2, "the kit's test server supports aggregate only on a collection", "BadValue")
    ns = f"{ctx.db}.{target}"
    if not store.exists(ctx.db, target):
        # mongosh's startup probe ({aggregate: "atlascli"} on admin) lands here: an empty cursor.
        return store.open_cursor(ns, [], batch_size)
    docs = _run(lambda: list(store.collection(ctx.db, target).aggregate(pipeline)))
    return store.open_cursor(ns, docs, batch_size)


@command("create")
def create(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    if store.exists(ctx.db, name):
        raise CommandError(48, f"Collection {ctx.db}.{name} already exists.", "NamespaceExists")
    store.client[ctx.db].create_collection(name)
    return {}


@command("drop")
def drop(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    name = _collection_name(ctx, cmd)
    if not store.exists(ctx.db, name):
        # mongod 7.0 no longer fails a drop of a missing collection (NamespaceNotFound was 6.x).
        return {"ns": f"{ctx.db}.{name}", "nIndexesWas": 0}
    store.client[ctx.db].drop_collection(name)
    return {"ns": f"{ctx.db}.{name}", "nIndexesWas": 1}


@command("dropDatabase")
def drop_database(ctx: CommandContext, cmd: Document) -> Document:
    _store(ctx).client.drop_database(ctx.db)
    return {}


@command("listDatabases", admin_only=True)
def list_databases(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    names = sorted(store.client.list_database_names())
    if cmd.get("nameOnly"):
        return {"databases": [{"name": n} for n in names]}
    return {
        "databases": [{"name": n, "sizeOnDisk": Int64(0), "empty": False} for n in names],
        "totalSize": Int64(0),
        "totalSizeMb": Int64(0),
    }


@command("listCollections")
def list_collections(ctx: CommandContext, cmd: Document) -> Document:
    store = _store(ctx)
    names = (
        sorted(store.client[ctx.db].list_collection_names())
        if ctx.db in store.client.list_database_names()
        else []
    )
    filt = cmd.get("filter") or {}
    wanted = filt.get("name") if isinstance(filt, dict) else None
    infos = [
        {"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}}
        for n in names
        if wanted is None or wanted == n
    ]
    if cmd.get("nameOnly"):
        infos = [{"name": i["name"], "type": "collection"} for i in infos]
    return _store(ctx).open_cursor(f"{ctx.db}.$cmd.listCollections", infos, None)
