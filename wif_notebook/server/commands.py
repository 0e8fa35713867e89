"""Handshake, diagnostic and test commands of the test mongod (hello, buildInfo, getParameter, ...).

Each reply has the shape a MongoDB 7.0 standalone gives (reference §2.6, §2.7, §14.3, §15), except
that ``buildInfo`` and ``serverStatus`` say plainly that this is the kit's test server.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
import platform
import socket
import time
from typing import Any

from bson.int64 import Int64

from . import sasl, wire
from .idl import MAX_WRITE_BATCH_SIZE
from .log import ID_CLIENT_METADATA, ID_FAILPOINT_SET
from .privileges import AUTHENTICATED, NO_AUTH, on_cluster
from .registry import CommandContext, CommandError, Document, command

VERSION = "7.0.14"
VERSION_ARRAY = [7, 0, 14, 0]
GIT_VERSION = "wif-notebook-test-server"
MIN_WIRE_VERSION = 0
MAX_WIRE_VERSION = 21  # 7.0 (reference §2.6)
LOGICAL_SESSION_TIMEOUT_MINUTES = 30
MAX_INCOMING_CONNECTIONS = 838_860  # mongod's default net.maxIncomingConnections on Linux


def _now() -> _dt.datetime:
    return _dt.datetime.now(tz=_dt.timezone.utc)


# -- hello -----------------------------------------------------------------------------------------
@command("hello", privileges=NO_AUTH)
def hello(ctx: CommandContext, cmd: Document) -> Document:
    return _hello(ctx, cmd, legacy=False)


@command("isMaster", "ismaster", privileges=NO_AUTH)
def is_master(ctx: CommandContext, cmd: Document) -> Document:
    return _hello(ctx, cmd, legacy=True)


def _hello(ctx: CommandContext, cmd: Document, *, legacy: bool) -> Document:
    conn = ctx.conn
    if "client" in cmd:
        if conn.client is not None:
            raise CommandError(
                186,
                "The client metadata document may only be sent in the first hello",
                "ClientMetadataCannotBeMutated",
            )
        client = cmd["client"]
        if not isinstance(client, dict):
            raise CommandError(14, "'client' must be an object", "TypeMismatch")
        conn.client = client
        app = client.get("application")
        if isinstance(app, dict) and isinstance(app.get("name"), str):
            conn.app_name = app["name"]
        ctx.server.log.info(
            "NETWORK",
            ID_CLIENT_METADATA,
            "client metadata",
            {"remote": conn.remote, "client": conn.ctx, "doc": client},
            ctx=conn.ctx,
        )
    reply: Document = {}
    if cmd.get("helloOk"):
        reply["helloOk"] = True
    # Mirror the request: legacy isMaster answers "ismaster", hello answers "isWritablePrimary".
    reply["ismaster" if legacy else "isWritablePrimary"] = True
    # No topologyVersion: without an awaitable hello it would make drivers spin (reference §2.5).
    reply.update(
        {
            "maxBsonObjectSize": wire.MAX_BSON_OBJECT_SIZE,
            "maxMessageSizeBytes": wire.MAX_MESSAGE_SIZE_BYTES,
            "maxWriteBatchSize": MAX_WRITE_BATCH_SIZE,
            "localTime": _now(),
            "logicalSessionTimeoutMinutes": LOGICAL_SESSION_TIMEOUT_MINUTES,
            "connectionId": conn.id,
            "minWireVersion": MIN_WIRE_VERSION,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }
    )
    mechs_for = cmd.get("saslSupportedMechs")
    if isinstance(mechs_for, str) and "." in mechs_for:
        mechs = sasl.supported_mechanisms(ctx, mechs_for)
        if mechs is not None:
            reply["saslSupportedMechs"] = mechs
    speculative = cmd.get("speculativeAuthenticate")
    if isinstance(speculative, dict):
        result = sasl.speculative_authenticate(ctx, speculative)
        if result is not None:
            reply["speculativeAuthenticate"] = result
    return reply


# -- build and server information ------------------------------------------------------------------
@command("buildInfo", "buildinfo", privileges=NO_AUTH)
def build_info(ctx: CommandContext, cmd: Document) -> Document:
    return {
        "version": VERSION,
        "gitVersion": GIT_VERSION,
        "wifTestServer": True,
        "description": "wif-notebook test server: a MongoDB 7.0 look-alike that accepts MONGODB-OIDC. "
        "Not MongoDB Enterprise; use Enterprise 7.0.11+ or Atlas in production.",
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "versionArray": list(VERSION_ARRAY),
        "bits": 64,
        "debug": False,
        "maxBsonObjectSize": wire.MAX_BSON_OBJECT_SIZE,
        "storageEngines": [ctx.server.data.ENGINE_NAME],
        "buildEnvironment": {"target_os": "linux", "target_arch": platform.machine() or "x86_64"},
        "openssl": {"running": "none (tokens are verified with the cryptography package)"},
    }


def server_parameters(ctx: CommandContext) -> Document:
    """Every parameter getParameter can show, named as mongod names them."""
    cfg = ctx.config
    params: Document = {
        "authenticationMechanisms": list(cfg.authentication_mechanisms),
        "enableTestCommands": bool(cfg.enable_test_commands),
        "featureCompatibilityVersion": {"version": "7.0"},
        "oidcIdentityProviders": [p.to_document() for p in cfg.oidc_providers],
        "authFailedDelayMs": 0,
        "logLevel": 0,
        "quiet": False,
        "maxBSONDepth": 200,
    }
    for name, value in (cfg.set_parameters or {}).items():
        params.setdefault(name, value)
    return params


@command("getParameter", privileges=on_cluster("getParameter"), admin_only=True)
def get_parameter(ctx: CommandContext, cmd: Document) -> Document:
    params = server_parameters(ctx)
    which = cmd.get("getParameter")
    everything = which == "*" or (isinstance(which, dict) and bool(which.get("allParameters")))
    if everything:
        return copy.deepcopy(params)
    reply = {name: copy.deepcopy(value) for name, value in params.items() if name in cmd}
    if not reply:
        raise CommandError(72, "no option found to get", "InvalidOptions")
    return reply


@command("getCmdLineOpts", privileges=on_cluster("getCmdLineOpts"), admin_only=True)
def get_cmd_line_opts(ctx: CommandContext, cmd: Document) -> Document:
    parsed = copy.deepcopy(ctx.config.raw) if ctx.config.raw else {}
    if ctx.server.config_path is not None:
        parsed = {"config": str(ctx.server.config_path), **parsed}
    return {"argv": list(ctx.server.argv), "parsed": parsed}


@command("ping", privileges=NO_AUTH)
def ping(ctx: CommandContext, cmd: Document) -> Document:
    return {}


@command("whatsmyuri", privileges=NO_AUTH)
def whats_my_uri(ctx: CommandContext, cmd: Document) -> Document:
    return {"you": ctx.conn.remote}


@command("endSessions", privileges=AUTHENTICATED)
def end_sessions(ctx: CommandContext, cmd: Document) -> Document:
    return {}


@command("killAllSessions", privileges=on_cluster("killAnySession"))
def kill_all_sessions(ctx: CommandContext, cmd: Document) -> Document:
    return {}


@command("killSessions", privileges=AUTHENTICATED)
def kill_sessions(ctx: CommandContext, cmd: Document) -> Document:
    return {}


@command("serverStatus", privileges=on_cluster("serverStatus"))
def server_status(ctx: CommandContext, cmd: Document) -> Document:
    server = ctx.server
    uptime = time.time() - server.started_at
    current = server.connection_count()
    return {
        "host": socket.gethostname(),
        "version": VERSION,
        "process": "mongod",
        "pid": Int64(os.getpid()),
        "uptime": float(int(uptime)),
        "uptimeMillis": Int64(int(uptime * 1000)),
        "uptimeEstimate": Int64(int(uptime)),
        "localTime": _now(),
        "wifTestServer": True,
        "connections": {
            "current": current,
            "available": MAX_INCOMING_CONNECTIONS - current,
            "totalCreated": server.total_connections,
            "active": current,
        },
        "storageEngine": {
            "name": server.data.ENGINE_NAME,
            "supportsCommittedReads": False,
            "persistent": server.data.PERSISTENT,
            "readOnly": False,
        },
    }


@command("hostInfo", privileges=on_cluster("hostInfo"))
def host_info(ctx: CommandContext, cmd: Document) -> Document:
    uname = platform.uname()
    try:
        mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        mem_mb = 0
    return {
        "system": {
            "currentTime": _now(),
            "hostname": socket.gethostname(),
            "cpuAddrSize": 64,
            "memSizeMB": Int64(mem_mb),
            "numCores": os.cpu_count() or 1,
            "cpuArch": uname.machine,
            "numaEnabled": False,
        },
        "os": {"type": uname.system, "name": uname.system, "version": uname.release},
        "extra": {},
    }


@command("getLog", privileges=on_cluster("getLog"), admin_only=True)
def get_log(ctx: CommandContext, cmd: Document) -> Document:
    log = ctx.server.log
    which = cmd.get("getLog")
    if which == "*":
        return {"names": ["global", "startupWarnings"]}
    if which == "global":
        return {"totalLinesWritten": log.total_lines, "log": log.recent()}
    if which == "startupWarnings":
        return {"totalLinesWritten": len(log.startup_warnings), "log": list(log.startup_warnings)}
    # mongod's text for an unknown log name (UNCONFIRMED for 7.0.11).
    raise CommandError(96, f"No log named '{which}'", "OperationFailed")


# -- test commands ---------------------------------------------------------------------------------
# mongod's FailPointCommand: requiresAuth() is false and it checks no privilege, because the
# command exists only when enableTestCommands is set (drivers' unified runners turn fail points off
# through a client that never logged in).
@command("configureFailPoint", privileges=NO_AUTH, admin_only=True, test_only=True)
def configure_fail_point(ctx: CommandContext, cmd: Document) -> Document:
    reply = ctx.server.failpoints.configure(cmd)
    ctx.server.log.info(
        "CONTROL",
        ID_FAILPOINT_SET,
        "Set failpoint",
        {
            "failPointName": cmd.get("configureFailPoint"),
            "mode": cmd.get("mode"),
            "data": cmd.get("data", {}),
        },
        ctx=ctx.conn.ctx,
    )
    return reply


# -- OIDC key administration (Enterprise's oidcListKeys / oidcRefreshKeys) --------------------------
@command("oidcListKeys", privileges=on_cluster("oidcListKeys"), admin_only=True)
def oidc_list_keys(ctx: CommandContext, cmd: Document) -> Document:
    key_sets: dict[str, Any] = {}
    for issuer, cache in ctx.server.key_caches.items():
        key_sets[issuer] = {"keys": [dict(k.jwk) for k in cache.loaded_keys.values()]}
    return {"keySets": key_sets}


@command("oidcRefreshKeys", privileges=on_cluster("oidcRefreshKeys"), admin_only=True)
def oidc_refresh_keys(ctx: CommandContext, cmd: Document) -> Document:
    """Refresh every issuer's JWKS now (runs on the event loop thread: a short, admin-only call)."""
    failures = []
    for issuer, cache in ctx.server.key_caches.items():
        try:
            changed = cache.refresh()
        except Exception as exc:
            failures.append(f"{issuer}: {getattr(exc, 'message', exc)}")
            continue
        if changed:
            ctx.server.invalidate_sessions(issuer, changed)
    if failures:
        raise CommandError(96, "Failed to refresh keys: " + "; ".join(failures), "OperationFailed")
    return {}
