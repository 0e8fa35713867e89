"""The test mongod's data engine: collections, indexes and uniqueness, over durable storage.

Query, projection, sort, update and aggregation *semantics* come from mongomock (a maintained
library, see docs/ARCHITECTURE.md "Significant choices"): its in-memory server holds the current
documents, so filters, updates and pipelines (including ``$lookup`` across collections) are
evaluated by it. This module owns everything a server owns around that:

- the catalog (collection options and UUIDs, index specifications) and **unique indexes**, checked
  here with mongod's ``E11000`` message before a write is applied;
- every change is computed first, applied, then journalled to ``storage.Storage`` and fsynced
  before the command is acknowledged; a failed journal write rolls the change back;
- updates are computed on a one-document scratch collection, so mongomock's update engine (operators,
  positional ``$``, ``arrayFilters``, upserts) produces the new document and this module decides
  whether it may be stored.

Handlers run on the event-loop thread only, so the engine needs no lock.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.binary import Binary
from bson.objectid import ObjectId
from pymongo.errors import OperationFailure

from . import engine
from .authz import bson_to_string
from .engine import DocumentStore, filter_applies, normalize, store_key
from .registry import CommandError, Document
from .storage import Storage

MAX_USER_DOCUMENT_BYTES = 16 * 1024 * 1024
ID_INDEX_NAME = "_id_"
_FLUSH_INTERVAL_SECS = 0.1  # mongod's storage.journal.commitIntervalMs default (100 ms)


# -- values ----------------------------------------------------------------------------------------
def _hashable(value: Any) -> Any:
    """An index key component: equal BSON values (1 and 1.0) give equal keys, types stay apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    if isinstance(value, dict):
        return ("object", tuple((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_hashable(v) for v in value))
    try:
        hash(value)
        return (type(value).__name__, value)
    except TypeError:
        return (type(value).__name__, repr(value))


def _values_at(doc: Any, path: list[str]) -> list[Any]:
    """The values a (multikey) index sees at a dotted path; [None] when missing."""
    if not path:
        return [doc]
    if isinstance(doc, list):
        out: list[Any] = []
        for item in doc:
            if isinstance(item, dict):
                out.extend(v for v in _values_at(item, path) if v is not None)
        return out or [None]
    if not isinstance(doc, dict) or path[0] not in doc:
        return [None]
    value = doc[path[0]]
    if len(path) == 1:
        if isinstance(value, list):
            return list(value) if value else [None]
        return [value]
    return _values_at(value, path[1:])


def index_name(key: Document) -> str:
    """mongod's default index name: ``name_1``, ``a_1_b_-1``."""
    parts = []
    for field_name, direction in key.items():
        if isinstance(direction, float) and direction.is_integer():
            direction = int(direction)
        parts.append(f"{field_name}_{direction}")
    return "_".join(parts)


# -- catalog ---------------------------------------------------------------------------------------
@dataclass
class Index:
    spec: Document  # as listIndexes shows it: {v: 2, key, name, unique?, sparse?, ...}
    entries: dict[Any, set[Any]] = field(default_factory=dict)  # unique only: key -> store keys

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def key(self) -> Document:
        key: Document = self.spec["key"]
        return key

    @property
    def unique(self) -> bool:
        return bool(self.spec.get("unique"))

    def keys_of(self, doc: Document) -> list[tuple[Any, ...]]:
        """The index keys of ``doc`` (None when a sparse or partial index skips it)."""
        fields = list(self.key)
        per_field = [_values_at(doc, f.split(".")) for f in fields]
        if self.spec.get("sparse") and all(v == [None] for v in per_field):
            return []
        partial = self.spec.get("partialFilterExpression")
        if partial is not None and not filter_applies(partial, doc):
            return []
        return [tuple(_hashable(v) for v in combo) for combo in itertools.product(*per_field)]

    def display_values(self, doc: Document) -> Document:
        """The ``keyValue`` of a duplicate: the first value of each key field."""
        return {f: _values_at(doc, f.split("."))[0] for f in self.key}


@dataclass
class CollectionInfo:
    db: str
    name: str
    options: Document = field(default_factory=dict)
    uuid: Binary = field(default_factory=lambda: Binary(uuid.uuid4().bytes, 4))
    indexes: dict[str, Index] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    def unique_indexes(self) -> list[Index]:
        return [i for i in self.indexes.values() if i.unique]

    def check_hint(self, hint: Any) -> None:
        """A ``hint`` naming an index (a string) or a key pattern (a document) must name an index of
        this collection, as mongod's query planner requires when the statement runs: ``{}`` is no
        hint and ``{$natural: ±1}`` a collection scan; any other value is the command parser's to
        refuse. Else mongod's 2 BadValue, the planner's reason in the context mongod gives it;
        mongod prints the canonical query (filter tree, sort, projection) after the namespace, which
        the kit, having no query planner, leaves out."""
        if not isinstance(hint, (str, dict)) or (isinstance(hint, dict) and (not hint or "$natural" in hint)):
            return
        for index in self.indexes.values():
            # A key pattern matches field by field, in order; 1 and 1.0 are the same direction.
            if hint == index.name or (
                isinstance(hint, dict) and list(hint.items()) == list(index.key.items())
            ):
                return
        raise CommandError(
            2,
            f"error processing query: ns={self.ns} planner returned error :: caused by :: "
            "hint provided does not correspond to an existing index",
            "BadValue",
        )


def _id_index_spec() -> Document:
    return {"v": 2, "key": {"_id": 1}, "name": ID_INDEX_NAME}


def split_ns(ns: str) -> tuple[str, str]:
    db, _, coll = ns.partition(".")
    return db, coll


class DuplicateKey(Exception):
    """A write would break a unique index; ``to_error`` is mongod's 11000 reply."""

    def __init__(self, ns: str, index: Index | None, doc: Document) -> None:
        super().__init__(ns)
        self.ns = ns
        self.pattern: Document = dict(index.key) if index is not None else {"_id": 1}
        self.index_name = index.name if index is not None else ID_INDEX_NAME
        self.value: Document = index.display_values(doc) if index is not None else {"_id": doc.get("_id")}

    @property
    def errmsg(self) -> str:
        # mongod: "E11000 duplicate key error collection: db.coll index: name_1 dup key: { name: "x" }"
        return (
            f"E11000 duplicate key error collection: {self.ns} index: {self.index_name} "
            f"dup key: {bson_to_string(self.value)}"
        )

    def to_write_error(self, index: int) -> Document:
        return {
            "index": index,
            "code": 11000,
            "errmsg": self.errmsg,
            "keyPattern": self.pattern,
            "keyValue": self.value,
        }

    def to_error(self) -> CommandError:
        return CommandError(
            11000, self.errmsg, "DuplicateKey", extra={"keyPattern": self.pattern, "keyValue": self.value}
        )


def engine_error(exc: Exception) -> CommandError:
    """A mongomock failure as mongod's error reply (code 2 BadValue when mongomock gives none)."""
    if isinstance(exc, CommandError):
        return exc
    if isinstance(exc, OperationFailure):
        return CommandError(exc.code or 2, str(exc.details.get("errmsg", exc)) if exc.details else str(exc))
    if isinstance(exc, NotImplementedError):
        return CommandError(
            2, f"not supported by the kit's test server (its query engine is mongomock): {exc}", "BadValue"
        )
    return CommandError(2, str(exc) or type(exc).__name__, "BadValue")


def _unique_entries(info: CollectionInfo, doc: Document | None) -> Iterator[tuple[Index, Any, Any]]:
    """(unique index, index key, ``doc``'s store key) for each entry ``doc`` has in the collection's
    unique indexes; none for no document (an insert has no old one, a delete no new one)."""
    if doc is None:
        return
    key = store_key(doc["_id"])
    for index in info.unique_indexes():
        for entry in index.keys_of(doc):
            yield index, entry, key


# -- the store -------------------------------------------------------------------------------------
class DataStore:
    """Databases, collections and indexes: mongomock evaluates, this class stores and checks."""

    ENGINE_NAME = "wif-journal"
    PERSISTENT = True

    def __init__(self, db_path: Path | None = None) -> None:
        engine.check_compatible()
        self.client: Any = engine.new_client()
        self._scratch: Any = engine.new_client()["scratch"]["doc"]
        self.catalog: dict[str, CollectionInfo] = {}
        self._collections: dict[tuple[str, str], Any] = {}
        self.storage: Storage | None = None
        self.recovered_torn_bytes = 0  # bytes of a torn last journal record dropped at start
        self.unclean_shutdown = False  # mongod.lock was not empty: the last server was killed
        self._undo: list[tuple[str, Any, Document | None]] | None = None
        self._ops: list[Document] = []
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        if db_path is not None:
            self.storage = Storage(Path(db_path))
            self.storage.open()
            self._replay(self.storage.records)
            self.storage.records = []
            self.recovered_torn_bytes = self.storage.torn_bytes
            self.unclean_shutdown = self.storage.unclean_shutdown
            self._flusher = threading.Thread(target=self._flush_loop, name="wif-journal-flush", daemon=True)
            self._flusher.start()
        else:
            self.PERSISTENT = False

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Compact into a snapshot and release the dbPath (a clean shutdown)."""
        self._stop_flusher.set()
        if self.storage is not None:
            self.storage.close(self.state_records())
            self.storage = None

    def _flush_loop(self) -> None:
        while not self._stop_flusher.wait(_FLUSH_INTERVAL_SECS):
            storage = self.storage
            if storage is not None:
                try:
                    storage.flush()
                except OSError:
                    pass  # the next acknowledged write's fsync reports the disk problem

    def state_records(self) -> Iterator[Document]:
        """The whole state as snapshot records (collection definitions, then their documents)."""
        for info in self.catalog.values():
            yield {
                "op": "create",
                "ns": info.ns,
                "options": info.options,
                "uuid": info.uuid,
                "indexes": [i.spec for i in info.indexes.values()],
            }
        for info in self.catalog.values():
            for doc in self._coll_store(info.db, info.name).values():
                yield {"op": "put", "ns": info.ns, "doc": doc}

    def _replay(self, records: list[Document]) -> None:
        for rec in records:
            op, ns = rec.get("op"), str(rec.get("ns", ""))
            db, name = split_ns(ns)
            if op == "create":
                info = self._create(db, name, rec.get("options") or {}, uuid_=rec.get("uuid"))
                for spec in rec.get("indexes") or []:
                    if spec.get("name") != ID_INDEX_NAME:
                        info.indexes[spec["name"]] = Index(spec)
            elif op == "put":
                doc = rec["doc"]
                info = self.catalog.get(ns) or self._create(db, name, {})
                old = self._coll_store(db, name).get(store_key(doc["_id"]))
                self._index_remove(info, old)
                self._index_add(info, doc)
                self._coll_store(db, name).put(store_key(doc["_id"]), doc)
            elif op == "del":
                info = self.catalog.get(ns) or self._create(db, name, {})
                key = store_key(rec["id"])
                old = self._coll_store(db, name).pop(key)
                self._index_remove(info, old)
            elif op == "drop":
                self._drop(db, name)
            elif op == "dropDatabase":
                self._drop_database(str(rec.get("db")))
            elif op == "createIndex":
                info = self.catalog.get(ns) or self._create(db, name, {})
                self._add_index(info, rec["spec"])
            elif op == "dropIndex":
                existing = self.catalog.get(ns)
                if existing is not None:
                    existing.indexes.pop(str(rec.get("name")), None)
        for info in self.catalog.values():
            self._rebuild_unique(info)

    # -- transactions of one command -------------------------------------------------------------
    @contextmanager
    def journaled(self, *, sync: bool = True) -> Iterator[None]:
        """The changes made inside, journaled together as one command's (``begin`` ... ``commit``)."""
        self.begin()
        try:
            yield
        finally:
            self.commit(sync=sync)

    def begin(self) -> None:
        self._undo = []
        self._ops = []

    def commit(self, *, sync: bool = True) -> None:
        """Journal the command's changes (fsynced unless w:0 / j:false); undo them if that fails."""
        ops, self._ops = self._ops, []
        undo, self._undo = self._undo, None
        if self.storage is None or not ops:
            return
        try:
            self.storage.append(ops, sync=sync)
        except OSError as exc:
            self._rollback(undo or [])
            raise CommandError(
                8,
                f"the kit's test server could not write its journal in {self.storage.db_path}: "
                f"{exc.strerror or exc}; the write was not applied",
                "UnknownError",
            ) from exc
        if self.storage.needs_compaction():
            self.storage.compact(self.state_records())

    def _rollback(self, undo: list[tuple[str, Any, Document | None]]) -> None:
        for ns, key, old in reversed(undo):
            db, name = split_ns(ns)
            info = self.catalog.get(ns)
            store = self._coll_store(db, name)
            current = store.pop(key)
            if info is not None:
                self._index_remove(info, current)
            if old is not None:
                store.put(key, old)
                if info is not None:
                    self._index_add(info, old)

    def _log(self, op: Document) -> None:
        if self.storage is not None:
            self._ops.append(op)

    # -- collections ---------------------------------------------------------------------------
    def _coll(self, db: str, name: str) -> Any:
        # mongomock builds a Collection object per lookup; keep one per namespace (it finds its
        # documents by name each time, so it stays valid across drop and re-create).
        key = (db, name)
        coll = self._collections.get(key)
        if coll is None:
            coll = self._collections[key] = self.client[db][name]
        return coll

    def _coll_store(self, db: str, name: str) -> DocumentStore:
        return DocumentStore(self._coll(db, name))

    def collection(self, db: str, name: str) -> Any:
        """The engine's collection, for reads and aggregation."""
        return self._coll(db, name)

    def info(self, db: str, name: str) -> CollectionInfo | None:
        return self.catalog.get(f"{db}.{name}")

    def database_names(self) -> list[str]:
        return sorted({i.db for i in self.catalog.values()})

    def collection_names(self, db: str) -> list[str]:
        return sorted(i.name for i in self.catalog.values() if i.db == db)

    def _create(self, db: str, name: str, options: Document, *, uuid_: Any = None) -> CollectionInfo:
        info = CollectionInfo(db, name, dict(options))
        if isinstance(uuid_, Binary):
            info.uuid = uuid_
        info.indexes[ID_INDEX_NAME] = Index(_id_index_spec())
        self.catalog[info.ns] = info
        self._coll_store(db, name).create()
        return info

    def create_collection(self, db: str, name: str, options: Document | None = None) -> CollectionInfo:
        info = self._create(db, name, options or {})
        self._log({"op": "create", "ns": info.ns, "options": info.options, "uuid": info.uuid, "indexes": []})
        return info

    def ensure_collection(self, db: str, name: str) -> tuple[CollectionInfo, bool]:
        """The collection, created implicitly (as an insert does) when missing."""
        info = self.info(db, name)
        if info is not None:
            return info, False
        return self.create_collection(db, name), True

    def _drop(self, db: str, name: str) -> None:
        self.catalog.pop(f"{db}.{name}", None)
        self.client[db].drop_collection(name)
        self._collections.pop((db, name), None)

    def drop_collection(self, db: str, name: str) -> int:
        info = self.info(db, name)
        if info is None:
            return 0
        count = len(info.indexes)
        self._drop(db, name)
        self._log({"op": "drop", "ns": info.ns})
        return count

    def _drop_database(self, db: str) -> None:
        for name in self.collection_names(db):
            self._drop(db, name)
        self.client.drop_database(db)
        for key in [k for k in self._collections if k[0] == db]:
            del self._collections[key]

    def drop_database(self, db: str) -> None:
        if not self.collection_names(db):
            return
        self._drop_database(db)
        self._log({"op": "dropDatabase", "db": db})

    # -- documents -----------------------------------------------------------------------------
    def get(self, info: CollectionInfo, key: Any) -> Document | None:
        return self._coll_store(info.db, info.name).get(key)

    def documents(self, info: CollectionInfo) -> list[Document]:
        return list(self._coll_store(info.db, info.name).values())

    def count(self, info: CollectionInfo) -> int:
        return len(self._coll_store(info.db, info.name))

    def matching(self, info: CollectionInfo, filt: Document, *, first: bool = False) -> list[Document]:
        """Stored documents (not copies) that match ``filt``, in natural order."""
        filt = normalize(filt)
        store = self._coll_store(info.db, info.name)
        fast = _id_equality(filt)
        if fast is not None:
            doc = store.get(fast)
            return [doc] if doc is not None and filter_applies(filt, doc) else []
        out = []
        for doc in store.values():
            if filter_applies(filt, doc):
                out.append(doc)
                if first:
                    break
        if not out:
            filter_applies(filt, {})  # an invalid filter fails even on no documents
        return out

    def validate_filter(self, filt: Document) -> None:
        """Fail on an invalid filter even when there is nothing to match (as mongod parses first)."""
        filter_applies(normalize(filt), {})

    def check_unique(self, info: CollectionInfo, doc: Document, old: Document | None) -> None:
        """Raise DuplicateKey if storing ``doc`` (replacing ``old``) breaks a unique index."""
        key = store_key(doc["_id"])
        if old is None and key in self._coll_store(info.db, info.name):
            raise DuplicateKey(info.ns, None, doc)
        for index in info.unique_indexes():
            for k in index.keys_of(doc):
                holders = index.entries.get(k)
                if holders and (holders - {key}):
                    raise DuplicateKey(info.ns, index, doc)

    def put(self, info: CollectionInfo, doc: Document, old: Document | None) -> None:
        """Store ``doc`` (checked already), replacing ``old`` when it is an update."""
        key = store_key(doc["_id"])
        store = self._coll_store(info.db, info.name)
        if self._undo is not None:
            self._undo.append((info.ns, key, old))
        self._index_remove(info, old)
        self._index_add(info, doc)
        store.put(key, doc)
        self._log({"op": "put", "ns": info.ns, "doc": doc})

    def remove(self, info: CollectionInfo, doc: Document) -> None:
        key = store_key(doc["_id"])
        store = self._coll_store(info.db, info.name)
        if self._undo is not None:
            self._undo.append((info.ns, key, doc))
        store.pop(key)
        self._index_remove(info, doc)
        self._log({"op": "del", "ns": info.ns, "id": doc["_id"]})

    def _index_add(self, info: CollectionInfo, doc: Document | None) -> None:
        for index, entry, key in _unique_entries(info, doc):
            index.entries.setdefault(entry, set()).add(key)

    def _index_remove(self, info: CollectionInfo, doc: Document | None) -> None:
        for index, entry, key in _unique_entries(info, doc):
            holders = index.entries.get(entry)
            if holders is not None:
                holders.discard(key)
                if not holders:
                    del index.entries[entry]

    # -- indexes -------------------------------------------------------------------------------
    def _rebuild_unique(self, info: CollectionInfo) -> None:
        for index in info.unique_indexes():
            index.entries = {}
        for doc in self._coll_store(info.db, info.name).values():
            self._index_add(info, doc)

    def _add_index(self, info: CollectionInfo, spec: Document) -> Index:
        index = Index(dict(spec))
        if index.unique:
            for doc in self._coll_store(info.db, info.name).values():
                for k in index.keys_of(doc):
                    holders = index.entries.setdefault(k, set())
                    if holders:
                        raise DuplicateKey(info.ns, index, doc)
                    holders.add(store_key(doc["_id"]))
        info.indexes[index.name] = index
        return index

    def create_index(self, info: CollectionInfo, spec: Document) -> None:
        self._add_index(info, spec)
        self._log({"op": "createIndex", "ns": info.ns, "spec": spec})

    def drop_index(self, info: CollectionInfo, name: str) -> None:
        info.indexes.pop(name, None)
        self._log({"op": "dropIndex", "ns": info.ns, "name": name})

    # -- update evaluation ---------------------------------------------------------------------
    def apply_update(
        self,
        original: Document | None,
        query: Document,
        update: Any,
        *,
        array_filters: list[Document] | None,
        upsert: bool = False,
    ) -> Document | None:
        """The document mongomock's update engine makes of ``original`` (or, with no original and
        ``upsert``, the document it inserts). None when nothing would change."""
        scratch = self._scratch
        scratch_docs = DocumentStore(scratch)
        scratch_docs.clear()
        if original is not None:
            scratch_docs.put(store_key(original["_id"]), copy.deepcopy(original))
        query = normalize(query)
        update = normalize(update)
        kwargs: Document = {"upsert": upsert}
        if (
            original is not None
            and _is_replacement(update)
            and "_id" in update
            and _hashable(update["_id"]) != _hashable(original["_id"])
        ):
            raise CommandError(
                66,
                "After applying the update, the (immutable) field '_id' was found to have been "
                f"altered to _id: {bson_to_string(update['_id'])}",
                "ImmutableField",
            )
        try:
            if _is_replacement(update):
                result = scratch.replace_one(query, update, **kwargs)
            else:
                if isinstance(update, dict) and (array_filters or _has_all_positional(update)):
                    update = expand_array_filters(original or {}, update, array_filters or [])
                    if not update:
                        return None
                result = scratch.update_one(query, update, **kwargs)
        except Exception as exc:
            if not engine.is_engine_error(exc):
                raise  # the kit's own bug: not the client's update
            raise _update_error(exc) from exc
        if original is not None and result.modified_count == 0:
            return None
        docs = list(scratch_docs.values())
        if not docs:
            return None
        new = docs[0]
        if original is not None and _hashable(new.get("_id")) != _hashable(original.get("_id")):
            if _is_replacement(update):
                raise CommandError(
                    66,
                    "After applying the update, the (immutable) field '_id' was found to have been "
                    f"altered to _id: {bson_to_string(new.get('_id'))}",
                    "ImmutableField",
                )
            raise CommandError(
                66,
                "Performing an update on the path '_id' would modify the immutable field '_id'",
                "ImmutableField",
            )
        return new


# -- arrayFilters ------------------------------------------------------------------------------------
# mongomock 4.3 has no filtered positional operator ($[<identifier>], $[]). The update is rewritten
# for each document into concrete paths (grades.$[g] -> grades.1, grades.2): mongomock's filter engine
# decides which elements an array filter selects, and its update engine applies the operators.
_IDENT = re.compile(r"^\$\[([a-z][a-zA-Z0-9]*)?\]$")


def _has_all_positional(update: Document) -> bool:
    return any(
        isinstance(fields, dict) and any("$[" in str(path) for path in fields) for fields in update.values()
    )


def _filter_identifier(spec: Any) -> str | None:
    if not isinstance(spec, dict) or not spec:
        return None
    key = str(next(iter(spec)))
    if key.startswith("$"):
        value = spec[key]
        return _filter_identifier(value[0] if isinstance(value, list) and value else value)
    return key.split(".")[0]


def expand_array_filters(doc: Document, update: Document, array_filters: list[Any]) -> Document:
    """``update`` with every ``$[id]``/``$[]`` path replaced by the concrete paths it selects in ``doc``."""
    filters: dict[str, Document] = {}
    for spec in array_filters:
        ident = _filter_identifier(spec)
        if ident is None:
            raise CommandError(9, "Cannot use an expression without a top-level field name in arrayFilters")
        if ident in filters:
            raise CommandError(
                9, f"Found multiple array filters with the same top-level field name {ident}", "FailedToParse"
            )
        filters[ident] = normalize(spec)
    used: set[str] = set()
    out: Document = {}
    for op, fields in update.items():
        if not isinstance(fields, dict):
            out[op] = fields
            continue
        expanded: Document = {}
        for path, value in fields.items():
            for concrete in _expand_path(doc, str(path).split("."), filters, [], str(path), used):
                expanded[concrete] = value
        if expanded:
            out[op] = expanded
    for ident in filters:
        if ident not in used:
            raise CommandError(
                9,
                f"The array filter for identifier '{ident}' was not used in the update "
                f"{bson_to_string(update)}",
                "FailedToParse",
            )
    return out


def _expand_path(
    node: Any, parts: list[str], filters: dict[str, Document], prefix: list[str], full: str, used: set[str]
) -> list[str]:
    for i, part in enumerate(parts):
        match = _IDENT.match(part)
        if match is None and part.startswith("$["):
            raise CommandError(2, f"Invalid array filter identifier in path '{full}'", "BadValue")
        if match is not None:
            ident = match.group(1)
            if ident is not None and ident not in filters:
                raise CommandError(
                    2, f"No array filter found for identifier '{ident}' in path '{full}'", "BadValue"
                )
            if ident is not None:
                used.add(ident)
            if not isinstance(node, list):
                where = ".".join(prefix)
                raise CommandError(
                    2,
                    f"The path '{where}' must exist in the document in order to apply array updates.",
                    "BadValue",
                )
            out: list[str] = []
            for index, element in enumerate(node):
                if ident is not None and not filter_applies(filters[ident], {ident: element}):
                    continue
                out += _expand_path(element, parts[i + 1 :], filters, [*prefix, str(index)], full, used)
            return out
        prefix = [*prefix, part]
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            node = None
    return [".".join(prefix)]


# -- pipelines ---------------------------------------------------------------------------------------
# Stages the manual defines as aliases of others, spelled out for mongomock 4.3 (which lacks them).
def rewrite_pipeline(pipeline: list[Any]) -> list[Any]:
    out: list[Any] = []
    for stage in pipeline:
        if not isinstance(stage, dict) or len(stage) != 1:
            out.append(stage)
            continue
        name, spec = next(iter(stage.items()))
        if name == "$unset":
            # "$unset is an alias for $project stage that removes/excludes fields"
            fields = [spec] if isinstance(spec, str) else list(spec) if isinstance(spec, list) else None
            if fields is None or not all(isinstance(f, str) for f in fields):
                raise CommandError(
                    31002,
                    "$unset specification must be a string or an array containing only string values",
                    "Location31002",
                )
            out.append({"$project": {f: 0 for f in fields}})
        elif name == "$replaceWith":
            out.append({"$replaceRoot": {"newRoot": spec}})
        elif name == "$sortByCount":
            out += [{"$group": {"_id": spec, "count": {"$sum": 1}}}, {"$sort": {"count": -1}}]
        elif name == "$facet" and isinstance(spec, dict):
            out.append(
                {"$facet": {k: rewrite_pipeline(v) if isinstance(v, list) else v for k, v in spec.items()}}
            )
        elif name == "$lookup" and isinstance(spec, dict) and isinstance(spec.get("pipeline"), list):
            out.append({"$lookup": {**spec, "pipeline": rewrite_pipeline(spec["pipeline"])}})
        else:
            out.append(stage)
    return out


# Stages whose output documents mongod builds as {_id, <output fields in the stage's order>};
# mongomock 4.3 appends _id after the accumulators ($sortByCount arrives here as a $group).
_GROUPING_STAGES = frozenset({"$group", "$bucket"})


def run_pipeline(coll: Any, pipeline: list[Any]) -> list[Document]:
    """``pipeline``'s results over ``coll``, evaluated by mongomock, in mongod's field order.

    The pipeline is cut after each grouping stage so its documents are reordered to ``_id`` first
    before a later stage sees them (``$$ROOT`` in a second ``$group``, ``$out``); ``$facet``
    sub-pipelines get the same treatment. A ``$group`` inside a ``$lookup`` sub-pipeline keeps
    mongomock's order (mongomock runs that one itself).
    """
    return _process_pipeline(list(coll.find()), coll.database, pipeline)


def _process_pipeline(docs: list[Document], database: Any, pipeline: list[Any]) -> list[Document]:
    pending: list[Any] = []
    for stage in pipeline:
        name, spec = next(iter(stage.items())) if isinstance(stage, dict) and len(stage) == 1 else ("", None)
        if name in _GROUPING_STAGES:
            docs = [_id_first(doc) for doc in engine.process_pipeline(docs, database, [*pending, stage])]
            pending = []
        elif name == "$facet" and isinstance(spec, dict) and all(isinstance(p, list) for p in spec.values()):
            docs = engine.process_pipeline(docs, database, pending)
            pending = []
            docs = [{title: _process_pipeline(docs, database, sub) for title, sub in spec.items()}]
        else:
            pending.append(stage)
    return engine.process_pipeline(docs, database, pending) if pending else docs


def _id_first(doc: Document) -> Document:
    if "_id" not in doc:
        return doc
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _is_replacement(update: Any) -> bool:
    return isinstance(update, dict) and not any(str(k).startswith("$") for k in update)


def _update_error(exc: Exception) -> CommandError:
    text = str(exc)
    if "_id" in text and any(w in text.lower() for w in ("immutable", "modify", "cannot be changed")):
        return CommandError(
            66,
            "Performing an update on the path '_id' would modify the immutable field '_id'",
            "ImmutableField",
        )
    return engine_error(exc)


def _id_equality(filt: Document) -> Any:
    """The store key when ``filt`` is exactly ``{_id: <value>}`` (the point lookup); else None."""
    if len(filt) != 1 or "_id" not in filt:
        return None
    value = filt["_id"]
    if isinstance(value, dict):
        if len(value) == 1 and "$eq" in value:
            value = value["$eq"]
        if isinstance(value, dict) and any(str(k).startswith("$") for k in value):
            return None
    if isinstance(value, (list, bson.regex.Regex)) or hasattr(value, "pattern"):
        return None
    try:
        return store_key(value)
    except TypeError:
        return None


def new_object_id() -> ObjectId:
    return ObjectId()
