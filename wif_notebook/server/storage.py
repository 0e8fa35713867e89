"""Durable storage for the test mongod's collections in ``storage.dbPath``: lock, journal, snapshot.

Files the kit writes in the dbPath (anything else makes the dbPath *foreign*, and it is refused and
left untouched):

- ``mongod.lock``: held with ``flock`` while a server runs and holding its pid, as mongod's lock
  file; a second server on the same dbPath fails with mongod's ``DBPathInUse`` message.
- ``wif-data.snapshot``: every collection, its options, indexes and documents at one moment, written
  to a temporary file, fsynced and renamed into place (compaction).
- ``wif-journal.<generation>``: every acknowledged change since that snapshot, appended and fsynced
  *before* the server acknowledges the write, so a ``kill -9`` loses nothing acknowledged.
- ``authz.json``: users and roles (``authz.AuthzStore``).

Both the snapshot and the journal are sequences of records ``<uint32 length><uint32 crc32><BSON>``.
On start the snapshot is loaded and the journal replayed, each read and decoded once (``open``). A
torn *last* journal record (a crash in the middle of an append, so never acknowledged) is cut off; a
bad record followed by more data, or a bad snapshot, means corruption: the server refuses to start
and changes nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError

from ..errors import StateError

Document = dict[str, Any]

LOCK_FILE = "mongod.lock"
SNAPSHOT_FILE = "wif-data.snapshot"
JOURNAL_PREFIX = "wif-journal."
FORMAT = "wif-notebook-data"
FORMAT_VERSION = 1
# Names the kit writes in the dbPath (temp files of atomic writes start with a dot and the name).
_OWN_FILE = re.compile(
    r"^(authz\.json|mongod\.lock|wif-data\.snapshot|wif-journal\.\d+|"
    r"\.(authz\.json|wif-data\.snapshot)\..+)$"
)
_RECORD_HEAD = struct.Struct("<II")
# As the wire codec (Binary UUIDs stay Binary), but dates naive UTC as the engine keeps them.
_BSON_CODEC: CodecOptions[Document] = CodecOptions(
    document_class=dict,
    tz_aware=False,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
# Compact the journal into a new snapshot once it grows past this many bytes.
COMPACT_JOURNAL_BYTES = 32 * 1024 * 1024


class StorageError(StateError):
    """The dbPath cannot be used: in use, foreign, or corrupt."""

    def __init__(self, what: str, *, hint: str | None = None, code: int = 0, code_name: str = "") -> None:
        super().__init__(what, hint=hint)
        self.code = code
        self.code_name = code_name


# -- checks ----------------------------------------------------------------------------------------
def foreign_files(db_path: Path) -> list[str]:
    """Files in ``db_path`` the kit did not write (a real mongod's WiredTiger files, anything else)."""
    try:
        names = sorted(os.listdir(db_path))
    except FileNotFoundError:
        return []
    return [n for n in names if not _OWN_FILE.match(n)]


def check_db_path(db_path: Path) -> None:
    """Refuse a missing or foreign dbPath before anything writes to it. Reads only the folder's
    listing: whether the kit's own files are intact is found out once, when the server opens them
    (``Storage.open``). As mongod, the server never creates its dbPath, and ``mongod.start_mongod``
    creates only the kit's own (``<state dir>/db``), so a mistyped path is refused, not filled."""
    db_path = Path(db_path)
    if not db_path.exists():
        # mongod's initAndListen text (NonExistentPath, 29).
        raise StorageError(
            f"Data directory {db_path} not found. Create the missing directory or specify another path "
            "using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option "
            "in the configuration file.",
            hint=f"create it (mkdir -p {db_path}) or correct storage.dbPath in mongod.conf; "
            "`wif mongod start` creates the kit's own dbPath",
            code=29,
            code_name="NonExistentPath",
        )
    foreign = foreign_files(db_path)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise StorageError(
            f"storage.dbPath {db_path} holds files the kit's test server did not write ({shown}); "
            "it may be a real mongod's data directory, so it was left untouched",
            hint="point storage.dbPath in mongod.conf at an empty folder (the kit's default is "
            "<state dir>/db), or move those files away",
            code=14,
            code_name="DBPathForeign",
        )


def _corrupt(path: Path, why: str) -> StorageError:
    return StorageError(
        f"the kit's data file {path} is corrupt ({why}); the dbPath was left untouched",
        hint="restore the dbPath from a copy, or move it away and start again with an empty one "
        "(its collections are then lost); `wif reset` wipes the whole state directory",
        code=14,
        code_name="DataCorruptionDetected",
    )


# -- records ---------------------------------------------------------------------------------------
def encode_record(doc: Document) -> bytes:
    payload = bson.encode(doc)
    return _RECORD_HEAD.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass
class _Scan:
    records: list[Document] = field(default_factory=list)
    good_bytes: int = 0  # length of the valid prefix
    torn: bool = False  # a bad record at the very end (cut off)


def _scan(data: bytes, *, path: Path, allow_torn_tail: bool) -> _Scan:
    scan = _Scan()
    pos = 0
    while pos < len(data):
        bad: str | None = None
        end = pos + _RECORD_HEAD.size
        if end > len(data):
            bad = "a record header is cut short"
            record_end = len(data)
        else:
            length, crc = _RECORD_HEAD.unpack_from(data, pos)
            record_end = end + length
            if record_end > len(data):
                bad = "a record is cut short"
                record_end = len(data)
            elif zlib.crc32(data[end:record_end]) != crc:
                bad = f"a record's checksum does not match at byte {pos}"
            else:
                try:
                    scan.records.append(bson.decode(data[end:record_end], codec_options=_BSON_CODEC))
                except (BSONError, ValueError) as exc:
                    bad = f"a record does not decode at byte {pos}: {exc}"
        if bad is not None:
            # Appends are sequential, so a crash can only tear the last record.
            if allow_torn_tail and record_end >= len(data):
                scan.torn = True
                return scan
            raise _corrupt(path, bad)
        pos = record_end
        scan.good_bytes = pos
    return scan


def _read_snapshot(path: Path) -> tuple[int, list[Document]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StorageError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check the permissions of the dbPath"
        ) from exc
    records = _scan(data, path=path, allow_torn_tail=False).records
    if not records or records[0].get("format") != FORMAT:
        raise _corrupt(path, "it does not start with the kit's header")
    if records[0].get("version") != FORMAT_VERSION:
        raise _corrupt(path, f"unknown format version {records[0].get('version')!r}")
    if not records[-1].get("end") or records[-1].get("count") != len(records) - 2:
        raise _corrupt(path, "it is incomplete")
    generation = records[0].get("generation")
    if not isinstance(generation, int):
        raise _corrupt(path, "the header has no generation")
    return generation, records[1:-1]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# -- the store -------------------------------------------------------------------------------------
class Storage:
    """An opened dbPath: the lock held, the journal open for appends.

    ``records`` after ``open`` are the snapshot's collection records then the journal's operations,
    in order: the caller replays them. Operations are plain documents (``{op: "put", ns, doc}``,
    ``{op: "del", ns, id}``, ``{op: "create", ns, options}``, ``{op: "drop", ns}``,
    ``{op: "createIndex", ns, spec}``, ``{op: "dropIndex", ns, name}``).
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.generation = 0
        self.records: list[Document] = []
        self.torn_bytes = 0
        self.journal_bytes = 0
        # mongod.lock still held a pid: the last server on this dbPath did not stop cleanly.
        self.unclean_shutdown = False
        self._lock_fd: int | None = None
        self._journal_fd: int | None = None
        self._dirty = False  # appended without fsync (w:0 / j:false)

    # -- open / close ----------------------------------------------------------------------------
    def open(self) -> None:
        """Lock, then read the snapshot and the journal (once: the only time they are decoded). A
        missing, foreign or corrupt dbPath is refused with nothing written, the lock file's content
        included. The pid goes into mongod.lock once the data is read, as mongod writes it once its
        storage engine has recovered (``writePid`` after the engine's ``create``); the flock, taken
        first, is what refuses a second server meanwhile."""
        check_db_path(self.db_path)
        self._lock()
        try:
            self._load()
        except BaseException:
            self._release()
            raise
        assert self._lock_fd is not None
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, f"{os.getpid()}\n".encode())
        os.fsync(self._lock_fd)

    def _lock(self) -> None:
        path = self.db_path / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            # mongod's StorageEngineLockFile::open text (DBPathInUse, 98).
            raise StorageError(
                f"Unable to lock the lock file: {path} ({os.strerror(exc.errno or errno.EAGAIN)}). "
                f"Another mongod instance is already running on the {self.db_path} directory",
                hint="stop the other server first (`wif services stop mongod`), or give this one "
                "another storage.dbPath",
                code=98,
                code_name="DBPathInUse",
            ) from exc
        self._lock_fd = fd
        # A clean stop empties the file (_unlock); mongod reads it the same way (createLockFile).
        self.unclean_shutdown = os.fstat(fd).st_size > 0

    def _unlock(self) -> None:
        """A clean shutdown: mongod empties the lock file, then releases it."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
        self._release()

    def _release(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _journal_path(self, generation: int) -> Path:
        return self.db_path / f"{JOURNAL_PREFIX}{generation}"

    def _load(self) -> None:
        snapshot = self.db_path / SNAPSHOT_FILE
        if snapshot.exists():
            self.generation, self.records = _read_snapshot(snapshot)
        else:
            # A new dbPath (or one with only users and roles): mark it as the kit's at once.
            self.generation = 1
            self._write_snapshot(self.generation, [])
        journal = self._journal_path(self.generation)
        if journal.exists():
            data = journal.read_bytes()
            scan = _scan(data, path=journal, allow_torn_tail=True)
            self.records.extend(scan.records)
            if scan.torn:
                # The torn tail was never acknowledged: cut it off so new appends follow good data.
                self.torn_bytes = len(data) - scan.good_bytes
                with open(journal, "r+b") as fh:
                    fh.truncate(scan.good_bytes)
                    os.fsync(fh.fileno())
            self.journal_bytes = scan.good_bytes
        self._open_journal()
        # Journals of older generations are already in the snapshot (a crash after a compaction).
        for name in os.listdir(self.db_path):
            if name.startswith(JOURNAL_PREFIX) and name != self._journal_path(self.generation).name:
                with contextlib.suppress(OSError):
                    os.unlink(self.db_path / name)

    def _open_journal(self) -> None:
        path = self._journal_path(self.generation)
        created = not path.exists()
        self._journal_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if created:
            _fsync_dir(self.db_path)

    def close(self, state: Iterable[Document] | None = None) -> None:
        """Compact into a snapshot of ``state`` (when given), then release the journal and the lock."""
        try:
            if state is not None and self._journal_fd is not None and self.journal_bytes:
                self.compact(state)
            else:
                self.flush()
        finally:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            self._unlock()

    # -- writes ------------------------------------------------------------------------------------
    def append(self, ops: list[Document], *, sync: bool = True) -> None:
        """Append operations to the journal; with ``sync`` they are on disk when this returns."""
        if not ops:
            return
        if self._journal_fd is None:
            raise StorageError("the data store is closed", hint="start the server again")
        data = b"".join(encode_record(op) for op in ops)
        view = memoryview(data)
        while view:
            written = os.write(self._journal_fd, view)
            view = view[written:]
        self.journal_bytes += len(data)
        if sync:
            os.fdatasync(self._journal_fd)
            self._dirty = False
        else:
            self._dirty = True

    def flush(self) -> None:
        """fsync what w:0 / j:false writes appended (mongod's periodic journal commit)."""
        if self._dirty and self._journal_fd is not None:
            os.fdatasync(self._journal_fd)
            self._dirty = False

    def needs_compaction(self) -> bool:
        return self.journal_bytes >= COMPACT_JOURNAL_BYTES

    def compact(self, state: Iterable[Document]) -> None:
        """Write ``state`` (collection records) as snapshot generation+1, then start a new journal."""
        self.flush()
        new_generation = self.generation + 1
        self._write_snapshot(new_generation, state)
        old_fd, old_path = self._journal_fd, self._journal_path(self.generation)
        self.generation = new_generation
        self._open_journal()
        self.journal_bytes = 0
        if old_fd is not None:
            os.close(old_fd)
        with contextlib.suppress(OSError):
            os.unlink(old_path)

    def _write_snapshot(self, generation: int, state: Iterable[Document]) -> None:
        path = self.db_path / SNAPSHOT_FILE
        tmp = self.db_path / f".{SNAPSHOT_FILE}.tmp"
        count = 0
        with open(tmp, "wb") as fh:
            os.chmod(tmp, 0o600)
            fh.write(encode_record({"format": FORMAT, "version": FORMAT_VERSION, "generation": generation}))
            for record in state:
                fh.write(encode_record(record))
                count += 1
            fh.write(encode_record({"end": True, "count": count}))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.db_path)
