"""The test mongod's asyncio server: connections, the command pipeline, background key refresh.

This layer only moves bytes and applies mongod's order of checks; framing lives in ``wire`` and
every command is a plain handler in the ``registry``. For each command, as mongod does:

1. look the name up (unknown → 59 ``no such command: '<name>'``; test-only commands exist only with
   ``enableTestCommands``; admin-only commands refuse other databases);
2. with ``security.authorization`` on and a command that requires authentication: an expired
   session (token ``exp`` reached, or the signing key removed/changed by a JWKS refresh) → 391, no
   user → 13 "Command <name> requires authentication" (mongod's checkAuthorizationImplPreParse);
3. the command's parse, for a command mongod parses before its privileges (``CommandSpec.parse``),
   then ``authz.check_privileges`` → 13 (mongod's _parseCommand, then _initiateCommand);
4. the ``failCommand`` failpoint (block, close the connection, or answer its error);
5. the handler; blocking ones (SASL: JWKS fetch, signature check) run in a thread pool, so one slow
   login never stalls other connections.

A malformed message is logged and closes only its own connection, as mongod does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mongod import MongodConfig
from ..state import StateDir
from . import authz_commands, commands, data_commands, sasl, wire
from .authz import AuthzStore, check_privileges
from .cursors import CursorManager
from .data import DataStore
from .failpoints import FailPoints
from .log import (
    ID_ACCESS_CONTROL_DISABLED,
    ID_BIND_NOT_LOOPBACK,
    ID_COMMAND_ERROR,
    ID_CONNECTION_ACCEPTED,
    ID_CONNECTION_ENDED,
    ID_CONNECTION_REFUSED,
    ID_JWKS_LOAD_FAILED,
    ID_JWKS_REFRESHED,
    ID_RECEIVE_ERROR,
    ID_SHUTDOWN,
    ID_SLOW_QUERY,
    ID_STARTING,
    ID_TEST_SERVER,
    ID_TORN_JOURNAL_RECORD,
    ID_UNCLEAN_SHUTDOWN,
    ID_USERS_INVALIDATED,
    ID_WAITING_FOR_CONNECTIONS,
    MongodLog,
)
from .registry import AuthenticatedUser, CommandContext, CommandError, Document, lookup
from .storage import LOCK_FILE

# Handlers register themselves when their modules are imported.
HANDLER_MODULES = (commands, sasl, authz_commands, data_commands)

# Commands whose handlers may block (network fetches, signature checks): run off the event loop.
_BLOCKING_COMMANDS = {"saslStart", "saslContinue", "oidcRefreshKeys"}
_UNREACHABLE_RETRY_SECS = 10.0
_PARSE_INLINE_LIMIT = 256 * 1024  # bytes; bigger messages are decoded in the thread pool
# Once a message's first byte arrives, the whole message must follow within this many seconds (a kit
# limit, not mongod's: see _read_message). 48 MB over loopback takes well under a second.
MESSAGE_TIMEOUT_SECS = 30.0
# What the server's discovery and JWKS requests say they are (the IdP logs it).
JWKS_USER_AGENT = "wif-notebook-test-mongod"


class _CloseConnection(Exception):
    """The failpoint (closeConnection) asks to drop the socket without a reply."""


@dataclass
class Connection:
    """Per-connection state (mongod's Client): who is connected and who is logged in."""

    id: int
    remote: str
    local: str
    opened_at: float = field(default_factory=time.time)
    client: Document | None = None  # handshake client metadata
    app_name: str | None = None
    users: list[AuthenticatedUser] = field(default_factory=list)
    expired_user: AuthenticatedUser | None = None  # after exp: only this user may log in again
    sasl: Any = None  # the SASL conversation in progress (sasl.Conversation)
    commands: int = 0

    @property
    def ctx(self) -> str:
        return f"conn{self.id}"


class TestServer:
    """A MongoDB 7.0 standalone look-alike that accepts MONGODB-OIDC (and SCRAM-SHA-256).

    ``await start()`` binds ``config.bind_ip:config.port`` (0 = a free port) and returns the port;
    ``start_in_thread()`` does the same on a private event loop in a daemon thread (tests, notebooks).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        config: MongodConfig,
        *,
        log: MongodLog | None = None,
        authz: AuthzStore | None = None,
        argv: list[str] | None = None,
        config_path: Path | None = None,
        key_cache_factory: Callable[[str], Any] | None = None,
        data: DataStore | None = None,
        state: StateDir | None = None,
    ) -> None:
        self.config = config
        # The kit state directory whose CA the JWKS fetches trust (https issuers of the kit IdP).
        self.state = state
        self.log = log if log is not None else MongodLog(config.log_path)
        self.authz = authz if authz is not None else AuthzStore(config.db_path)
        self.argv = argv if argv is not None else list(sys.argv)
        self.config_path = config_path
        self.failpoints = FailPoints()
        # Opens storage.dbPath: takes mongod.lock, refuses a foreign or corrupt dbPath, replays the journal.
        self.data = data if data is not None else DataStore(config.db_path)
        self.cursors = CursorManager()
        self.started_at = time.time()
        self.connections: dict[int, Connection] = {}
        self.max_incoming_connections = _max_incoming_connections(config)
        self.message_timeout_secs = MESSAGE_TIMEOUT_SECS
        self.total_connections = 0
        self.port: int = 0
        self.key_caches: dict[str, Any] = {}
        self._key_loaded: dict[str, bool] = {}
        self._next_poll: dict[str, float | None] = {}
        self._refreshing: set[str] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=8, thread_name_prefix="mongod-worker"
        )
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: dict[int, asyncio.StreamWriter] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn_lock = threading.Lock()
        factory = key_cache_factory or self._default_key_cache
        for provider in config.oidc_providers:
            if provider.issuer not in self.key_caches:
                self.key_caches[provider.issuer] = factory(provider.issuer)
                self._key_loaded[provider.issuer] = False

    def _default_key_cache(self, issuer: str) -> Any:
        from .. import __version__
        from ..oidc import keyset_for

        return keyset_for(
            issuer,
            state=self.state,
            allow_insecure_localhost=self.config.enable_test_commands,
            user_agent=f"{JWKS_USER_AGENT}/{__version__}",
        )

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        self.started_at = time.time()
        self.log.info(
            "CONTROL",
            ID_STARTING,
            "MongoDB starting",
            {
                "pid": os.getpid(),
                "port": self.config.port,
                "dbPath": str(self.config.db_path),
                "architecture": "64-bit",
                "host": socket.gethostname(),
            },
            ctx="initandlisten",
        )
        self.log.warning(
            "CONTROL",
            ID_TEST_SERVER,
            "This is the wif-notebook test server, not MongoDB Enterprise: use it to learn and test, "
            "never in production",
            ctx="initandlisten",
            startup_warning=True,
        )
        exposed = _non_loopback(self.config.bind_ip)
        if exposed:
            message = (
                f"net.bindIp {self.config.bind_ip} listens beyond this machine ({', '.join(exposed)}): "
                "anyone who can reach it can try logins against the kit's test keys. The test server is "
                "for learning and testing on 127.0.0.1; set net.bindIp: 127.0.0.1 in mongod.conf"
            )
            self.log.warning(
                "CONTROL", ID_BIND_NOT_LOOPBACK, message, ctx="initandlisten", startup_warning=True
            )
            print(f"wif mongod: WARNING: {message}", file=sys.stderr, flush=True)
        if not self.config.authorization:
            self.log.warning(
                "CONTROL",
                ID_ACCESS_CONTROL_DISABLED,
                "Access control is not enabled for the database. Read and write access to data and "
                "configuration is unrestricted",
                ctx="initandlisten",
                startup_warning=True,
            )
        if self.data.unclean_shutdown:
            self.log.warning(
                "STORAGE",
                ID_UNCLEAN_SHUTDOWN,
                "Detected unclean shutdown - Lock file is not empty",
                {"lockFile": str(self.config.db_path / LOCK_FILE)},
                ctx="initandlisten",
            )
        if self.data.recovered_torn_bytes:
            self.log.warning(
                "STORAGE",
                ID_TORN_JOURNAL_RECORD,
                "Dropped the torn last record of the journal (a crash during an unacknowledged write)",
                {"bytes": self.data.recovered_torn_bytes, "dbPath": str(self.config.db_path)},
                ctx="initandlisten",
            )
        # backlog: mongod's net.listenBacklog default (SOMAXCONN), so a burst of connects is not refused.
        self._server = await asyncio.start_server(
            self._serve_connection,
            host=self.config.bind_ip,
            port=self.config.port,
            limit=1 << 20,
            backlog=socket.SOMAXCONN,
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        # An unreachable issuer is a warning, not a refusal to start (reference §10).
        self.schedule_keys(time.time())
        for issuer in self.key_caches:
            self._spawn(self._refresh_keys(issuer, initial=True))
        if self.key_caches:
            self._spawn(self._poll_keys())
        self.log.info(
            "NETWORK",
            ID_WAITING_FOR_CONNECTIONS,
            "Waiting for connections",
            {"port": self.port, "ssl": "off"},
            ctx="listener",
        )
        return self.port

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def stop(self) -> None:
        self.log.info("CONTROL", ID_SHUTDOWN, "Shutting down", {"exitCode": 0}, ctx="SignalHandler")
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.data.close()  # compacts into a snapshot and releases the dbPath lock

    def start_in_thread(self) -> int:
        """Run the server on its own loop in a daemon thread; returns the bound port."""
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                port = loop.run_until_complete(self.start())
                ready.set_result(port)
                loop.run_forever()
            except BaseException as exc:  # report start failures to the caller
                if not ready.done():
                    ready.set_exception(exc)
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="wif-test-mongod", daemon=True)
        self._thread.start()
        return ready.result(timeout=20)

    def stop_thread(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self.stop(), loop)
        with contextlib.suppress(Exception):
            fut.result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=5)
        self.log.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # -- JWKS --------------------------------------------------------------------------------------
    def _poll_interval(self, issuer: str) -> int:
        secs = [
            p.jwks_poll_secs for p in self.config.oidc_providers if p.issuer == issuer and p.jwks_poll_secs
        ]
        return min(secs) if secs else 0

    def schedule_keys(self, now: float) -> None:
        """Plan the JWKSPollSecs refreshes (issuers without polling are fetched at start only)."""
        for issuer in self.key_caches:
            interval = self._poll_interval(issuer)
            self._next_poll[issuer] = now + interval if interval else None

    def due_refreshes(self, now: float) -> list[str]:
        """Issuers whose JWKS must be fetched now (poll period elapsed, or an unreachable issuer's
        retry is due); each is marked as refreshing until ``_refresh_keys`` finishes."""
        due = []
        for issuer in self.key_caches:
            next_at = self._next_poll.get(issuer)
            if issuer in self._refreshing or next_at is None or now < next_at:
                continue
            interval = self._poll_interval(issuer)
            self._next_poll[issuer] = now + interval if interval else None
            self._refreshing.add(issuer)
            due.append(issuer)
        return due

    async def _poll_keys(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for issuer in self.due_refreshes(time.time()):
                self._spawn(self._refresh_keys(issuer))

    async def _refresh_keys(self, issuer: str, *, initial: bool = False) -> None:
        self._refreshing.add(issuer)
        try:
            await self._refresh_keys_now(issuer, initial=initial)
        finally:
            self._refreshing.discard(issuer)

    async def _refresh_keys_now(self, issuer: str, *, initial: bool) -> None:
        cache = self.key_caches[issuer]
        try:
            changed: set[str] = await self.run_blocking(cache.refresh)
        except Exception as exc:  # RuleFailure or an unexpected fetch error: keep the old keys
            self.log.warning(
                "ACCESS",
                ID_JWKS_LOAD_FAILED,
                "Failed to load JWKs from issuer" if initial else "Failed to refresh JWKs from issuer",
                {"issuer": issuer, "error": getattr(exc, "message", str(exc))},
                ctx="initandlisten" if initial else "JWKSetRefreshJob",
            )
            if not self._key_loaded[issuer]:
                # Never loaded: retry soon, as mongod keeps trying an issuer that was down at start.
                retry = time.time() + _UNREACHABLE_RETRY_SECS
                current = self._next_poll.get(issuer)
                self._next_poll[issuer] = retry if current is None else min(current, retry)
            return
        self._key_loaded[issuer] = True
        if changed:
            self.log.info(
                "ACCESS",
                ID_JWKS_REFRESHED,
                "JWKS refresh removed or changed keys",
                {"issuer": issuer, "keyIds": sorted(changed)},
                ctx="JWKSetRefreshJob",
            )
            self.invalidate_sessions(issuer, changed)

    def invalidate_sessions(self, issuer: str, kids: set[str]) -> int:
        """Sessions signed by ``kids`` of ``issuer`` must reauthenticate (391 on their next command)."""
        count = 0
        with self._conn_lock:
            conns = list(self.connections.values())
        for conn in conns:
            for user in conn.users:
                if user.issuer == issuer and user.kid in kids and not user.expired:
                    user.expired = True
                    count += 1
        if count:
            self.log.info(
                "ACCESS",
                ID_USERS_INVALIDATED,
                "Invalidating users whose signing key was removed or changed",
                {"issuer": issuer, "keyIds": sorted(kids), "sessions": count},
                ctx="JWKSetRefreshJob",
            )
        return count

    def key_loaded(self, issuer: str) -> bool:
        return self._key_loaded.get(issuer, False)

    # -- connections -------------------------------------------------------------------------------
    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("?", 0)
        if len(self.connections) >= self.max_incoming_connections:
            self.log.info(
                "NETWORK",
                ID_CONNECTION_REFUSED,
                "Connection refused because there are too many open connections",
                {"remote": f"{peer[0]}:{peer[1]}", "connectionCount": len(self.connections)},
                ctx="listener",
            )
            writer.close()
            return
        with self._conn_lock:
            self.total_connections += 1
            conn = Connection(
                id=self.total_connections, remote=f"{peer[0]}:{peer[1]}", local=f"{local[0]}:{local[1]}"
            )
            self.connections[conn.id] = conn
        self._writers[conn.id] = writer
        with contextlib.suppress(OSError):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.log.info(
            "NETWORK",
            ID_CONNECTION_ACCEPTED,
            "Connection accepted",
            {
                "remote": conn.remote,
                "uuid": {"uuid": {"$uuid": str(uuid.uuid4())}},
                "connectionId": conn.id,
                "connectionCount": len(self.connections),
            },
            ctx="listener",
        )
        try:
            while True:
                try:
                    # Waiting for a request is unbounded, as in mongod (pools keep idle connections).
                    first = await reader.readexactly(1)
                except asyncio.IncompleteReadError:
                    break
                header, body = await self._read_message(reader, first)
                try:
                    if header.length > _PARSE_INLINE_LIMIT:
                        # Decoding (and a pure-Python CRC-32C) of a big message must not stall others.
                        request = await self.run_blocking(wire.parse_message, header, body)
                    else:
                        request = wire.parse_message(header, body)
                except wire.ProtocolError as exc:
                    if exc.fatal:
                        raise
                    # A malformed section in a well-framed OP_MSG: mongod answers with the error.
                    self._log_receive_error(conn, exc, "Invalid OP_MSG from client")
                    if not exc.more_to_come:
                        writer.write(_fit(wire.encode_op_msg, exc.to_reply(), header.request_id))
                        await writer.drain()
                    continue
                out = await self._handle_request(conn, request)
                if out:
                    writer.write(out)
                    await writer.drain()
        except wire.ProtocolError as exc:
            self._log_receive_error(
                conn, exc, "Error receiving request from client. Ending connection from remote"
            )
        except (_CloseConnection, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with self._conn_lock:
                self.connections.pop(conn.id, None)
            self._writers.pop(conn.id, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.log.info(
                "NETWORK",
                ID_CONNECTION_ENDED,
                "Connection ended",
                {
                    "remote": conn.remote,
                    "connectionId": conn.id,
                    "connectionCount": len(self.connections),
                },
                ctx=conn.ctx,
            )

    async def _read_message(self, reader: asyncio.StreamReader, first: bytes) -> tuple[wire.Header, bytes]:
        """The rest of a message whose first byte has arrived, within ``message_timeout_secs``.

        mongod has no such limit; the kit has one so that a client trickling bytes (slowloris) holds
        its connection for a bounded time, whatever length its header announces.
        """

        async def rest() -> tuple[wire.Header, bytes]:
            try:
                head = first + await reader.readexactly(wire.HEADER_SIZE - 1)
            except asyncio.IncompleteReadError as exc:
                raise wire.ProtocolError("connection closed inside a message header") from exc
            header = wire.parse_header(head)
            try:
                body = await reader.readexactly(header.length - wire.HEADER_SIZE)
            except asyncio.IncompleteReadError as exc:
                raise wire.ProtocolError("connection closed inside a message body") from exc
            return header, body

        try:
            return await asyncio.wait_for(rest(), self.message_timeout_secs)
        except asyncio.TimeoutError as exc:
            raise wire.ProtocolError(
                f"no complete message within {self.message_timeout_secs:g} s of its first byte "
                "(the test server's limit for slow clients)"
            ) from exc

    def _log_receive_error(self, conn: Connection, exc: wire.ProtocolError, msg: str) -> None:
        self.log.info(
            "NETWORK",
            ID_RECEIVE_ERROR,
            msg,
            {
                "error": {"code": exc.code, "codeName": exc.code_name, "errmsg": exc.message},
                "remote": conn.remote,
                "connectionId": conn.id,
            },
            ctx=conn.ctx,
        )

    async def _handle_request(self, conn: Connection, request: wire.Request) -> bytes | None:
        """One message in, at most one message out (None for moreToCome)."""
        header = request.header
        if request.legacy:
            reply, flags = await self._legacy_command(conn, request)
            return _fit(wire.encode_op_reply, reply, header.request_id, flags=flags)
        body = request.body
        db = body.get("$db")
        if not isinstance(db, str):
            reply = CommandError(40571, "OP_MSG requests require a $db argument", "Location40571").to_reply()
        else:
            kind0 = {k: v for k, v in body.items() if k not in request.sequences}
            reply = await self.run_command(conn, db, body, kind0)
        if request.more_to_come:
            return None
        return _fit(wire.encode_op_msg, reply, header.request_id)

    async def _legacy_command(self, conn: Connection, request: wire.Request) -> tuple[Document, int]:
        ns = request.namespace
        if not ns.endswith(".$cmd"):
            # mongod 6.0+ refuses legacy OP_QUERY finds (text UNCONFIRMED for 7.0.11).
            return (
                {
                    "$err": "OP_QUERY is no longer supported. The client driver may require an upgrade. "
                    "For more details see https://dochub.mongodb.org/core/legacy-opcode-removal",
                    "code": 5739101,
                    "ok": 0.0,
                },
                wire.REPLY_AWAIT_CAPABLE | wire.REPLY_QUERY_FAILURE,
            )
        name = next(iter(request.body), "")
        if name.lower() not in ("hello", "ismaster"):
            err = CommandError(
                352,
                f"Unsupported OP_QUERY command: {name}. The client driver may require an upgrade. "
                "For more details see https://dochub.mongodb.org/core/legacy-opcode-removal",
                "UnsupportedOpQueryCommand",
            )
            return err.to_reply(), wire.REPLY_AWAIT_CAPABLE
        db = ns[: -len(".$cmd")]
        return await self.run_command(conn, db, request.body, request.body), wire.REPLY_AWAIT_CAPABLE

    async def run_command(self, conn: Connection, db: str, cmd: Document, kind0: Document) -> Document:
        """The command pipeline (see the module docstring); always returns a reply document."""
        conn.commands += 1
        name = next(iter(cmd), "")
        started = time.perf_counter()
        try:
            spec = lookup(name)
            if spec is None or (spec.test_only and not self.config.enable_test_commands):
                raise CommandError(59, f"no such command: '{name}'")
            if spec.admin_only and db != "admin":
                raise CommandError(13, f"{spec.name} may only be run against the admin database.")
            self._check_session(conn)
            checked = self.config.authorization and spec.requires_auth
            if checked:
                if conn.expired_user is not None:
                    raise CommandError(
                        391,
                        f"Command {spec.name} requires reauthentication since the current authorization "
                        "session has expired. Please re-auth.",
                    )
                if not conn.users:
                    raise CommandError(13, f"Command {spec.name} requires authentication", "Unauthorized")
            if spec.parse is not None:
                spec.parse(cmd)
            if checked:
                check_privileges(self.authz, conn.users, db, spec.name, cmd, body=kind0)
            namespace = _namespace(db, cmd)
            action = self.failpoints.check(spec.name, conn.app_name, namespace)
            if action is None and name != spec.name:
                action = self.failpoints.check(name, conn.app_name, namespace)
            if action is not None:
                if action.block_ms:
                    await asyncio.sleep(action.block_ms / 1000)
                if action.close_connection:
                    raise _CloseConnection()
                if action.error is not None:
                    raise action.error
            ctx = CommandContext(
                server=self,
                conn=conn,
                db=db,
                command_name=spec.name,
                users=conn.users,
                authz=self.authz,
                config=self.config,
            )
            if spec.name in _BLOCKING_COMMANDS or "speculativeAuthenticate" in cmd:
                reply = await self.run_blocking(spec.handler, ctx, cmd)
            else:
                reply = spec.handler(ctx, cmd)
            if action is not None and action.write_concern_error is not None:
                reply["writeConcernError"] = action.write_concern_error
            reply.setdefault("ok", 1.0)
            return reply
        except CommandError as exc:
            self._log_command_failure(conn, db, name, cmd, exc, started)
            return exc.to_reply()
        except _CloseConnection:
            raise
        except Exception as exc:  # a bug in a handler must not end the connection
            self.log.error(
                "COMMAND",
                ID_COMMAND_ERROR,
                "Assertion while executing command",
                {"command": name, "db": db, "error": f"{type(exc).__name__}: {exc}"},
                ctx=conn.ctx,
            )
            return CommandError(1, f"{type(exc).__name__}: {exc}").to_reply()

    def _log_command_failure(
        self, conn: Connection, db: str, name: str, cmd: Document, exc: CommandError, started: float
    ) -> None:
        """A failed command in mongod's "Slow query" shape (id 51803, ``errCode``/``errName``).

        mongod writes this entry only for operations slower than slowms (or at a higher verbosity);
        the kit writes it for every failed command, so 13, 18 and 391 show up in the log and in the
        flow diagrams. Only the command's name and first value are logged, never its arguments.
        """
        first = cmd.get(name) if name else None
        self.log.info(
            "COMMAND",
            ID_SLOW_QUERY,
            "Slow query",
            {
                "type": "command",
                "ns": _namespace(db, cmd) if isinstance(first, str) else f"{db}.$cmd",
                "appName": conn.app_name,
                "command": {name: first if isinstance(first, (str, int, float)) else 1, "$db": db},
                "ok": 0,
                "errMsg": exc.errmsg,
                "errName": exc.code_name,
                "errCode": exc.code,
                "protocol": "op_msg",
                "durationMillis": int((time.perf_counter() - started) * 1000),
            },
            ctx=conn.ctx,
        )

    def _check_session(self, conn: Connection) -> None:
        """mongod's startRequest: a user whose token expired, or whose signing key a JWKS refresh
        removed or changed, leaves the session, which stays expired until that user logs in again."""
        now = time.time()
        for user in list(conn.users):
            if not user.expired:
                if user.expires_at is not None and now >= user.expires_at:
                    user.expired = True
                elif user.kid is not None and user.issuer in self.key_caches:
                    user.expired = self.key_caches[user.issuer].fingerprint(user.kid) != user.key_fingerprint
            if user.expired:
                conn.users.remove(user)
                conn.expired_user = user

    def connection_count(self) -> int:
        return len(self.connections)


_request_ids = iter(range(1, 1 << 62))
_request_lock = threading.Lock()


def _next_request_id() -> int:
    with _request_lock:
        return next(_request_ids) & 0x7FFFFFFF


def _non_loopback(bind_ip: str) -> list[str]:
    """The addresses in ``net.bindIp`` that are not loopback (``localhost`` counts as loopback)."""
    exposed = []
    for host in (h.strip() for h in bind_ip.split(",")):
        if not host or host == "localhost":
            continue
        try:
            if ipaddress.ip_address(host.split("%")[0]).is_loopback:
                continue
        except ValueError:
            pass  # a host name other than localhost
        exposed.append(host)
    return exposed


def _max_incoming_connections(config: MongodConfig) -> int:
    """``net.maxIncomingConnections``, else mongod's default: 80 % of the open-files limit."""
    net = config.raw.get("net") if isinstance(config.raw, dict) else None
    value = net.get("maxIncomingConnections") if isinstance(net, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 1_000_000
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(1, min(1_000_000, int(soft * 0.8)))


def _namespace(db: str, cmd: Document) -> str:
    """``db.collection`` for commands whose first value names a collection (failCommand namespace)."""
    value = next(iter(cmd.values()), None)
    if isinstance(value, str):
        return f"{db}.{value}"
    return db


def _fit(encode: Callable[..., bytes], reply: Document, response_to: int, **kw: Any) -> bytes:
    """Encode a reply; one over the internal BSON limit becomes mongod's 10334 error instead."""
    out = encode(reply, _next_request_id(), response_to, **kw)
    size = len(out)
    if size > wire.MAX_BSON_INTERNAL_SIZE + 64:
        error = CommandError(
            10334,
            f"BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and "
            f"{wire.MAX_BSON_INTERNAL_SIZE}(16MB)",
        )
        out = encode(error.to_reply(), _next_request_id(), response_to, **kw)
    return out
