"""Handshakes, framing and the commands clients send while connecting, over real sockets."""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any

import pytest
from bson.int64 import Int64
from pymongo.errors import OperationFailure

from wif_notebook.server import wire

from .conftest import RunningServer, ServerFactory


@pytest.fixture
def open_server(make_server: ServerFactory) -> RunningServer:
    """No authorization: framing tests need no login."""
    return make_server(authorization=False)


def _connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.settimeout(5)
    return sock


def _read_message(sock: socket.socket) -> bytes:
    head = _recv_exactly(sock, 16)
    length = struct.unpack_from("<i", head)[0]
    return head + _recv_exactly(sock, length - 16)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _command(
    sock: socket.socket, doc: dict[str, Any], request_id: int = 1, flag_bits: int = 0
) -> dict[str, Any]:
    sock.sendall(wire.encode_op_msg(doc, request_id, 0, flag_bits=flag_bits))
    header, reply = wire.parse_reply(_read_message(sock))
    assert header.response_to == request_id
    return reply


def test_op_query_handshake_is_answered_with_op_reply(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        node_hello = {
            "ismaster": 1,
            "helloOk": True,
            "client": {
                "driver": {"name": "nodejs", "version": "6.22.0"},
                "application": {"name": "mongosh 2.12.0"},
            },
            "compression": ["none"],
        }
        sock.sendall(wire.encode_op_query(node_hello, 42))
        data = _read_message(sock)
        header = wire.parse_header(data[:16])
        assert (header.op_code, header.response_to) == (wire.OP_REPLY, 42)
        flags, cursor_id, starting_from, returned = struct.unpack_from("<iqii", data, 16)
        assert (flags, cursor_id, starting_from, returned) == (8, 0, 0, 1)
        reply = wire.parse_reply(data)[1]
        assert reply["ismaster"] is True and reply["helloOk"] is True and reply["ok"] == 1.0
        assert reply["maxWireVersion"] == 21 and "topologyVersion" not in reply
        assert reply["connectionId"] >= 1
        # After the handshake the Node driver switches to OP_MSG on the same connection.
        assert _command(sock, {"ping": 1, "$db": "admin"}, 43) == {"ok": 1.0}


def test_op_query_for_anything_but_hello_is_refused(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        sock.sendall(wire.encode_op_query({"find": "c"}, 1, "test.$cmd"))
        reply = wire.parse_reply(_read_message(sock))[1]
        assert reply["code"] == 352 and reply["errmsg"].startswith("Unsupported OP_QUERY command: find.")


def test_pymongo_op_msg_hello_has_the_70_standalone_shape(open_server: RunningServer) -> None:
    client = open_server.client()
    reply = client.admin.command("hello")
    assert reply["isWritablePrimary"] is True and "ismaster" not in reply
    for field, value in {
        "maxBsonObjectSize": 16777216,
        "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000,
        "logicalSessionTimeoutMinutes": 30,
        "minWireVersion": 0,
        "maxWireVersion": 21,
        "readOnly": False,
    }.items():
        assert reply[field] == value
    assert "topologyVersion" not in reply
    legacy = client.admin.command("isMaster")
    assert legacy["ismaster"] is True and "isWritablePrimary" not in legacy


def test_client_metadata_may_only_be_sent_once(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        first = _command(sock, {"hello": 1, "client": {"application": {"name": "a"}}, "$db": "admin"})
        assert first["ok"] == 1.0
        second = _command(sock, {"hello": 1, "client": {"application": {"name": "b"}}, "$db": "admin"}, 2)
        assert second["code"] == 186


def test_checksummed_op_msg_is_verified(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        assert _command(sock, {"ping": 1, "$db": "admin"}, 5, flag_bits=wire.CHECKSUM_PRESENT)["ok"] == 1.0
        bad = bytearray(
            wire.encode_op_msg({"ping": 1, "$db": "admin"}, 6, 0, flag_bits=wire.CHECKSUM_PRESENT)
        )
        bad[-2] ^= 0x55
        sock.sendall(bytes(bad))
        assert _closed_by_server(sock)
    [entry] = open_server.log_entries(22989)
    assert entry["attr"]["error"] == {
        "code": 288,
        "codeName": "ChecksumMismatch",
        "errmsg": "OP_MSG checksum does not match contents",
    }


def test_more_to_come_request_gets_no_reply(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        sock.sendall(
            wire.encode_op_msg({"endSessions": [], "$db": "admin"}, 1, 0, flag_bits=wire.MORE_TO_COME)
        )
        # The next reply on the wire answers request 2: nothing was sent for request 1.
        assert _command(sock, {"ping": 1, "$db": "admin"}, 2) == {"ok": 1.0}


def test_kind1_document_sequence_insert(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        docs = [{"_id": i, "v": i * i} for i in range(3)]
        sock.sendall(
            wire.encode_op_msg_with_sequences({"insert": "seq", "$db": "test"}, {"documents": docs}, 3)
        )
        header, reply = wire.parse_reply(_read_message(sock))
        assert reply == {"n": 3, "ok": 1.0}
    assert list(open_server.client().test.seq.find().sort("_id", 1)) == docs


def test_oversize_message_closes_only_that_connection(open_server: RunningServer) -> None:
    client = open_server.client()
    client.admin.command("ping")
    with _connect(open_server) as sock:
        sock.sendall(struct.pack("<iiii", 48_000_001, 1, 0, wire.OP_MSG))
        assert _closed_by_server(sock)
    [entry] = open_server.log_entries(22989)
    assert "msgLen 48000001 is invalid" in entry["attr"]["error"]["errmsg"]
    assert client.admin.command("ping")["ok"] == 1.0


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        struct.pack("<iiii", 20, 1, 0, wire.OP_MSG) + b"\x04\x00\x00\x00",  # illegal required flag bit
        struct.pack("<iiii", 24, 1, 0, 2002) + b"\x00" * 8,
    ],
)
def test_malformed_bytes_do_not_kill_the_server(open_server: RunningServer, garbage: bytes) -> None:
    with _connect(open_server) as sock:
        sock.sendall(garbage)
        assert _closed_by_server(sock)
    assert open_server.client().admin.command("ping")["ok"] == 1.0


def test_malformed_section_is_answered_and_the_connection_stays_open(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        bad = struct.pack("<I", 0) + b"\x09" + b"\x05\x00\x00\x00\x00"
        sock.sendall(wire.encode_header(16 + len(bad), 7, 0, wire.OP_MSG) + bad)
        header, reply = wire.parse_reply(_read_message(sock))
        assert header.response_to == 7
        assert reply == {
            "ok": 0.0,
            "errmsg": "Unknown section kind 9",
            "code": 40432,
            "codeName": "Location40432",
        }
        assert _command(sock, {"ping": 1, "$db": "admin"}, 8) == {"ok": 1.0}


def test_missing_db_is_mongods_40571(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        reply = _command(sock, {"ping": 1})
        assert reply["code"] == 40571 and reply["errmsg"] == "OP_MSG requests require a $db argument"


def test_unknown_command_is_59_with_mongods_text(open_server: RunningServer) -> None:
    with pytest.raises(OperationFailure) as info:
        open_server.client().admin.command("atlasVersion")
    assert info.value.code == 59
    assert info.value.details is not None
    assert info.value.details["errmsg"] == "no such command: 'atlasVersion'"
    assert info.value.details["codeName"] == "CommandNotFound"


def test_mongosh_startup_commands(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        reply = _command(
            sock,
            {
                "aggregate": "atlascli",
                "pipeline": [
                    {"$match": {"managedClusterType": "atlasCliLocalDevCluster"}},
                    {"$group": {"_id": 1, "n": {"$sum": 1}}},
                ],
                "cursor": {},
                "$db": "admin",
            },
        )
        assert reply["cursor"]["firstBatch"] == [] and reply["cursor"]["ns"] == "admin.atlascli"
        assert isinstance(reply["cursor"]["id"], Int64)
        assert _command(sock, {"getParameter": 1, "featureCompatibilityVersion": 1, "$db": "admin"}, 2) == {
            "featureCompatibilityVersion": {"version": "7.0"},
            "ok": 1.0,
        }
        assert _command(sock, {"getParameter": "foo", "$db": "admin"}, 3)["code"] == 72


def test_build_info_marks_the_kits_test_server(open_server: RunningServer) -> None:
    info = open_server.client().admin.command("buildInfo")
    assert info["version"].startswith("7.0.") and info["versionArray"][:2] == [7, 0]
    assert info["wifTestServer"] is True and info["gitVersion"] == "wif-notebook-test-server"
    assert "enterprise" not in info["modules"]


def test_diagnostic_commands(open_server: RunningServer) -> None:
    admin = open_server.client().admin
    status = admin.command("serverStatus")
    assert status["process"] == "mongod" and status["connections"]["current"] >= 1
    assert status["storageEngine"]["name"]
    assert admin.command("hostInfo")["system"]["numCores"] >= 1
    assert admin.command("whatsmyuri")["you"].startswith("127.0.0.1:")
    warnings = admin.command("getLog", "startupWarnings")["log"]
    assert any("Access control is not enabled" in line for line in warnings)
    assert admin.command("getLog", "*")["names"] == ["global", "startupWarnings"]
    assert admin.command("getCmdLineOpts")["argv"] == ["mongod", "--config", "test"]
    params = admin.command("getParameter", "*")
    assert params["authenticationMechanisms"] == ["SCRAM-SHA-256", "MONGODB-OIDC"]
    assert admin.command("killAllSessions", [])["ok"] == 1.0


def test_find_get_more_and_kill_cursors_use_int64_ids(open_server: RunningServer) -> None:
    coll = open_server.client().test.cursors
    coll.insert_many([{"_id": i} for i in range(250)])
    assert [d["_id"] for d in coll.find().sort("_id", 1).batch_size(40)] == list(range(250))
    with _connect(open_server) as sock:
        first = _command(sock, {"find": "cursors", "batchSize": 2, "$db": "test"})
        cursor_id = first["cursor"]["id"]
        assert isinstance(cursor_id, Int64) and cursor_id != 0
        more = _command(
            sock, {"getMore": cursor_id, "collection": "cursors", "batchSize": 3, "$db": "test"}, 2
        )
        assert len(more["cursor"]["nextBatch"]) == 3
        killed = _command(sock, {"killCursors": "cursors", "cursors": [cursor_id], "$db": "test"}, 3)
        assert killed["cursorsKilled"] == [cursor_id]
        gone = _command(sock, {"getMore": cursor_id, "collection": "cursors", "$db": "test"}, 4)
        assert gone["code"] == 43
    assert coll.count_documents({}) == 250
    assert coll.database.command("count", "cursors")["n"] == 250


def test_configure_fail_point_needs_enable_test_commands(make_server: ServerFactory) -> None:
    server = make_server(authorization=False, enable_test_commands=False)
    with pytest.raises(OperationFailure) as info:
        server.client().admin.command("configureFailPoint", "failCommand", mode="alwaysOn")
    assert info.value.code == 59


def test_configure_fail_point_needs_no_login_when_test_commands_are_enabled(
    make_server: ServerFactory,
) -> None:
    """mongod's configureFailPoint has requiresAuth() false: a client that never logged in (as the
    drivers' unified runners use to turn fail points off) sets and clears it, even with
    authorization on; it still runs only on the admin database."""
    server = make_server(authorization=True)
    anonymous = server.client()
    set_reply = anonymous.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["find"], "errorCode": 2},
    )
    assert set_reply["ok"] == 1.0
    assert anonymous.admin.command("configureFailPoint", "failCommand", mode="off")["count"] == 0
    with pytest.raises(OperationFailure) as info:
        anonymous.test.command("configureFailPoint", "failCommand", mode="off")
    assert info.value.code == 13
    # Everything else still needs a login.
    with pytest.raises(OperationFailure) as info:
        anonymous.test.command("find", "c")
    assert info.value.code == 13


def test_fail_command_modes_and_options(open_server: RunningServer) -> None:
    admin = open_server.client().admin
    app = open_server.client(appName="victim")
    admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"skip": 1},
        data={
            "failCommands": ["ping"],
            "errorCode": 2,
            "errorLabels": ["RetryableWriteError"],
            "appName": "victim",
        },
    )
    assert app.admin.command("ping")["ok"] == 1.0  # skipped
    for _ in range(2):  # then always on
        with pytest.raises(OperationFailure) as info:
            app.admin.command("ping")
        assert info.value.code == 2 and info.value.has_error_label("RetryableWriteError")
        assert (
            str(info.value.details and info.value.details["errmsg"])
            == "Failing command via 'failCommand' failpoint"
        )
    assert admin.command("ping")["ok"] == 1.0  # another appName is not affected
    assert admin.command("configureFailPoint", "failCommand", mode="off")["count"] == 2
    admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["find"], "errorCode": 2, "namespace": "test.other"},
    )
    assert app.test.coll.find_one() is None  # other namespace: not failed
    with pytest.raises(OperationFailure):
        app.test.other.find_one()
    assert app.test.other.find_one() is None  # times: 1 is used up
    # configureFailPoint itself is never failed.
    admin.command(
        "configureFailPoint",
        "failCommand",
        mode="alwaysOn",
        data={"failCommands": ["configureFailPoint"], "errorCode": 2},
    )
    assert admin.command("configureFailPoint", "failCommand", mode="off")["ok"] == 1.0


def test_block_connection_delays_only_the_failing_command(open_server: RunningServer) -> None:
    admin = open_server.client().admin
    admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={"failCommands": ["ping"], "blockConnection": True, "blockTimeMS": 300, "appName": "slow"},
    )
    slow = open_server.client(appName="slow")
    started = time.monotonic()
    assert slow.admin.command("ping")["ok"] == 1.0
    assert time.monotonic() - started >= 0.3


