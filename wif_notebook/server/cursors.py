"""Server-side cursors of the test mongod: batches, ownership, getMore and killCursors rules.

As mongod: a cursor id is a random non-zero Int64; the first batch holds at most 101 documents by
default (``batchSize`` otherwise), every batch at most 16 MiB of documents (the first document always
goes); a cursor is closed (id 0) once exhausted; it belongs to the users authenticated when it was
created, and an idle cursor dies after ``cursorTimeoutMillis`` (10 minutes).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import bson
from bson.int64 import Int64

from .registry import CommandError, Document

DEFAULT_FIRST_BATCH = 101
MAX_BATCH_BYTES = 16 * 1024 * 1024  # BSONObjMaxUserSize: a batch's documents fit one reply
CURSOR_TIMEOUT_SECS = 600.0  # mongod's cursorTimeoutMillis default


@dataclass
class Cursor:
    id: int
    ns: str
    docs: list[Document]
    owners: frozenset[tuple[str, str]]
    position: int = 0
    last_used: float = field(default_factory=time.monotonic)


def take_batch(docs: list[Document], start: int, limit: int | None) -> list[Document]:
    """Documents from ``start``: at most ``limit`` of them and at most 16 MiB (the first always)."""
    end = len(docs) if limit is None else min(len(docs), start + limit)
    if end - start <= 1:
        return docs[start:end]
    out: list[Document] = []
    size = 0
    for doc in docs[start:end]:
        doc_size = len(bson.encode(doc))
        if out and size + doc_size > MAX_BATCH_BYTES:
            break
        out.append(doc)
        size += doc_size
    return out


class CursorManager:
    """Open cursors by id (mongod's CursorManager)."""

    def __init__(self) -> None:
        self.cursors: dict[int, Cursor] = {}

    def _reap(self) -> None:
        now = time.monotonic()
        for cid in [c.id for c in self.cursors.values() if now - c.last_used > CURSOR_TIMEOUT_SECS]:
            del self.cursors[cid]

    def first_batch(
        self,
        ns: str,
        docs: list[Document],
        owners: Iterable[tuple[str, str]],
        *,
        batch_size: int | None,
        single_batch: bool = False,
        reply_ns: str | None = None,
    ) -> Document:
        """The ``{cursor: {firstBatch, id, ns}}`` reply; a cursor stays open for the rest."""
        self._reap()
        limit = DEFAULT_FIRST_BATCH if batch_size is None else batch_size
        first = take_batch(docs, 0, limit)
        cursor_id = 0
        # batchSize 0 asks for no work now: mongod keeps a cursor even for what may be empty.
        if not single_batch and (len(first) < len(docs) or batch_size == 0):
            cursor_id = secrets.randbits(62) or 1
            self.cursors[cursor_id] = Cursor(cursor_id, ns, docs, frozenset(owners), position=len(first))
        return {"cursor": {"firstBatch": first, "id": Int64(cursor_id), "ns": reply_ns or ns}}

    def get_more(
        self, cursor_id: int, ns: str, users: Iterable[tuple[str, str]], batch_size: int | None
    ) -> Document:
        self._reap()
        cursor = self.cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found", "CursorNotFound")
        if cursor.ns != ns:
            raise CommandError(
                13,
                f"Requested getMore on namespace '{ns}', but cursor belongs to a different namespace "
                f"{cursor.ns}",
                "Unauthorized",
            )
        if cursor.owners != frozenset(users):
            # mongod's getMore: the cursor's users must be those of the session asking.
            raise CommandError(
                13, f"cursor id {cursor_id} was not created by the authenticated user", "Unauthorized"
            )
        batch = take_batch(cursor.docs, cursor.position, batch_size or None)
        cursor.position += len(batch)
        cursor.last_used = time.monotonic()
        next_id = cursor_id
        if cursor.position >= len(cursor.docs):
            del self.cursors[cursor_id]
            next_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(next_id), "ns": cursor.ns}}

    def kill(self, ns: str, ids: list[int], users: Iterable[tuple[str, str]]) -> Document:
        owners = frozenset(users)
        killed: list[Int64] = []
        not_found: list[Int64] = []
        for cid in ids:
            cursor = self.cursors.get(cid)
            if cursor is None or cursor.ns != ns:
                not_found.append(Int64(cid))
                continue
            if cursor.owners != owners:
                # UNCONFIRMED: mongod's exact text for killing another user's cursor.
                raise CommandError(
                    13, f"not authorized to kill cursor {cid} on namespace {ns}", "Unauthorized"
                )
            del self.cursors[cid]
            killed.append(Int64(cid))
        return {
            "cursorsKilled": killed,
            "cursorsNotFound": not_found,
            "cursorsAlive": [],
            "cursorsUnknown": [],
        }

    def drop_namespace(self, ns: str) -> None:
        """Cursors on a dropped collection die with it."""
        for cid in [c.id for c in self.cursors.values() if c.ns == ns or c.ns.startswith(ns + ".")]:
            del self.cursors[cid]
