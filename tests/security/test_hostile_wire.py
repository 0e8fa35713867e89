"""Hostile bytes at the wire codec and at the running test mongod: it never crashes or hangs.

The codec is a set of pure functions: whatever the bytes, they return a message or raise the
codec's own ``ProtocolError``. The server process gets the same bytes over real sockets (seeded,
a few hundred inputs here; ``tests/fuzz`` runs 100k+), plus oversized and truncated messages, a
client trickling one byte at a time, and a flood of connections; after each, a well-formed client
is served.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pymongo.errors import OperationFailure, PyMongoError

from wif_notebook.mongod import MongodConfig
from wif_notebook.server import wire
from wif_notebook.server.core import TestServer

from .conftest import DB, RunningKit, exchange, raw_hello, replies
from .strategies import bson_values, command_documents, hostile_bytes

SEEDED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def decode(data: bytes) -> wire.Request | None:
    """What the server does with one message's bytes (header, then body)."""
    header = wire.parse_header(data[: wire.HEADER_SIZE])
    body = data[wire.HEADER_SIZE : header.length]
    if len(body) != header.length - wire.HEADER_SIZE:
        return None  # the server would wait for more bytes
    request = wire.parse_message(header, body)
    wire.command_name(request.body)
    return request


@settings(SEEDED, max_examples=300)
@given(hostile_bytes)
def test_codec_raises_only_its_own_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except wire.ProtocolError as exc:
        assert exc.code > 0 and exc.message
        reply = exc.to_reply()
        assert reply["ok"] == 0.0 and isinstance(reply["errmsg"], str)


@settings(SEEDED, max_examples=300)
@given(hostile_bytes)
def test_server_survives_seeded_hostile_frames_and_still_answers(kit: RunningKit, data: bytes) -> None:
    for reply in replies_or_none(exchange(kit.port, data)):
        assert "ok" in reply or "$err" in reply
    assert raw_hello(kit.port)["ok"] == 1.0


def replies_or_none(data: bytes) -> list[dict[str, Any]]:
    try:
        return replies(data)
    except wire.ProtocolError as exc:  # a reply cut short when the server closed: never expected
        raise AssertionError(f"the server sent a malformed reply: {exc}") from exc


def test_after_the_seeded_frames_the_server_logs_them_and_a_driver_is_served(kit: RunningKit) -> None:
    receive_errors = kit.mongod_log(22989)
    assert receive_errors, "malformed messages are logged (22989)"
    assert all("errmsg" in e["attr"]["error"] for e in receive_errors)
    assert not kit.mongod_log(21966), "no command raised an unexpected exception"
    kit.assert_serving()


@settings(SEEDED, max_examples=150)
@given(command_documents(), bson_values)
def test_command_handlers_survive_seeded_hostile_commands_from_an_administrator(
    kit: RunningKit, doc: dict[str, Any], filler: Any
) -> None:
    doc.pop("$db", None)
    name = next(iter(doc), "")
    if not name or name in ("saslStart", "saslContinue"):
        return  # the authentication commands would change the administrator's session
    try:
        reply = kit.shared_admin()[DB].command(doc)
        assert reply.get("ok") == 1.0
    except OperationFailure as exc:
        assert exc.code != 1, f"{name}: the handler raised an unexpected exception: {exc}"
    except (PyMongoError, ValueError, TypeError, OverflowError):
        pass  # pymongo refused to send it (bad BSON, reserved names)


@pytest.mark.parametrize(
    ("what", "data", "logged"),
    [
        (
            "length over 48 MB",
            wire.encode_header(48_000_001, 1, 0, wire.OP_MSG),
            "msgLen 48000001 is invalid",
        ),
        ("negative length", wire.encode_header(-5, 1, 0, wire.OP_MSG), "msgLen -5 is invalid"),
        ("length below the header", wire.encode_header(15, 1, 0, wire.OP_MSG), "msgLen 15 is invalid"),
        ("header cut short", b"\x30\x00\x00\x00\x01\x00", "inside a message header"),
        (
            "body cut short",
            wire.encode_header(1000, 1, 0, wire.OP_MSG) + b"\x00" * 100,
            "inside a message body",
        ),
        ("unknown opcode", wire.encode_header(20, 1, 0, 2010) + b"\x00" * 4, "unsupported opCode 2010"),
        (
            "compressed without negotiation",
            wire.encode_header(20, 1, 0, wire.OP_COMPRESSED) + b"\x00" * 4,
            "no compressor was negotiated",
        ),
    ],
)
def test_oversized_and_truncated_messages_close_only_their_connection_and_are_logged(
    kit: RunningKit, what: str, data: bytes, logged: str
) -> None:
    assert exchange(kit.port, data) == b""
    errors = [e["attr"]["error"]["errmsg"] for e in kit.mongod_log(22989)]
    assert any(logged in message for message in errors), f"{what}: {errors[-3:]}"
    assert raw_hello(kit.port)["ok"] == 1.0


def test_document_over_16_mib_is_answered_with_10334_and_the_connection_stays_usable(kit: RunningKit) -> None:
    big = wire.encode_op_msg({"ping": 1, "pad": "x" * (17 * 1024 * 1024), "$db": "admin"}, 7, 0)
    with socket.create_connection(("127.0.0.1", kit.port), timeout=30) as sock:
        sock.sendall(big)
        [reply] = _read_replies(sock, 1)
        assert reply["code"] == 10334
        sock.sendall(wire.encode_op_msg({"ping": 1, "$db": "admin"}, 8, 0))
        [pong] = _read_replies(sock, 1)
        assert pong["ok"] == 1.0


