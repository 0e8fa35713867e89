"""What the test-mongod benchmarks share: the servers they compare, each in its own process.

- the **bare responder**: an asyncio server that answers hello (OP_QUERY or OP_MSG) and, for anything
  else, ``{ok: 1}``, with no command pipeline: the floor that Python, asyncio, BSON and pymongo set
  on this machine;
- the **test mongod** (``TestServer``) with authorization, SCRAM and MONGODB-OIDC for one issuer of
  the kit's IdP, durable storage in ``<workdir>/db`` and the kit's administrator;
- ``oidc_options(token)``: pymongo options that log in with MONGODB-OIDC using a fixed token;
- ``save(result, path)``: the result written to ``benchmarks/results/`` and printed.

``spawn_bare()`` and ``spawn_test(...)`` start them by running this file with ``--serve``;
``running_servers(workdir)`` starts the kit's IdP, mints a lesson-app token and starts both servers,
and stops them all at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import os
import platform
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bson  # noqa: E402
import pymongo  # noqa: E402
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult  # noqa: E402

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


# -- the test mongod ---------------------------------------------------------------------------------
def _serve_test(issuer: str, audience: str, workdir: str) -> None:
    """The test mongod with durable storage in ``workdir/db``; prints its port, then the admin.

    It trusts the kit CA of ``workdir/state``, the IdP's state directory (its issuers are https)."""
    from wif_notebook.mongod import MongodConfig
    from wif_notebook.oidc import parse_oidc_identity_providers
    from wif_notebook.server.authz import AuthzStore
    from wif_notebook.server.core import TestServer
    from wif_notebook.server.log import MongodLog
    from wif_notebook.state import StateDir

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
    store = AuthzStore(config.db_path)
    admin = store.ensure_admin(base)

    async def run() -> None:
        server = TestServer(
            config, log=MongodLog(config.log_path), authz=store, state=StateDir(base / "state")
        )
        port = await server.start()
        while not all(server.key_loaded(i) for i in server.key_caches):
            await asyncio.sleep(0.02)
        print(port, flush=True)
        print(json.dumps(admin), flush=True)
        await server.serve_forever()

    asyncio.run(run())


# -- starting them -----------------------------------------------------------------------------------
def _spawn(args: list[str], lines: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Run this file with ``args``; the first ``lines`` lines it prints once it is listening."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    printed = [proc.stdout.readline() for _ in range(lines)]
    if not all(line.strip() for line in printed):
        proc.kill()
        raise SystemExit(f"server {args} did not start")
    return proc, printed


def spawn_bare() -> tuple[subprocess.Popen[str], int]:
    """The bare responder in its own process, and its port."""
    proc, (port,) = _spawn(["--serve", "bare"], 1)
    return proc, int(port)


def spawn_test(
    issuer: str, audience: str, workdir: str
) -> tuple[subprocess.Popen[str], int, tuple[str, str]]:
    """The test mongod in its own process, its port, and the administrator's (user, password)."""
    args = ["--serve", "test", "--issuer", issuer, "--audience", audience, "--workdir", workdir]
    proc, (port, admin) = _spawn(args, 2)
    user, password = json.loads(admin)
    return proc, int(port), (user, password)


@dataclass
class Servers:
    """What ``running_servers`` started: the two ports, a token and the test server's administrator."""

    bare_port: int
    test_port: int
    token: str  # a lesson-app token of the kit issuer, valid for an hour
    admin: tuple[str, str]


@contextlib.contextmanager
def running_servers(workdir: str) -> Iterator[Servers]:
    """The kit's IdP (state in ``workdir/state``), the bare responder and the test mongod for the
    IdP's kit issuer; all stopped when the block ends."""
    from wif_notebook.idp.service import mint, start_idp, stop_idp
    from wif_notebook.state import StateDir

    state = StateDir(Path(workdir) / "state")
    record = start_idp(state)
    kit = record.extra["issuers"]["kit"]
    token = str(mint(state, "lesson-app", lifetime=3600)["token"])
    bare, bare_port = spawn_bare()
    test, test_port, admin = spawn_test(kit["issuer"], kit["audience"], workdir)
    try:
        yield Servers(bare_port, test_port, token, admin)
    finally:
        for proc in (bare, test):
            proc.terminate()
            proc.wait(timeout=20)
        stop_idp(state)


def machine_info() -> dict[str, Any]:
    """What a result was measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pymongo": pymongo.version,
        "platform": platform.platform(),
    }


def save(result: dict[str, Any], path: Path) -> int:
    """Write ``result`` to ``path`` (``benchmarks/results/``) and print it; the benchmark's exit status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


# -- logging in --------------------------------------------------------------------------------------
class _FixedToken(OIDCCallback):
    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        return OIDCCallbackResult(access_token=self.token)


def oidc_options(token: str) -> dict[str, Any]:
    """``MongoClient`` options for a MONGODB-OIDC login that always presents ``token``."""
    return {"authMechanism": "MONGODB-OIDC", "authMechanismProperties": {"OIDC_CALLBACK": _FixedToken(token)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", choices=["bare", "test"], required=True)
    parser.add_argument("--issuer")
    parser.add_argument("--audience")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    if args.serve == "bare":
        asyncio.run(_serve_bare())
    else:
        _serve_test(args.issuer, args.audience, args.workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
