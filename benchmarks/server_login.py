"""Benchmark: the test mongod's login and ping cost against a bare asyncio responder, in one run.

    .venv/bin/python benchmarks/server_login.py [--logins 40] [--pings 3000]

Measures, with real pymongo over loopback and each server in its own process:

- **login**: a new ``MongoClient`` + MONGODB-OIDC login (one-step, RS256 signature checked by the
  server against the kit IdP's JWKS) + ``ping``, median wall time; against the bare responder the
  same new client + ``ping`` with no authentication. Goal: ratio ≤ 2.
- **serial ping**: one connected client (authenticated on the test server), ``ping`` in a loop,
  operations per second. Goal: ratio ≥ 0.5.

The bare responder answers only hello (OP_QUERY or OP_MSG) and ping, with no command pipeline: it is
the floor that Python, asyncio, BSON and pymongo set on this machine. Results go to
``benchmarks/results/server_login.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bson  # noqa: E402
import pymongo  # noqa: E402
from pymongo import MongoClient  # noqa: E402
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "server_login.json"


# -- the bare responder ------------------------------------------------------------------------------
_HELLO = {
    "helloOk": True,
    "ismaster": True,
    "maxBsonObjectSize": 16777216,
    "maxMessageSizeBytes": 48000000,
    "maxWriteBatchSize": 100000,
    "logicalSessionTimeoutMinutes": 30,
    "connectionId": 1,
    "minWireVersion": 0,
    "maxWireVersion": 21,
    "readOnly": False,
    "ok": 1.0,
}


async def _bare_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # the same socket option the test server sets, so the floor is fair
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readexactly(16)
            length, request_id, _, op_code = struct.unpack("<iiii", head)
            body = await reader.readexactly(length - 16)
            if op_code == 2004:  # OP_QUERY handshake
                ns_end = body.index(b"\x00", 4)
                doc = bson.decode(body[ns_end + 9 :])
                reply = bson.encode({**_HELLO, "localTime": _dt.datetime.now(tz=_dt.timezone.utc)})
                payload = struct.pack("<iqii", 8, 0, 0, 1) + reply
                writer.write(struct.pack("<iiii", 16 + len(payload), 0, request_id, 1) + payload)
            else:  # OP_MSG with one kind-0 section
                flags = struct.unpack_from("<I", body)[0]
                doc = bson.decode(body[5:])
                name = next(iter(doc))
                if name.lower() in ("hello", "ismaster"):
                    out = {**_HELLO, "localTime": _dt.datetime.now(tz=_dt.timezone.utc)}
                else:
                    out = {"ok": 1.0}
                if flags & 2:
                    continue
                payload = b"\x00\x00\x00\x00\x00" + bson.encode(out)
                writer.write(struct.pack("<iiii", 16 + len(payload), 0, request_id, 2013) + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_bare() -> None:
    server = await asyncio.start_server(_bare_connection, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def _serve_test(issuer: str, audience: str, workdir: str) -> None:
    from wif_notebook.mongod import MongodConfig
    from wif_notebook.oidc import parse_oidc_identity_providers
    from wif_notebook.server.authz import AuthzStore
    from wif_notebook.server.core import TestServer
    from wif_notebook.server.log import MongodLog

    providers = [
        {
            "issuer": issuer,
            "audience": audience,
            "authNamePrefix": "kit",
            "authorizationClaim": "groups",
            "supportsHumanFlows": False,
        }
    ]
    base = Path(workdir)
    config = MongodConfig(
        port=0,
        db_path=base / "db",
        log_path=base / "mongod.log",
        authorization=True,
        enable_test_commands=True,
        authentication_mechanisms=["SCRAM-SHA-256", "MONGODB-OIDC"],
        oidc_providers=parse_oidc_identity_providers(json.dumps(providers), enable_test_commands=True),
    )
    config.db_path.mkdir(parents=True, exist_ok=True)

    async def run() -> None:
        server = TestServer(config, log=MongodLog(config.log_path), authz=AuthzStore(config.db_path))
        port = await server.start()
        while not all(server.key_loaded(i) for i in server.key_caches):
            await asyncio.sleep(0.02)
        print(port, flush=True)
        await server.serve_forever()

    asyncio.run(run())


# -- the measurements ------------------------------------------------------------------------------
class _FixedToken(OIDCCallback):
    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        return OIDCCallbackResult(access_token=self.token)


def _spawn(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise SystemExit(f"server {args} did not start")
    return proc, int(line)


def _login_once(port: int, token: str | None) -> float:
    kwargs: dict[str, Any] = {"directConnection": True, "serverSelectionTimeoutMS": 5000}
    if token is not None:
        kwargs.update(
            authMechanism="MONGODB-OIDC", authMechanismProperties={"OIDC_CALLBACK": _FixedToken(token)}
        )
    started = time.perf_counter()
    client: MongoClient[Any] = MongoClient("127.0.0.1", port, **kwargs)
    client.admin.command("ping")
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def _ping_rate(port: int, token: str | None, count: int) -> float:
    kwargs: dict[str, Any] = {"directConnection": True, "serverSelectionTimeoutMS": 5000}
    if token is not None:
        kwargs.update(
            authMechanism="MONGODB-OIDC", authMechanismProperties={"OIDC_CALLBACK": _FixedToken(token)}
        )
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
    parser.add_argument("--serve", choices=["bare", "test"], help=argparse.SUPPRESS)
    parser.add_argument("--issuer", help=argparse.SUPPRESS)
    parser.add_argument("--audience", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "bare":
        asyncio.run(_serve_bare())
        return 0
    if args.serve == "test":
        _serve_test(args.issuer, args.audience, args.workdir)
        return 0

    from wif_notebook.idp.service import mint, start_idp, stop_idp
    from wif_notebook.state import StateDir

    with tempfile.TemporaryDirectory() as tmp:
        state = StateDir(Path(tmp) / "state")
        record = start_idp(state)
        kit = record.extra["issuers"]["kit"]
        token = str(mint(state, "lesson-app", lifetime=3600)["token"])
        bare, bare_port = _spawn(["--serve", "bare"])
        test, test_port = _spawn(
            ["--serve", "test", "--issuer", kit["issuer"], "--audience", kit["audience"], "--workdir", tmp]
        )
        try:
            bare_logins, test_logins = [], []
            for _ in range(args.logins):  # interleaved, so drift affects both alike
                bare_logins.append(_login_once(bare_port, None))
                test_logins.append(_login_once(test_port, token))
            bare_rate = _ping_rate(bare_port, None, args.pings)
            test_rate = _ping_rate(test_port, token, args.pings)
        finally:
            for proc in (bare, test):
                proc.terminate()
                proc.wait(timeout=10)
            stop_idp(state)
    bare_ms = statistics.median(bare_logins) * 1000
    test_ms = statistics.median(test_logins) * 1000
    result = {
        "command": " ".join(
            ["python benchmarks/server_login.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": _dt.datetime.now(tz=_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pymongo": pymongo.version,
            "platform": platform.platform(),
        },
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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
