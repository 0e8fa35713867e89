"""Benchmark: the test mongod's login and ping cost against a bare asyncio responder, in one run.

    .venv/bin/python benchmarks/server_login.py [--logins 40] [--pings 3000]

Measures, with real pymongo over loopback and each server in its own process:

- **login**: a new ``MongoClient`` + MONGODB-OIDC login (one-step, RS256 signature checked by the
  server against the kit IdP's JWKS) + ``ping``, median wall time; against the bare responder the
  same new client + ``ping`` with no authentication. Goal: ratio ≤ 2.
- **serial ping**: one connected client (authenticated on the test server), ``ping`` in a loop,
  operations per second. Goal: ratio ≥ 0.5.

The bare responder (``benchmarks/_harness.py``) answers only hello (OP_QUERY or OP_MSG) and, for
anything else, ``{ok: 1}``, with no command pipeline: it is the floor that Python, asyncio, BSON and
pymongo set on this machine. Results go to ``benchmarks/results/server_login.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _harness import machine_info, oidc_options, running_servers, save  # noqa: E402
from pymongo import MongoClient  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "server_login.json"


# -- the measurements ------------------------------------------------------------------------------
def _login_once(port: int, token: str | None) -> float:
    kwargs: dict[str, Any] = {"directConnection": True, "serverSelectionTimeoutMS": 5000}
    if token is not None:
        kwargs.update(oidc_options(token))
    started = time.perf_counter()
    client: MongoClient[Any] = MongoClient("127.0.0.1", port, **kwargs)
    client.admin.command("ping")
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def _ping_rate(port: int, token: str | None, count: int) -> float:
    kwargs: dict[str, Any] = {"directConnection": True, "serverSelectionTimeoutMS": 5000}
    if token is not None:
        kwargs.update(oidc_options(token))
    client: MongoClient[Any] = MongoClient("127.0.0.1", port, **kwargs)
    try:
        for _ in range(50):  # warm up: connection, login, code paths
            client.admin.command("ping")
        started = time.perf_counter()
        for _ in range(count):
            client.admin.command("ping")
        return count / (time.perf_counter() - started)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--pings", type=int, default=3000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp, running_servers(tmp) as servers:
        bare_logins, test_logins = [], []
        for _ in range(args.logins):  # interleaved, so drift affects both alike
            bare_logins.append(_login_once(servers.bare_port, None))
            test_logins.append(_login_once(servers.test_port, servers.token))
        bare_rate = _ping_rate(servers.bare_port, None, args.pings)
        test_rate = _ping_rate(servers.test_port, servers.token, args.pings)
    bare_ms = statistics.median(bare_logins) * 1000
    test_ms = statistics.median(test_logins) * 1000
    result = {
        "command": " ".join(
            ["python benchmarks/server_login.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": _dt.datetime.now(tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "login_plus_ping": {
            "iterations": args.logins,
            "bare_median_ms": round(bare_ms, 3),
            "test_server_median_ms": round(test_ms, 3),
            "ratio": round(test_ms / bare_ms, 3),
            "goal": "ratio <= 2",
            "met": test_ms / bare_ms <= 2,
        },
        "serial_ping": {
            "pings": args.pings,
            "bare_ops_per_s": round(bare_rate, 1),
            "test_server_ops_per_s": round(test_rate, 1),
            "ratio": round(test_rate / bare_rate, 3),
            "goal": "ratio >= 0.5",
            "met": test_rate / bare_rate >= 0.5,
        },
    }
    return save(result, RESULTS)


if __name__ == "__main__":
    sys.exit(main())
