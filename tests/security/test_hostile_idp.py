"""The mock IdP under a flood of idle connections and a client trickling its request line."""

from __future__ import annotations

import http.client
import socket
import time
from urllib.parse import urlsplit

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
