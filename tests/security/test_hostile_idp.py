"""The mock IdP under a flood of idle connections and a client trickling its request line."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from _support.logs import json_lines

from wif_notebook.idp.app import IdentityProvider
from wif_notebook.idp.server import IdpHTTPServer, RequestLog
from wif_notebook.state import StateDir

from .conftest import RunningKit


def _discovery_status(kit: RunningKit) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", int(kit.info["idp"]["port"]), timeout=10)
    try:
        conn.request("GET", urlsplit(kit.issuer).path + "/.well-known/openid-configuration")
        return conn.getresponse().status
    finally:
        conn.close()


def test_idp_serves_while_five_hundred_idle_and_trickling_connections_are_open(kit: RunningKit) -> None:
    port = int(kit.info["idp"]["port"])
    socks = []
    opening = time.perf_counter()
    try:
        for i in range(500):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i % 2:
                sock.sendall(b"GET /kit/.well-known/openid-con")  # half a request line, then silence
            socks.append(sock)
        # A burst of connects is not left waiting for SYN retransmits (listen backlog).
        assert time.perf_counter() - opening < 10
        started = time.perf_counter()
        assert _discovery_status(kit) == 200
        assert time.perf_counter() - started < 2.0
        # A login needs the IdP only for keys mongod has not cached; it works meanwhile too.
        kit.assert_serving()
    finally:
        for sock in socks:
            sock.close()
    assert _discovery_status(kit) == 200


@pytest.fixture
def quick_idp(tmp_path: Path) -> Iterator[tuple[IdpHTTPServer, StateDir]]:
    """The IdP's HTTP server in this process, with a 1 s request deadline a test can wait for."""
    state = StateDir(tmp_path / "state")
    httpd = IdpHTTPServer(("127.0.0.1", 0), None, None)
    httpd.request_deadline = 1.0
    httpd.app = IdentityProvider(state, f"http://localhost:{httpd.server_address[1]}")
    httpd.request_log = RequestLog(state.subdir("logs") / "idp.log")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd, state
    httpd.shutdown()
    httpd.server_close()
    httpd.request_log.close()


REQUEST = b"GET /kit/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_idp_cuts_off_a_client_trickling_its_request_after_the_deadline(
    quick_idp: tuple[IdpHTTPServer, StateDir],
) -> None:
    httpd, state = quick_idp
    port = httpd.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        closed = False
        for byte in REQUEST:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - started > 5:
                break
        if not closed:
            sock.settimeout(5)
            closed = sock.recv(100) == b""
        took = time.monotonic() - started
    assert closed and took < 4, f"still connected after {took:.1f} s"
    log = json_lines(state.logs_dir / "idp.log")
    assert any("request not complete within 1 s" in str(e.get("error")) for e in log)


def test_idp_keeps_an_idle_kept_alive_connection_beyond_the_request_deadline(
    quick_idp: tuple[IdpHTTPServer, StateDir],
) -> None:
    httpd, _ = quick_idp
    conn = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=10)
    try:
        for _ in range(2):
            conn.request("GET", "/kit/.well-known/openid-configuration")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            time.sleep(1.5)  # idle longer than the deadline: the deadline starts with a request's first byte
    finally:
        conn.close()