def _read_replies(sock: socket.socket, count: int) -> list[dict[str, Any]]:
    buf = b""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buf += chunk
        while len(buf) >= 4 and len(buf) >= struct.unpack_from("<i", buf)[0]:
            header, doc = wire.parse_reply(buf)
            out.append(doc)
            buf = buf[header.length :]
    return out


def test_huge_token_is_refused_with_18_quickly_and_the_server_keeps_serving(kit: RunningKit) -> None:
    header, body, _ = kit.token().split(".")
    huge = f"{header}.{body}.{'A' * (1024 * 1024)}"  # 1 MB, a signature that cannot verify
    client = kit.oidc_client(huge)
    started = time.perf_counter()
    with pytest.raises(OperationFailure) as info:
        client[DB].items.find_one()
    assert info.value.code == 18
    assert time.perf_counter() - started < 5
    kit.assert_serving()


def test_flood_of_a_thousand_connections_is_survived_and_a_driver_is_served_meanwhile(
    kit: RunningKit,
) -> None:
    rss_before = kit.rss_kb()
    accepted_before = len(kit.mongod_log(22943))
    socks = []
    try:
        for i in range(1000):
            sock = socket.create_connection(("127.0.0.1", kit.port), timeout=10)
            if i % 2:
                sock.sendall(wire.encode_header(1000, i, 0, wire.OP_MSG)[:10])  # half a header, then silence
            socks.append(sock)
        started = time.perf_counter()
        kit.assert_serving()
        assert time.perf_counter() - started < 10
        status = kit.shared_admin().admin.command("serverStatus")
        assert status["connections"]["current"] >= 1000
    finally:
        for sock in socks:
            sock.close()
    deadline = time.monotonic() + 15
    while kit.shared_admin().admin.command("serverStatus")["connections"]["current"] > 20:
        assert time.monotonic() < deadline, "the flood's connections were not released"
        time.sleep(0.1)
    assert len(kit.mongod_log(22943)) - accepted_before >= 1000
    assert kit.rss_kb() - rss_before < 100 * 1024, "a thousand idle connections cost over 100 MB"
    kit.assert_serving()


# -- slow clients and connection limits: a server in this process, with limits a test can wait for --
@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[TestServer]:
    config = MongodConfig(port=0, db_path=tmp_path / "db", log_path=tmp_path / "mongod.log")
    config.db_path.mkdir()
    config.raw = {"net": {"maxIncomingConnections": 20}}
    server = TestServer(config, argv=["mongod"])
    server.message_timeout_secs = 2.0
    server.start_in_thread()
    yield server
    server.stop_thread()


def _log_lines(server: TestServer) -> str:
    assert server.config.log_path is not None
    return server.config.log_path.read_text()


def test_client_sending_one_byte_a_second_is_cut_off_after_the_message_timeout(
    small_server: TestServer,
) -> None:
    message = wire.encode_op_msg({"ping": 1, "$db": "admin"}, 1, 0)
    closed_after: list[float] = []

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", small_server.port), timeout=10) as sock:
            started = time.monotonic()
            try:
                for byte in message:
                    sock.sendall(bytes([byte]))
                    time.sleep(0.5)
                    if time.monotonic() - started > 8:
                        break
                sock.recv(1)
            except OSError:
                pass
            closed_after.append(time.monotonic() - started)

    slow = [threading.Thread(target=trickle) for _ in range(5)]
    for thread in slow:
        thread.start()
    time.sleep(0.5)
    # Meanwhile a normal client is answered at once.
    started = time.perf_counter()
    assert raw_hello(small_server.port)["ok"] == 1.0
    assert time.perf_counter() - started < 1.0
    for thread in slow:
        thread.join(timeout=15)
    assert len(closed_after) == 5
    assert all(t < 5 for t in closed_after), closed_after
    assert "no complete message within 2 s of its first byte" in _log_lines(small_server)
    assert small_server.connection_count() == 0


def test_connections_over_max_incoming_connections_are_refused_and_logged(small_server: TestServer) -> None:
    socks = [socket.create_connection(("127.0.0.1", small_server.port), timeout=5) for _ in range(20)]
    try:
        deadline = time.monotonic() + 5
        while small_server.connection_count() < 20:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", small_server.port), timeout=5) as extra:
            assert extra.recv(1) == b""  # closed without a word, as mongod does
        assert "Connection refused because there are too many open connections" in _log_lines(small_server)
    finally:
        for sock in socks:
            sock.close()
    deadline = time.monotonic() + 5
    while small_server.connection_count():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert raw_hello(small_server.port)["ok"] == 1.0


def test_big_messages_with_a_checksum_do_not_hold_up_logins(kit: RunningKit) -> None:
    # The CRC-32C of each 15 MiB message is computed (a wrong one on purpose): with a slow checksum
    # eight of these kept every worker thread busy and logins waited for them.
    payload = struct.pack("<I", wire.CHECKSUM_PRESENT) + b"\x00"
    payload += wire.encode_document({"ping": 1, "$db": "admin", "pad": "x" * (15 * 1024 * 1024)})
    message = wire.encode_header(16 + len(payload) + 4, 1, 0, wire.OP_MSG) + payload + b"\x00" * 4
    done: list[float] = []

    def hostile() -> None:
        started = time.monotonic()
        exchange(kit.port, message, timeout=60)
        done.append(time.monotonic() - started)

    threads = [threading.Thread(target=hostile) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the messages have arrived and are being checked
    started = time.monotonic()
    kit.assert_serving()
    login_took = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=60)
    assert len(done) == 8
    assert login_took < 3, f"a login took {login_took:.1f} s behind the checksummed messages"
    assert "OP_MSG checksum does not match contents" in str(kit.mongod_log(22989)[-1])
