"""Load: hundreds of concurrent authenticated pymongo connections against the kit, bounded in time.

    .venv/bin/python benchmarks/load.py [--connections 500] [--clients 25] [--seconds 20]
                                        [--output benchmarks/results/load.json]

Starts the whole kit the way ``wif up`` does (mock IdP and test mongod, each its own process, in a
throw-away state directory, loopback only), mints one ``lesson-app`` token into an
``OIDC_TOKEN_FILE`` and opens ``--clients`` MongoClients (``ENVIRONMENT:test``, MONGODB-OIDC), whose
pools together hold ``--connections`` connections: one worker thread per connection. Every worker
first logs in and writes once; when all of them have (a barrier), they run a mix of reads and writes
for ``--seconds``: 50 % ``find_one`` by ``_id``, 20 % ``insert_one``, 20 % ``update_one`` with
``$inc``, 10 % a ``find`` of up to 10 documents.

Reported: operations, errors (by type, with examples), the peak number of connections the server
counted (``serverStatus.connections.current``, sampled every 0.5 s), and the peak resident memory
(``VmHWM`` from ``/proc/<pid>/status``) of the IdP and the test mongod. Exit status 1 if any
operation failed, so the default test suite can run a small version of it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402
from pymongo import MongoClient  # noqa: E402
from pymongo.errors import OperationFailure  # noqa: E402

from wif_notebook import stack  # noqa: E402
from wif_notebook.idp.service import mint  # noqa: E402
from wif_notebook.state import StateDir, write_private  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "load.json"
DB = "load"
ROLE = "kit/lesson-readers"  # the lesson-app principal's group, mapped by the kit issuer's entry


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of ``pid`` in kB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class Worker(threading.Thread):
    """One connection's worth of load: log in, write once, wait for the others, then mix ops."""

    def __init__(
        self, index: int, client: MongoClient[Any], barrier: threading.Barrier, stop: threading.Event
    ):
        super().__init__(name=f"load-{index}", daemon=True)
        self.index = index
        self.coll = client[DB]["items"]
        self.barrier = barrier
        self.stop = stop
        self.ops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.examples: list[str] = []
        self.rng = random.Random(index)

    def _fail(self, what: str, exc: BaseException) -> None:
        key = f"{what}: {type(exc).__name__}"
        self.errors[key] += 1
        if len(self.examples) < 3:
            self.examples.append(f"{key}: {str(exc)[:200]}")

    def run(self) -> None:
        own = f"w{self.index}"
        try:
            self.coll.insert_one({"_id": f"{own}-0", "worker": self.index, "n": 0})
            self.ops["insert"] += 1
        except Exception as exc:  # counted and reported; a worker never dies silently
            self._fail("first insert", exc)
        try:
            self.barrier.wait(timeout=120)
        except threading.BrokenBarrierError as exc:
            self._fail("barrier", exc)
            return
        written = 1
        while not self.stop.is_set():
            roll = self.rng.random()
            try:
                if roll < 0.5:
                    key = f"{own}-{self.rng.randrange(written)}"
                    if self.coll.find_one({"_id": key}) is None:
                        raise AssertionError(f"acknowledged document {key} is missing")
                    self.ops["find_one"] += 1
                elif roll < 0.7:
                    self.coll.insert_one({"_id": f"{own}-{written}", "worker": self.index, "n": 0})
                    written += 1
                    self.ops["insert"] += 1
                elif roll < 0.9:
                    self.coll.update_one({"_id": f"{own}-0"}, {"$inc": {"n": 1}})
                    self.ops["update"] += 1
                else:
                    list(self.coll.find({"worker": self.index}).limit(10))
                    self.ops["find"] += 1
            except Exception as exc:
                self._fail("operation", exc)