def test_raw_bson_reply_keeps_int64(open_server: RunningServer) -> None:
    with _connect(open_server) as sock:
        reply = _command(sock, {"insert": "i64", "documents": [{"_id": 1, "n": Int64(5)}], "$db": "test"})
        assert reply["n"] == 1
        found = _command(sock, {"find": "i64", "$db": "test"}, 2)
        assert isinstance(found["cursor"]["firstBatch"][0]["n"], Int64)


def test_document_over_16mib_is_refused_as_mongod_does(open_server: RunningServer) -> None:
    big = {"_id": 1, "x": "a" * (16 * 1024 * 1024)}
    with _connect(open_server) as sock:
        sock.sendall(
            wire.encode_op_msg_with_sequences({"insert": "big", "$db": "test"}, {"documents": [big]}, 1)
        )
        reply = wire.parse_reply(_read_message(sock))[1]
    assert reply["n"] == 0
    [error] = reply["writeErrors"]
    assert error["code"] == 2 and error["errmsg"].startswith("object to insert too large. size in bytes: 167")


def test_big_checksummed_message_does_not_stall_other_connections(
    open_server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pure-Python CRC-32C (the fallback when google-crc32c is missing) makes decoding slow.
    monkeypatch.setattr(wire, "_fast_crc32c", None)
    docs = [{"_id": i, "pad": "x" * 1024} for i in range(4096)]  # ~4 MiB: ~0.7 s of pure-Python CRC-32C
    data = wire.encode_op_msg_with_sequences(
        {"insert": "big", "$db": "test"}, {"documents": docs}, 9, flag_bits=wire.CHECKSUM_PRESENT
    )
    other = open_server.client()
    other.admin.command("ping")
    replies: list[dict[str, Any]] = []
    big_elapsed: list[float] = []
    with _connect(open_server) as sock:

        def send_big() -> None:
            started = time.monotonic()
            sock.sendall(data)
            replies.append(wire.parse_reply(_read_message(sock))[1])
            big_elapsed.append(time.monotonic() - started)

        sender = threading.Thread(target=send_big)
        sender.start()
        slowest = 0.0
        while sender.is_alive():
            started = time.monotonic()
            other.admin.command("ping")
            slowest = max(slowest, time.monotonic() - started)
        sender.join()
    assert replies == [{"n": 4096, "ok": 1.0}]
    # Decoded on the event loop, a ping would wait for the whole CRC; in the pool it does not
    # (relative, so a busy machine does not make the test flaky).
    assert slowest < big_elapsed[0] / 2
