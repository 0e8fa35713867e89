"""The one place the test mongod touches mongomock, its query, update and aggregation engine.

mongomock's public face is a pymongo look-alike; the data plane also needs a few of its internals
(the per-collection document store, the projection helper, the table of pipeline stages). They are
named here and nowhere else, for the version range ``pyproject.toml`` pins (``SUPPORTED``):
``check_compatible()`` refuses any other version, or one whose internals moved, with a message
that says so, and ``tests/server/test_engine.py`` runs it on the installed version.

``is_engine_error`` tells a query the engine refused (an invalid operator, a bad argument: mongod
answers such a command with an error) from a bug of the kit's own code, which must not be reported
to the client as a query error.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mongomock
from bson.errors import BSONError
from mongomock import aggregate as _aggregate
from mongomock import filtering as _filtering
from mongomock import helpers as _helpers
from pymongo.errors import PyMongoError

Document = dict[str, Any]

SUPPORTED = ((4, 3), (4, 4))  # >= 4.3, < 4.4: pyproject.toml's "mongomock>=4.3,<4.4"
_ENGINE_DIR = Path(mongomock.__file__).resolve().parent
# What mongomock raises for a command it cannot evaluate: its own errors are pymongo's and bson's, and
# NotImplementedError for what it lacks. For an invalid argument it may also fail with a built-in
# (TypeError, ValueError, even AttributeError for `$regex: 5`): those count when raised inside it.
_ENGINE_ERRORS: tuple[type[BaseException], ...] = (PyMongoError, BSONError, NotImplementedError)


class IncompatibleEngine(RuntimeError):
    """The installed mongomock is not one the data plane was written against."""


def check_compatible(installed: str | None = None) -> None:
    """Raise ``IncompatibleEngine`` unless mongomock (``installed``: its version, default the one
    installed) is in ``SUPPORTED`` and has what is used here."""
    installed = installed or version("mongomock")
    parts = tuple(int(p) for p in installed.split(".")[:2] if p.isdigit())
    low, high = SUPPORTED
    wanted = f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}"
    if not (low <= parts < high):
        raise IncompatibleEngine(f"mongomock {installed} is installed; the kit's test mongod needs {wanted}")
    missing = [
        name
        for owner, name in (
            (_aggregate, "_PIPELINE_HANDLERS"),
            (_aggregate, "process_pipeline"),
            (_filtering, "filter_applies"),
            (_helpers, "hashdict"),
            (_helpers, "patch_datetime_awareness_in_document"),
            (mongomock.Collection, "_copy_only_fields"),
        )
        if not hasattr(owner, name)
    ]
    store: Any = mongomock.MongoClient()["check"]["check"]
    if not hasattr(store, "_store") or not hasattr(store._store, "_documents"):
        missing.append("Collection._store._documents")
    if missing:
        raise IncompatibleEngine(f"mongomock {installed} lacks what the kit uses: {', '.join(missing)}")


# -- values ----------------------------------------------------------------------------------------
def normalize(doc: Any) -> Any:
    """Incoming documents as the engine keeps them (naive UTC dates at millisecond precision)."""
    return _helpers.patch_datetime_awareness_in_document(doc)


def store_key(value: Any) -> Any:
    """The key the engine's store uses for an ``_id``."""
    return _helpers.hashdict(value) if isinstance(value, dict) else value


def filter_applies(filt: Document, doc: Document) -> bool:
    """Does ``doc`` match the query ``filt`` (mongomock's filter engine)?"""
    return bool(_filtering.filter_applies(filt, doc))


# -- clients, collections, stores ----------------------------------------------------------------
def new_client(*, tz_aware: bool = False) -> Any:
    """An in-memory engine client (one per server, plus a scratch one for updates)."""
    return mongomock.MongoClient(tz_aware=tz_aware)


class DocumentStore:
    """A collection's documents in the engine, by ``store_key`` of their ``_id``, in natural order."""

    def __init__(self, collection: Any) -> None:
        self._store = collection._store

    def get(self, key: Any) -> Document | None:
        doc: Document | None = self._store._documents.get(key)
        return doc

    def __contains__(self, key: Any) -> bool:
        return key in self._store._documents

    def __len__(self) -> int:
        return len(self._store._documents)

    def put(self, key: Any, doc: Document) -> None:
        self._store[key] = doc

    def pop(self, key: Any) -> Document | None:
        doc: Document | None = self._store._documents.pop(key, None)
        return doc

    def values(self) -> Iterator[Document]:
        """The stored documents themselves (not copies), as a snapshot list's iterator."""
        return iter(list(self._store._documents.values()))

    def clear(self) -> None:
        self._store._documents.clear()

    def create(self) -> None:
        """Mark the collection created even while empty (as ``create`` does)."""
        self._store.create()


def project(collection: Any, doc: Document, projection: Document | None) -> Document:
    """A copy of ``doc`` with ``projection`` applied, as ``find`` returns it."""
    projected: Document = collection._copy_only_fields(doc, projection, dict)
    return projected


# -- aggregation ---------------------------------------------------------------------------------
PIPELINE_STAGES: frozenset[str] = frozenset(_aggregate._PIPELINE_HANDLERS)


def process_pipeline(docs: list[Document], database: Any, pipeline: list[Any]) -> list[Document]:
    """``pipeline`` over ``docs`` (``database`` resolves ``$lookup`` and friends)."""
    return list(_aggregate.process_pipeline(docs, database, pipeline, None))


# -- errors ----------------------------------------------------------------------------------------
def is_engine_error(exc: BaseException) -> bool:
    """Did the engine refuse what it was asked (rather than the kit's own code failing)?"""
    if isinstance(exc, _ENGINE_ERRORS):
        return True
    if not isinstance(exc, Exception) or exc.__traceback__ is None:
        return False
    innermost = traceback.extract_tb(exc.__traceback__)[-1]
    return Path(innermost.filename).resolve().is_relative_to(_ENGINE_DIR)
