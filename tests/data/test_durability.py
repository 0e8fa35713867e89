"""Durable storage in storage.dbPath: clean restarts, kill -9 right after acknowledged writes, the
lock file, and dbPaths the kit refuses (corrupt, foreign) and leaves untouched."""

from __future__ import annotations

import fcntl
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _support.logs import json_lines
from pymongo import WriteConcern
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wif_notebook.server.storage import JOURNAL_PREFIX, SNAPSHOT_FILE, encode_record
from wif_notebook.state import StateDir

from .conftest import AUTH_PREFIX, Idp, MongodProcess, write_conf


def _snapshot_of(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


def _run_server(state: StateDir, conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook.server", "--state-dir", str(state.path), "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_clean_stop_and_start_keeps_users_roles_collections_indexes_and_documents(
    mongod: MongodProcess,
) -> None:
    admin = mongod.admin()
    admin.admin.command(
        "createRole", f"{AUTH_PREFIX}/analysts", privileges=[], roles=[{"role": "read", "db": "shop"}]
    )
    admin.shop.command("createUser", "reporter", pwd="s3cret-pass", roles=[{"role": "read", "db": "shop"}])
    admin.shop.orders.insert_many([{"_id": i, "sku": f"s{i}"} for i in range(500)])
    admin.shop.orders.create_index("sku", unique=True)
    admin.shop.orders.update_many({"_id": {"$lt": 10}}, {"$set": {"paid": True}})
    admin.shop.orders.delete_one({"_id": 499})
    admin.shop.create_collection("empty", capped=False)
    admin.scratch.c.insert_one({"_id": 1})
    admin.drop_database("scratch")
    admin.shop.tmp.insert_one({"_id": 1})
    admin.shop.tmp.drop()
    admin.shop.get_collection("fast", write_concern=WriteConcern(w=0)).insert_one({"_id": "unacknowledged"})
    time.sleep(0.3)  # w:0 is not acknowledged: give it time to arrive before stopping
    assert mongod.stop() == 0

    mongod.start()
    admin = mongod.admin()
    assert admin.shop.orders.count_documents({}) == 499
    assert admin.shop.orders.count_documents({"paid": True}) == 10
    assert sorted(admin.shop.list_collection_names()) == ["empty", "fast", "orders"]
    assert "scratch" not in admin.list_database_names()
    assert admin.shop.fast.find_one() == {"_id": "unacknowledged"}
    assert [i["name"] for i in admin.shop.orders.list_indexes()] == ["_id_", "sku_1"]
    with pytest.raises(DuplicateKeyError):
        admin.shop.orders.insert_one({"sku": "s1"})
    assert admin.admin.command("rolesInfo", f"{AUTH_PREFIX}/analysts")["roles"]
    reporter = mongod.client(username="reporter", password="s3cret-pass", authSource="shop")
    assert reporter.shop.orders.find_one({"_id": 0}) == {"_id": 0, "sku": "s0", "paid": True}


def _writer(
    coll: Collection[Any], stop: threading.Event, acknowledged: dict[int, int], start: int, deleting: set[int]
) -> None:
    """Insert, update and delete one document after another; record each acknowledged result, and
    the delete sent (it may be applied and journaled with its acknowledgement lost to the kill)."""
    i = start
    while not stop.is_set():
        try:
            coll.insert_one({"_id": i, "v": 0})
            acknowledged[i] = 0
            if i % 3 == 0:
                coll.update_one({"_id": i}, {"$set": {"v": 1}})
                acknowledged[i] = 1
            if i % 5 == 0:
                deleting.add(i)
                coll.delete_one({"_id": i})
                acknowledged[i] = -1
        except PyMongoError:
            return  # the server died mid-write: that write was never acknowledged
        i += 1


def test_kill_9_right_after_acknowledged_writes_loses_none_of_them(mongod: MongodProcess) -> None:
    """A bounded loop: a writer acknowledges inserts, updates and deletes; the server is killed with
    SIGKILL at a random moment; after a restart every acknowledged write is there."""
    rng = random.Random(4)
    acknowledged: dict[int, int] = {}  # _id -> version the server acknowledged (-1 = deleted)
    deleting: set[int] = set()  # deletes sent: one may be in flight when the server is killed
    next_id = 0
    for _round in range(3):
        client = mongod.admin(retryWrites=False, socketTimeoutMS=2000)
        coll = client.durable.items
        stop = threading.Event()

        thread = threading.Thread(target=_writer, args=(coll, stop, acknowledged, next_id, deleting))
        thread.start()
        time.sleep(rng.uniform(0.3, 0.8))
        mongod.kill9()
        stop.set()
        thread.join(timeout=10)
        assert acknowledged, "the writer never got an acknowledgement"
        mongod.start()
        check = mongod.admin().durable.items
        stored = {d["_id"]: d["v"] for d in check.find()}
        for _id, version in acknowledged.items():
            if version == -1:
                assert _id not in stored, f"deleted document {_id} came back"
            elif _id not in stored:
                # Only a delete that was sent may have removed it: applied, its reply lost to the kill.
                assert _id in deleting, f"acknowledged write to {_id} was lost"
            else:
                assert stored[_id] >= version, f"acknowledged write to {_id} was lost"
        next_id = max(stored, default=0) + 1000


def test_a_torn_last_journal_record_is_ignored(mongod: MongodProcess) -> None:
    mongod.admin().t.c.insert_many([{"_id": i} for i in range(10)])
    mongod.kill9()
    db_path = mongod.state.path / "db"
    (journal,) = db_path.glob(JOURNAL_PREFIX + "*")
    record = encode_record({"op": "put", "ns": "t.c", "doc": {"_id": "torn"}})
    with open(journal, "ab") as fh:
        fh.write(record[: len(record) // 2])  # a crash in the middle of an append
    mongod.start()
    ids = [d["_id"] for d in mongod.admin().t.c.find()]
    assert ids == list(range(10))
    log = (mongod.state.path / "logs" / "mongod.log").read_text()
    assert "Dropped the torn last record of the journal" in log


def test_a_start_after_a_kill_warns_of_an_unclean_shutdown_and_one_after_a_clean_stop_does_not(
    mongod: MongodProcess,
) -> None:
    log_path = mongod.state.path / "logs" / "mongod.log"
    lock_path = mongod.state.path / "db" / "mongod.lock"

    def unclean_warnings() -> list[dict[str, Any]]:
        return [e for e in json_lines(log_path) if e["id"] == 22271]

    assert mongod.proc is not None
    assert lock_path.read_text() == f"{mongod.proc.pid}\n"  # the running server's
    mongod.kill9()
    mongod.start()
    (warning,) = unclean_warnings()
    assert warning["s"] == "W" and warning["c"] == "STORAGE"
    assert warning["msg"] == "Detected unclean shutdown - Lock file is not empty"  # no period
    assert warning["attr"] == {"lockFile": str(lock_path)}
    assert mongod.stop() == 0
    assert lock_path.read_text() == ""  # a clean stop empties it
    mongod.start()
    assert len(unclean_warnings()) == 1


def test_a_second_server_on_the_same_dbpath_is_refused_and_changes_nothing(
    mongod: MongodProcess, idp: Idp, tmp_path: Path
) -> None:
    db_path = mongod.state.path / "db"
    before = (db_path / "authz.json").read_bytes()
    other = StateDir(tmp_path / "other")
    result = _run_server(other, write_conf(other, idp, db_path=db_path))
    assert result.returncode == 100
    assert (
        f"Unable to lock the lock file: {db_path / 'mongod.lock'} (Resource temporarily unavailable). "
        f"Another mongod instance is already running on the {db_path} directory"
    ) in result.stderr
    assert "next step:" in result.stderr
    assert (db_path / "authz.json").read_bytes() == before  # the first server's users are intact
    assert mongod.admin().admin.command("ping")["ok"] == 1.0


def test_a_missing_dbpath_is_refused_with_mongods_message_and_not_created(tmp_path: Path, idp: Idp) -> None:
    state = StateDir(tmp_path / "state")
    conf = write_conf(state, idp)
    mistyped = tmp_path / "dtaa" / "db"
    conf.write_text(conf.read_text().replace(str(state.path / "db"), str(mistyped)))
    result = _run_server(state, conf)
    assert result.returncode == 100
    assert (
        f"Data directory {mistyped} not found. Create the missing directory or specify another path "
        "using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in "
        "the configuration file."
    ) in result.stderr
    assert "next step:" in result.stderr
    assert not mistyped.parent.exists()
    assert state.read_record("mongod") is None


def test_a_second_server_is_refused_while_the_first_still_replays_its_journal(
    tmp_path: Path, idp: Idp
) -> None:
    # A first server mid-replay holds the lock and has not yet written its pid (mongod writes it once
    # its storage engine has recovered): held here, the file empty, as that server leaves it.
    state = StateDir(tmp_path / "state")
    conf = write_conf(state, idp)
    lock_path = state.path / "db" / "mongod.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = _run_server(state, conf)
    assert result.returncode == 100
    assert f"Unable to lock the lock file: {lock_path} (Resource temporarily unavailable)" in result.stderr
    assert lock_path.read_text() == ""  # the refused server wrote nothing, its pid included


def test_a_corrupt_dbpath_is_refused_and_left_untouched(mongod: MongodProcess) -> None:
    mongod.admin().t.c.insert_one({"_id": 1})
    assert mongod.stop() == 0
    db_path = mongod.state.path / "db"
    snapshot = db_path / SNAPSHOT_FILE
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    before = _snapshot_of(db_path)
    result = _run_server(mongod.state, mongod.conf)
    assert result.returncode == 100
    assert f"the kit's data file {snapshot} is corrupt" in result.stderr
    assert "left untouched" in result.stderr and "next step:" in result.stderr
    assert _snapshot_of(db_path) == before


def test_a_bad_record_inside_the_journal_is_corruption_not_a_torn_tail(mongod: MongodProcess) -> None:
    mongod.admin().t.c.insert_many([{"_id": i} for i in range(3)])
    mongod.admin().t.c.insert_one({"_id": 3})
    mongod.kill9()
    db_path = mongod.state.path / "db"
    (journal,) = db_path.glob(JOURNAL_PREFIX + "*")
    data = bytearray(journal.read_bytes())
    data[12] ^= 0xFF  # inside the first record, with good records after it
    journal.write_bytes(bytes(data))
    before = _snapshot_of(db_path)
    result = _run_server(mongod.state, mongod.conf)
    assert result.returncode == 100 and "is corrupt" in result.stderr
    assert _snapshot_of(db_path) == before


def test_a_foreign_dbpath_is_refused_and_left_untouched(tmp_path: Path, idp: Idp) -> None:
    foreign = tmp_path / "real-mongod-data"
    foreign.mkdir()
    (foreign / "WiredTiger").write_text("WiredTiger\nWiredTiger 11.2.0\n")
    (foreign / "collection-0-123.wt").write_bytes(b"\x00" * 64)
    before = _snapshot_of(foreign)
    state = StateDir(tmp_path / "state")
    result = _run_server(state, write_conf(state, idp, db_path=foreign))
    assert result.returncode == 100
    assert f"storage.dbPath {foreign} holds files the kit's test server did not write" in result.stderr
    assert "WiredTiger" in result.stderr and "next step:" in result.stderr
    assert _snapshot_of(foreign) == before  # no lock file, no users, nothing