def run_load(connections: int, clients: int, seconds: float, state_path: Path) -> dict[str, Any]:
    state = StateDir(state_path)
    up = stack.up(state, idp_port=0, port=0)
    idp_pid, mongod_pid = int(up["idp"]["pid"]), int(up["mongod"]["pid"])
    admin: MongoClient[Any] = MongoClient(stack.administrator_uri(state), serverSelectionTimeoutMS=10_000)
    opened: list[MongoClient[Any]] = [admin]
    try:
        try:
            admin.admin.command("createRole", ROLE, privileges=[], roles=[{"role": "readWrite", "db": DB}])
        except OperationFailure as exc:
            if "already exists" not in str(exc):
                raise
        token_file = state.subdir("tokens") / "load-token"
        write_private(token_file, mint(state, "lesson-app", lifetime=3600)["token"])
        os.environ["OIDC_TOKEN_FILE"] = str(token_file)
        per_client = -(-connections // clients)
        pools = []
        for _ in range(clients):
            client: MongoClient[Any] = MongoClient(
                up["mongodb_uri"],
                authMechanismProperties={"ENVIRONMENT": "test"},
                maxPoolSize=per_client,
                minPoolSize=per_client,  # the pool opens (and authenticates) every connection up front
                serverSelectionTimeoutMS=60_000,
                connectTimeoutMS=60_000,
                socketTimeoutMS=120_000,
                waitQueueTimeoutMS=120_000,
                retryReads=False,
                retryWrites=False,
            )
            pools.append(client)
            opened.append(client)
        # Wait until the pools are full: the server counts every pool connection plus one monitor
        # connection per client.
        warm_deadline = time.monotonic() + 180
        while time.monotonic() < warm_deadline:
            current = int(admin.admin.command("serverStatus")["connections"]["current"])
            if current >= per_client * clients + clients:
                break
            time.sleep(0.5)
        barrier = threading.Barrier(connections + 1)
        stop = threading.Event()
        workers = [Worker(i, pools[i % clients], barrier, stop) for i in range(connections)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        barrier.wait(timeout=180)
        ramp_up = time.perf_counter() - started
        peak_connections = 0
        deadline = time.monotonic() + seconds
        load_started = time.perf_counter()
        while time.monotonic() < deadline:
            current = admin.admin.command("serverStatus")["connections"]["current"]
            peak_connections = max(peak_connections, int(current))
            time.sleep(0.5)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        elapsed = time.perf_counter() - load_started
        ops: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        examples: list[str] = []
        for worker in workers:
            ops.update(worker.ops)
            errors.update(worker.errors)
            examples.extend(worker.examples[: max(0, 5 - len(examples))])
        log_path = state.logs_dir / "mongod.log"
        logins = sum(1 for line in log_path.read_text().splitlines() if '"id":20250,' in line)
        memory = {"idp": proc_status(idp_pid), "mongod": proc_status(mongod_pid)}
        total_hwm_kb = memory["idp"]["VmHWM"] + memory["mongod"]["VmHWM"]
        stuck = sum(1 for w in workers if w.is_alive())
        return {
            "connections": connections,
            "clients": clients,
            "seconds": seconds,
            "ramp_up_s": round(ramp_up, 2),
            "elapsed_s": round(elapsed, 2),
            "peak_server_connections": peak_connections,
            "monitor_connections": clients,
            "oidc_logins_logged": logins,
            "operations": dict(ops),
            "operations_total": sum(ops.values()),
            "ops_per_s": round(sum(ops.values()) / elapsed, 1),
            "errors": dict(errors),
            "errors_total": sum(errors.values()) + stuck,
            "error_examples": examples,
            "workers_stuck": stuck,
            "memory_kb": memory,
            "peak_rss_idp_plus_mongod_mb": round(total_hwm_kb / 1024, 1),
            "memory_goal": "IdP + test mongod VmHWM under 200 MB",
            "memory_goal_met": total_hwm_kb / 1024 < 200,
            "connections_goal": ">= 500 concurrent authenticated connections, no errors",
        }
    finally:
        for client in opened:
            client.close()
        stack.down(state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--clients", type=int, default=25, help="MongoClients sharing the connections")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=None, help=f"JSON result (e.g. {RESULTS})")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.clients < 1 or args.clients > args.connections:
        parser.error("need 1 <= --clients <= --connections")
    tmp = Path(tempfile.mkdtemp(prefix="wif-load-"))
    try:
        result = run_load(args.connections, args.clients, args.seconds, tmp / "state")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {
        "command": "python benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pymongo": pymongo.version,
            "platform": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        **result,
    }
    text = json.dumps(doc, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    return 0 if result["errors_total"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
