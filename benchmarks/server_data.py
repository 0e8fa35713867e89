"""Benchmark: the test mongod's data plane against the bare asyncio responder, in one run.

    .venv/bin/python benchmarks/server_data.py [--ops 3000] [--docs 10000] [--connections 500]

With real pymongo over loopback, each server in its own process (the bare responder of
``benchmarks/_harness.py``, which answers hello and, for anything else, ``{ok: 1}``):

- **find by _id**: one authenticated (MONGODB-OIDC) client, ``find_one({_id: k})`` on a collection of
  ``--docs`` documents, serial, operations per second; floor: serial ``ping`` on the responder,
  measured in alternating chunks with it (ten rounds), so load on the machine affects both alike.
  Goal: ratio ≥ 0.5.
- **insert**: serial ``insert_one`` (each journalled and fsynced before it is acknowledged) per
  second against the same floor; and, for information, ``insert_many`` documents per second.
- **connections**: ``--connections`` threads of one client (``maxPoolSize`` as large) run a ``find``
  that a ``failCommand`` failpoint holds for a few seconds, so the pool opens that many connections,
  each authenticated with MONGODB-OIDC; the server's ``serverStatus.connections.current`` is read
  while they are held. Goal: ≥ 500 within the time bound.

Results go to ``benchmarks/results/server_data.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import machine_info, oidc_options, running_servers, save  # noqa: E402
from pymongo import MongoClient  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "server_data.json"
APP_NAME = "server-data-bench"


def _oidc_client(port: int, token: str, **kwargs: Any) -> MongoClient[Any]:
    return MongoClient(
        "127.0.0.1",
        port,
        directConnection=True,
        serverSelectionTimeoutMS=10000,
        **oidc_options(token),
        **kwargs,
    )


def _timed(fn: Any, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return time.perf_counter() - started


def _interleaved(floor_fn: Any, test_fn: Any, ops: int, rounds: int = 10) -> tuple[float, float]:
    """Ops/s of both, measured in alternating chunks so load drift on the machine affects both."""
    for _ in range(50):  # warm up: connections, login, code paths
        floor_fn()
        test_fn()
    chunk = max(1, ops // rounds)
    floor_time = test_time = 0.0
    for _ in range(rounds):
        floor_time += _timed(floor_fn, chunk)
        test_time += _timed(test_fn, chunk)
    return chunk * rounds / floor_time, chunk * rounds / test_time


def _find_and_insert(bare_port: int, port: int, token: str, ops: int, docs: int) -> dict[str, float]:
    bare: MongoClient[Any] = MongoClient("127.0.0.1", bare_port, directConnection=True)
    client = _oidc_client(port, token)
    try:
        coll = client.bench.items
        coll.drop()
        for start in range(0, docs, 1000):
            coll.insert_many(
                [{"_id": i, "name": f"item {i}", "n": i % 97} for i in range(start, min(docs, start + 1000))]
            )
        rng = random.Random(1)
        keys = iter([rng.randrange(docs) for _ in range(ops + 100)])

        def ping() -> None:
            bare.admin.command("ping")

        floor_find, find_rate = _interleaved(ping, lambda: coll.find_one({"_id": next(keys)}), ops)
        counter = iter(range(docs, docs + ops + 100))
        floor_insert, insert_rate = _interleaved(
            ping, lambda: coll.insert_one({"_id": next(counter), "name": "new"}), ops
        )
        batch = [{"name": "bulk", "n": i} for i in range(1000)]
        started = time.perf_counter()
        rounds = 5
        for _ in range(rounds):
            coll.insert_many([dict(d) for d in batch])
        bulk_docs_rate = rounds * len(batch) / (time.perf_counter() - started)
        assert coll.find_one({"_id": 3}) == {"_id": 3, "name": "item 3", "n": 3}
        return {
            "floor_find": floor_find,
            "find": find_rate,
            "floor_insert": floor_insert,
            "insert": insert_rate,
            "insert_many_docs": bulk_docs_rate,
        }
    finally:
        client.close()
        bare.close()


def _connections(port: int, token: str, admin: tuple[str, str], wanted: int, hold_ms: int) -> dict[str, Any]:
    user, password = admin
    admin_client: MongoClient[Any] = MongoClient(
        "127.0.0.1", port, directConnection=True, username=user, password=password, authSource="admin"
    )
    admin_client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode="alwaysOn",
        data={"failCommands": ["find"], "blockConnection": True, "blockTimeMS": hold_ms, "appName": APP_NAME},
    )
    client = _oidc_client(
        port, token, maxPoolSize=wanted, maxConnecting=16, appName=APP_NAME, waitQueueTimeoutMS=60000
    )
    errors: list[str] = []
    started = time.perf_counter()

    def one() -> None:
        try:
            client.bench.items.find_one({"_id": 1})
        except Exception as exc:  # reported, not raised: the count is the result
            errors.append(type(exc).__name__)

    threads = [threading.Thread(target=one) for _ in range(wanted)]
    for t in threads:
        t.start()
    peak = 0
    reached_at: float | None = None
    deadline = time.perf_counter() + hold_ms / 1000
    while time.perf_counter() < deadline:
        current = admin_client.admin.command("serverStatus")["connections"]["current"]
        peak = max(peak, current)
        if reached_at is None and current - 3 >= wanted:
            reached_at = time.perf_counter() - started
        time.sleep(0.1)
    for t in threads:
        t.join(timeout=hold_ms / 1000 + 60)
    admin_client.admin.command("configureFailPoint", "failCommand", mode="off")
    client.close()
    admin_client.close()
    # Not counted: the admin client's monitor and pool connection, and the OIDC client's monitor
    # (monitors never authenticate); what remains is the pool's authenticated connections.
    return {"wanted": wanted, "held": peak - 3, "reached_after_s": reached_at, "errors": len(errors)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=3000)
    parser.add_argument("--docs", type=int, default=10000)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--hold-ms", type=int, default=8000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, running_servers(tmp) as servers:
        user, password = servers.admin
        a: MongoClient[Any]
        with MongoClient(
            "127.0.0.1", servers.test_port, directConnection=True, username=user, password=password
        ) as a:
            a.admin.command(
                "createRole",
                "kit/lesson-readers",
                privileges=[],
                roles=[{"role": "readWrite", "db": "bench"}],
            )
        measured = _find_and_insert(servers.bare_port, servers.test_port, servers.token, args.ops, args.docs)
        conns = _connections(servers.test_port, servers.token, servers.admin, args.connections, args.hold_ms)
    result = {
        "command": " ".join(
            ["python benchmarks/server_data.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": _dt.datetime.now(tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "find_by_id": {
            "collection_docs": args.docs,
            "ops": args.ops,
            "floor_ping_ops_per_s": round(measured["floor_find"], 1),
            "test_server_ops_per_s": round(measured["find"], 1),
            "ratio": round(measured["find"] / measured["floor_find"], 3),
            "goal": "ratio >= 0.5",
            "met": measured["find"] / measured["floor_find"] >= 0.5,
        },
        "insert_one": {
            "ops": args.ops,
            "floor_ping_ops_per_s": round(measured["floor_insert"], 1),
            "test_server_ops_per_s": round(measured["insert"], 1),
            "ratio": round(measured["insert"] / measured["floor_insert"], 3),
            "note": "every acknowledged insert is fsynced (fdatasync) to the journal first",
        },
        "insert_many_docs_per_s": round(measured["insert_many_docs"], 1),
        "concurrent_authenticated_connections": {
            **conns,
            "goal": f"held >= 500 within {args.hold_ms / 1000:.0f} s",
            "met": conns["held"] >= 500,
        },
    }
    return save(result, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
