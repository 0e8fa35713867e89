"""The mock IdP's HTTP server: stdlib ``ThreadingHTTPServer``, HTTP/1.1, bound to 127.0.0.1.

Run as its own process (``python -m wif_notebook.idp --state-dir D [--port P]``): it binds, writes
the token files, announces itself (``run/idp.json``), then serves until SIGTERM. Every request
served is appended to ``logs/idp.log`` as one JSON line, without tokens or secrets.

One port speaks both TLS and plain HTTP: the first byte of a connection decides (0x16 opens a TLS
handshake record; an HTTP request starts with a letter). Issuers, discovery, JWKS and token
endpoints are ``https://localhost:<port>/...`` as in production, with the kit CA's certificate
(``wif_notebook.tls``); metadata endpoints (IMDS, Google's metadata server) are plain http, as on a
real host; the plain-http issuer form stays for the ``enableTestCommands`` lessons (idp/issuers.py).
A second listener, the vendor-host proxy (``idp/vendorproxy.py``), answers ``CONNECT`` for the
fixed vendor hosts the SDKs call (``HTTPS_PROXY`` in ``wif env --principal``).

Why stdlib: no dependencies, fastest start, and it never shares the Jupyter kernel's event loop
(identity-provider reference §7). Each request gets a thread; a slow or broken client ties up only
its own thread (socket timeout), and any exception in a handler becomes a 500 answer, never a crash.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import errno
import functools
import io
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .. import ports, services
from ..errors import WifError
from ..redaction import MARKER
from ..state import StateDir
from ..tls import server_context
from .app import IdentityProvider, Request, Response, json_response
from .issuers import DEFAULT_ISSUER_SCHEME, ISSUER_SCHEMES
from .tokenfiles import DEFAULT_REFRESH_SECONDS

MAX_BODY = 64 * 1024
REQUEST_DEADLINE_SECS = 30.0
TLS_RECORD_HANDSHAKE = 0x16  # the first byte of every TLS ClientHello (RFC 8446 §5.1)
MAX_LINE = 65536  # request line and each header line, as http.server
MAX_HEADERS = 100  # as http.client


class Headers(dict[str, str]):
    """Request headers with lower-case names; lookups ignore case (``get("User-Agent")``).

    The first of repeated headers counts, as with ``email.message.Message.get``.
    """

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
_PHRASES = {status.value: status.phrase for status in HTTPStatus}
# Query parameters whose values are safe to log; every other value is written as [redacted].
LOGGABLE_QUERY = {"api-version", "resource", "client_id", "object_id", "audience", "format", "licenses"}


# One encoder for every log line: json.dumps with arguments builds a new encoder per call.
_LOG_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class RequestLog:
    """Append-only JSON lines, one per request (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)
        # One append-mode handle for the process, flushed per line: readers see whole lines.
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, entry: dict[str, Any]) -> None:
        line = _LOG_JSON.encode(entry) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, v if k in LOGGABLE_QUERY else MARKER) for k, v in pairs])


class IdpHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of connections (hundreds of workloads
    # starting at once) then waits for SYN retransmits, 1 s and more each.
    request_queue_size = socket.SOMAXCONN

    # Once a request's first byte arrives, it must be read and answered within this many seconds:
    # the socket timeout alone restarts with every byte, so a client trickling one byte at a time
    # (slowloris) would hold its thread for as long as it likes.
    request_deadline = REQUEST_DEADLINE_SECS

    def __init__(
        self,
        address: tuple[str, int],
        app: IdentityProvider | None,
        log: RequestLog | None,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self.request_log = log
        self.ssl_context = ssl_context
        self._deadlines: dict[socket.socket, tuple[float, str]] = {}
        self._deadlines_lock = threading.Lock()
        # Before binding: a failed bind calls server_close(), which needs this event.
        self._watchdog_stop = threading.Event()
        super().__init__(address, IdpRequestHandler)
        threading.Thread(target=self._watchdog, name="idp-request-deadlines", daemon=True).start()

    def request_started(self, sock: socket.socket, client: str) -> None:
        with self._deadlines_lock:
            self._deadlines[sock] = (time.monotonic() + self.request_deadline, client)

    def request_finished(self, sock: socket.socket) -> None:
        with self._deadlines_lock:
            self._deadlines.pop(sock, None)

    def _watchdog(self) -> None:
        while not self._watchdog_stop.wait(min(0.5, self.request_deadline / 4)):
            now = time.monotonic()
            with self._deadlines_lock:
                late = [(sock, client) for sock, (at, client) in self._deadlines.items() if now >= at]
                for sock, _ in late:
                    del self._deadlines[sock]
            for sock, client in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # the handler's next read or write fails: it ends
                if self.request_log is not None:
                    with contextlib.suppress(OSError, ValueError):
                        self.request_log.write(
                            {
                                "time": _log_time(),
                                "client": client,
                                "error": f"request not complete within {self.request_deadline:g} s; "
                                "connection closed",
                            }
                        )

    def server_close(self) -> None:
        self._watchdog_stop.set()
        super().server_close()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Peek at the first byte: a TLS handshake is wrapped (in this connection's own thread,
        bounded by the socket timeout and the request deadline), anything else is plain HTTP."""
        request.settimeout(IdpRequestHandler.timeout)
        try:
            first = request.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if not first:
            return
        if first[0] != TLS_RECORD_HANDSHAKE or self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        secured = self.handshake(request, f"{client_address[0]}:{client_address[1]}", self.ssl_context)
        if secured is None:
            return
        try:
            super().finish_request(secured, client_address)
        finally:
            # wrap_socket took over the descriptor: the plain socket's shutdown_request is a no-op.
            with contextlib.suppress(OSError):
                secured.shutdown(socket.SHUT_WR)
            secured.close()

    def handshake(self, sock: socket.socket, client: str, context: ssl.SSLContext) -> ssl.SSLSocket | None:
        """The server side of a TLS handshake on ``sock``, bounded by the request deadline; None
        (and a line in the request log) when the client refuses it."""
        secured = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self.request_started(secured, client)
        try:
            secured.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            # A client that does not trust the kit CA ends here (it sends an alert); say so in the log.
            self._log_tls_failure(client, exc)
            secured.close()
            return None
        finally:
            self.request_finished(secured)
        return secured

    def _log_tls_failure(self, client: str, exc: BaseException) -> None:
        if self.request_log is None:
            return
        reason = exc.reason if isinstance(exc, ssl.SSLError) and exc.reason else str(exc)
        with contextlib.suppress(OSError, ValueError):
            self.request_log.write(
                {
                    "time": _log_time(),
                    "client": client,
                    "error": f"TLS handshake failed: {reason} (does the client trust the kit CA?)",
                }
            )


class IdpRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wif-notebook-idp/0.1"
    timeout = 30  # a silent client loses its thread after this many seconds
    server: IdpHTTPServer
    peer: str  # "ip:port" of the client
    secure: bool  # the connection is TLS

    def setup(self) -> None:
        super().setup()
        # Small responses on a kept-alive connection: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every request after the first.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # What each request of this connection logs and checks, worked out once per connection.
        self.peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.secure = isinstance(self.connection, ssl.SSLSocket)

    def handle_one_request(self) -> None:
        # Waiting for the next request on a kept-alive connection is bounded by the socket timeout;
        # from its first byte, the request is bounded by the server's request_deadline.
        try:
            if isinstance(self.rfile, io.BufferedReader) and not self.rfile.peek(1):
                self.close_connection = True
                return
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        self.server.request_started(self.connection, self.peer)
        try:
            super().handle_one_request()
        finally:
            self.server.request_finished(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # The structured request log replaces the stderr access log.
        pass

    def parse_request(self) -> bool:
        """The request line and headers, as ``BaseHTTPRequestHandler.parse_request`` does, but
        with a plain line parser for the headers: the stdlib runs them through the ``email``
        package, which costs more than everything else in a token request bar the signature."""
        self.command = None  # type: ignore[assignment]
        self.request_version = self.default_request_version
        self.close_connection = True
        raw: bytes = getattr(self, "raw_requestline", b"")  # set by handle_one_request
        self.requestline = str(raw, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) != 3:
            # HTTP/0.9 ("GET /path") and anything else without a version.
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        command, path, version = words
        major, dot, minor = version.removeprefix("HTTP/").partition(".")
        if (
            not version.startswith("HTTP/")
            or not dot
            or not (major.isdigit() and minor.isdigit())
            or len(major) > 10
            or len(minor) > 10
        ):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
            return False
        number = (int(major), int(minor))
        if number >= (2, 0):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({version})")
            return False
        self.request_version = version
        self.close_connection = number < (1, 1)
        # gh-87389: "//host/path" would read as an absolute URI without a scheme.
        self.command, self.path = command, "/" + path.lstrip("/") if path.startswith("//") else path

        # A plain dict while parsing (names are lower-cased here): Headers' case-folding lookups
        # are for the handlers.
        fields: dict[str, str] = {}
        last: str | None = None
        while True:
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            text = line.decode("iso-8859-1").rstrip("\r\n")
            if text[:1] in (" ", "\t") and last is not None:
                # Obsolete line folding (RFC 9112 §5.2): replaced by a space.
                fields[last] = f"{fields[last]} {text.strip()}"
                continue
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad header line ({text[:80]!r})")
                return False
            last = name.lower()
            value = value.strip()
            if last in fields:
                if last in ("content-length", "transfer-encoding") and fields[last] != value:
                    self.send_error(HTTPStatus.BAD_REQUEST, f"Conflicting {name} headers")
                    return False
            else:
                if len(fields) >= MAX_HEADERS:
                    self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
                    return False
                fields[last] = value
        self.headers = Headers(fields)  # type: ignore[assignment]

        connection = fields.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if fields.get("expect", "").lower() == "100-continue" and number >= (1, 1):
            return bool(self.handle_expect_100())
        return True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _read_body(self) -> bytes | Response:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            return json_response(
                411,
                {
                    "error": "invalid_request",
                    "error_description": "chunked bodies are not accepted; send Content-Length",
                },
                error="invalid_request",
            )
        raw = self.headers.get("content-length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            self.close_connection = True
            return json_response(
                400,
                {"error": "invalid_request", "error_description": f"Content-Length {raw!r} is not a number"},
                error="invalid_request",
            )
        if length > MAX_BODY:
            # Do not read it: answer and drop the connection.
            self.close_connection = True
            return json_response(
                413,
                {
                    "error": "invalid_request",
                    "error_description": f"the body has {length} bytes; the IdP accepts at most {MAX_BODY}",
                },
                error="invalid_request",
            )
        return self.rfile.read(length)

    def _serve(self, method: str) -> None:
        started = time.perf_counter()
        # Absolute-URI request lines arrive when a client uses the IdP as its http_proxy
        # (e.g. GET http://169.254.169.254/metadata/...): only the path and query matter.
        parts = urlsplit(self.path)
        path, query = parts.path or "/", parts.query
        host = self.client_address[0]
        body = self._read_body()
        if isinstance(body, Response):
            response = body
        else:
            request = Request(
                method=method,
                path=path,
                query=query,
                headers=self.headers,  # type: ignore[arg-type]  # Headers: lower-case names
                body=body,
                client=self.peer,
                loopback=_is_loopback(host),
                tls=self.secure,
            )
            try:
                assert self.server.app is not None
                response = self.server.app.handle(request)
            except WifError as exc:
                response = json_response(
                    500, {"error": "server_error", "error_description": str(exc)}, error="server_error"
                )
            except Exception as exc:  # the IdP keeps serving whatever a request does
                traceback.print_exc(file=sys.stderr)
                response = json_response(
                    500,
                    {
                        "error": "server_error",
                        "error_description": f"the IdP failed on this request ({type(exc).__name__}: {exc}); "
                        "see logs/idp.out and report it",
                    },
                    error="server_error",
                )
        self._send(response)
        self._log(method, path, query, response, started)

    def _send(self, response: Response) -> None:
        # Status line, headers and body in one write: one TCP segment for small answers.
        lines = [
            f"HTTP/1.1 {response.status} {_PHRASES.get(response.status, '')}",
            f"Server: {self.version_string()}",
            f"Date: {_http_date()}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers.items()),
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.wfile.write(head + response.body)
        except OSError:
            self.close_connection = True

    def _log(self, method: str, path: str, query: str, response: Response, started: float) -> None:
        log = self.server.request_log
        if log is None:
            return
        entry: dict[str, Any] = {
            "time": _log_time(),
            "method": method,
            "path": path,
            "query": redact_query(query) if query else None,
            "issuer": response.log.get("issuer"),
            "status": response.status,
            "grant": response.log.get("grant"),
            "principal": response.log.get("principal"),
            "client": self.peer,
            "scheme": "https" if self.secure else "http",
            # Who asked (the test mongod's JWKS fetcher, pymongo's IMDS client, curl...): no secrets.
            "user_agent": _clip(self.headers.get("user-agent")) if self.headers else None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        for extra in ("error", "fault"):
            if response.log.get(extra):
                entry[extra] = response.log[extra]
        try:
            log.write(entry)
        except OSError:
            pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Malformed request lines and unsupported methods get JSON too, never an HTML page.
        self.close_connection = True
        response = json_response(
            code, {"error": "invalid_request", "error_description": message or "malformed HTTP request"}
        )
        try:
            self._send(response)
        except Exception:
            pass


@functools.lru_cache(maxsize=256)  # a client sends the same User-Agent with every request
def _clip(value: str | None, limit: int = 200) -> str | None:
    """A header value for the log: bounded length, no control characters."""
    if value is None:
        return None
    clean = "".join(ch if ch.isprintable() else "?" for ch in value[:limit])
    return clean + ("…" if len(value) > limit else "")


_date_cache: tuple[int, str] = (0, "")
_log_second: tuple[int, str] = (0, "")


def _log_time() -> str:
    """Now in UTC as the log writes it, ``datetime.isoformat(timespec="milliseconds")``'s form
    (2026-12-06T04:56:33.776+00:00), with the part up to the second formatted once per second."""
    global _log_second
    now = time.time()
    second = int(now)
    if _log_second[0] != second:
        stamp = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _log_second = (second, stamp)
    return f"{_log_second[1]}.{int((now - second) * 1000):03d}+00:00"


def _http_date() -> str:
    """The Date header (RFC 9110 §5.6.7), formatted once per second rather than per answer."""
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.formatdate(second, usegmt=True))
    return _date_cache[1]


@functools.lru_cache(maxsize=256)
def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); ValueError in plain words otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 169.254.169.254:80)")
    return host, int(port)


def serve(
    state: StateDir,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    token_refresh: float = DEFAULT_REFRESH_SECONDS,
    issuer_scheme: str = DEFAULT_ISSUER_SCHEME,
    metadata_bind: tuple[str, int] | None = None,
) -> None:
    """Bind, announce, serve until SIGTERM (the body of ``python -m wif_notebook.idp``).

    ``metadata_bind`` adds a second plain-http listener answering the same requests, for clients
    that call the metadata hosts at fixed addresses with no way to redirect them (the Node.js
    driver's built-in azure/gcp environments call 169.254.169.254:80 and http://metadata/): a
    network namespace with that address on its loopback gives the IdP that address there.
    """
    if host not in LOOPBACK_HOSTS and not _is_loopback(host):
        print(
            f"wif idp: WARNING: binding {host} exposes signing endpoints and client secrets beyond "
            "this machine; the kit is meant for 127.0.0.1 only",
            file=sys.stderr,
        )
    httpd = IdpHTTPServer((host, port), None, None, ssl_context=server_context(state))
    bound_port = httpd.server_address[1]
    # The issuer says localhost whatever we bound: the leaf certificate names it, and a real mongod
    # accepts plain http only for that name.
    base_url = f"{issuer_scheme}://localhost:{bound_port}"
    app = IdentityProvider(state, base_url)
    httpd.app = app
    httpd.request_log = RequestLog(state.subdir("logs") / "idp.log")
    # Imported here: the vendor-host proxy builds on this module's server and handler classes.
    from . import vendorproxy

    proxy = vendorproxy.start(state, app, httpd.request_log)
    listeners = [httpd, proxy]
    if metadata_bind is not None:
        metadata = IdpHTTPServer(metadata_bind, app, httpd.request_log)
        listeners.append(metadata)
        threading.Thread(
            target=metadata.serve_forever, kwargs={"poll_interval": 0.05}, name="idp-metadata", daemon=True
        ).start()
    app.write_token_files()
    stop = threading.Event()

    def refresh_loop() -> None:
        while not stop.wait(token_refresh):
            try:
                app.write_token_files()
            except Exception:
                traceback.print_exc(file=sys.stderr)

    threading.Thread(target=refresh_loop, name="token-files", daemon=True).start()
    services.announce(state, "idp", bound_port, host=host, **app.service_extra(), vendor_proxy=proxy.url)
    services.exit_on_sigterm()
    print(f"wif idp: serving {base_url} (issuers: {', '.join(app.issuer_urls().values())})", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.05)
    finally:
        stop.set()
        for listener in listeners[1:]:
            listener.shutdown()
        for listener in listeners:
            listener.server_close()
        httpd.request_log.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wif_notebook.idp", description="Run the wif-notebook mock identity provider."
    )
    parser.add_argument("--state-dir", default=None)
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (keep 127.0.0.1)")
    parser.add_argument(
        "--issuer-scheme",
        choices=ISSUER_SCHEMES,
        default=DEFAULT_ISSUER_SCHEME,
        help="the issuer form tokens carry by default (https; http only for enableTestCommands)",
    )
    parser.add_argument(
        "--token-refresh",
        type=float,
        default=DEFAULT_REFRESH_SECONDS,
        help="seconds between rewrites of the projected token files",
    )
    parser.add_argument(
        "--metadata-bind",
        default=None,
        metavar="HOST:PORT",
        help="also answer plain http here, e.g. 169.254.169.254:80 inside a network namespace",
    )
    args = parser.parse_args(argv)
    if args.token_refresh <= 0:
        parser.error("--token-refresh must be a positive number of seconds")
    try:
        metadata_bind = parse_address(args.metadata_bind) if args.metadata_bind else None
    except ValueError as exc:
        parser.error(f"--metadata-bind: {exc}")
    try:
        serve(
            StateDir(args.state_dir),
            port=args.port,
            host=args.host,
            token_refresh=args.token_refresh,
            issuer_scheme=args.issuer_scheme,
            metadata_bind=metadata_bind,
        )
    except WifError as exc:
        print(f"wif idp: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"wif idp: {ports.port_in_use('idp', args.port)}", file=sys.stderr)
            return 1
        print(
            f"wif idp: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n"
            "  next step: choose another port with --port, or stop what uses it",
            file=sys.stderr,
        )
        return 1
    return 0
