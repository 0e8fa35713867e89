"""The wire codec on its own: bytes in, requests out, no sockets (reference §2.1–§2.4)."""

from __future__ import annotations

import struct

import bson
import pytest
from bson.int64 import Int64

from wif_notebook.server import wire


def _split(data: bytes) -> tuple[wire.Header, bytes]:
    header = wire.parse_header(data[:16])
    return header, data[16:]


def test_crc32c_matches_the_castagnoli_check_value() -> None:
    assert wire.crc32c(b"123456789") == 0xE3069283
    assert wire.crc32c(b"") == 0


def test_op_msg_kind0_body_is_the_command() -> None:
    data = wire.encode_op_msg({"ping": 1, "$db": "admin"}, 7, 0)
    header, body = _split(data)
    request = wire.parse_message(header, body)
    assert header.op_code == wire.OP_MSG and header.request_id == 7
    assert request.body == {"ping": 1, "$db": "admin"}
    assert not request.legacy and not request.more_to_come


def test_kind1_document_sequences_are_merged_into_the_body() -> None:
    docs = [{"_id": i} for i in range(3)]
    data = wire.encode_op_msg_with_sequences({"insert": "c", "$db": "test"}, {"documents": docs}, 1)
    request = wire.parse_message(*_split(data))
    assert request.body["documents"] == docs
    assert request.sequences == {"documents": docs}


def test_sequence_that_repeats_a_body_field_is_a_protocol_error() -> None:
    data = wire.encode_op_msg_with_sequences(
        {"insert": "c", "documents": [], "$db": "t"}, {"documents": []}, 1
    )
    with pytest.raises(
        wire.ProtocolError, match="Duplicate field between body and document sequence"
    ) as info:
        wire.parse_message(*_split(data))
    assert (info.value.code, info.value.fatal) == (40433, False)


def test_valid_checksum_is_accepted_and_stripped() -> None:
    data = wire.encode_op_msg({"ping": 1, "$db": "admin"}, 3, 0, flag_bits=wire.CHECKSUM_PRESENT)
    request = wire.parse_message(*_split(data))
    assert request.body == {"ping": 1, "$db": "admin"}


def test_bad_checksum_is_rejected() -> None:
    data = bytearray(wire.encode_op_msg({"ping": 1, "$db": "admin"}, 3, 0, flag_bits=wire.CHECKSUM_PRESENT))
    data[-1] ^= 0xFF
    with pytest.raises(wire.ProtocolError, match="OP_MSG checksum does not match contents") as info:
        wire.parse_message(*_split(bytes(data)))
    assert (info.value.code, info.value.code_name, info.value.fatal) == (288, "ChecksumMismatch", True)


def test_more_to_come_and_exhaust_allowed_flags_are_reported() -> None:
    data = wire.encode_op_msg({"endSessions": [], "$db": "admin"}, 1, 0, flag_bits=wire.MORE_TO_COME)
    assert wire.parse_message(*_split(data)).more_to_come
    data = wire.encode_op_msg({"hello": 1, "$db": "admin"}, 1, 0, flag_bits=wire.EXHAUST_ALLOWED)
    request = wire.parse_message(*_split(data))
    assert request.exhaust_allowed and not request.more_to_come


def test_unknown_required_flag_bit_is_an_error_but_unknown_optional_bits_are_not() -> None:
    data = wire.encode_op_msg({"ping": 1, "$db": "admin"}, 1, 0, flag_bits=1 << 4)
    with pytest.raises(wire.ProtocolError, match="illegal flags value: Ob0+10000$") as info:
        wire.parse_message(*_split(data))
    assert (info.value.code, info.value.code_name, info.value.fatal) == (223, "IllegalOpMsgFlag", True)
    data = wire.encode_op_msg({"ping": 1, "$db": "admin"}, 1, 0, flag_bits=1 << 20)
    assert wire.parse_message(*_split(data)).body["ping"] == 1


def test_op_query_handshake_as_the_node_driver_sends_it() -> None:
    data = wire.encode_op_query({"ismaster": 1, "helloOk": True, "client": {"driver": {"name": "nodejs"}}}, 9)
    request = wire.parse_message(*_split(data))
    assert request.legacy and request.namespace == "admin.$cmd"
    assert wire.command_name(request.body) == "ismaster"


def test_op_query_with_dollar_query_wrapper_is_unwrapped() -> None:
    data = wire.encode_op_query({"$query": {"isMaster": 1}, "$readPreference": {"mode": "primary"}}, 1)
    assert wire.parse_message(*_split(data)).body == {"isMaster": 1}


def test_op_reply_has_mongods_fixed_fields() -> None:
    data = wire.encode_op_reply({"ok": 1.0}, 5, 9)
    header, body = _split(data)
    assert (header.op_code, header.response_to) == (wire.OP_REPLY, 9)
    flags, cursor_id, starting_from, number_returned = struct.unpack_from("<iqii", body)
    assert (flags, cursor_id, starting_from, number_returned) == (8, 0, 0, 1)
    assert wire.parse_reply(data)[1] == {"ok": 1.0}


def test_message_longer_than_max_message_size_is_refused_from_the_header() -> None:
    header = struct.pack("<iiii", wire.MAX_MESSAGE_SIZE_BYTES + 1, 1, 0, wire.OP_MSG)
    with pytest.raises(wire.ProtocolError, match="msgLen 48000001 is invalid. Min 16 Max: 48000000"):
        wire.parse_header(header)
    with pytest.raises(wire.ProtocolError):
        wire.parse_header(struct.pack("<iiii", 8, 1, 0, wire.OP_MSG))


def test_bson_document_over_16mib_plus_16kib_is_refused() -> None:
    big = {"insert": "c", "x": "a" * (wire.MAX_BSON_INTERNAL_SIZE + 10), "$db": "t"}
    payload = struct.pack("<I", 0) + b"\x00" + bson.encode(big)
    data = wire.encode_header(16 + len(payload), 1, 0, wire.OP_MSG) + payload
    with pytest.raises(wire.ProtocolError, match="BSONObj size") as info:
        wire.parse_message(*_split(data))
    assert info.value.code == 10334


def test_int64_values_survive_a_round_trip() -> None:
    data = wire.encode_op_msg({"getMore": Int64(5), "collection": "c", "$db": "t"}, 1, 0)
    body = wire.parse_message(*_split(data)).body
    assert isinstance(body["getMore"], Int64)


@pytest.mark.parametrize(
    ("garbage", "code"),
    [
        (b"\x00" * 5, 22),  # flagBits, a kind-0 marker, and no document
        (struct.pack("<I", 0) + b"\x07" + bson.encode({"a": 1}), 40432),  # unknown section kind
        (struct.pack("<I", 0) + b"\x00" + b"\x05\x00\x00", 22),  # truncated BSON
        (
            (struct.pack("<I", 0) + b"\x00" + bson.encode({"a": 1})) + b"\x00" + bson.encode({"a": 1}),
            40430,
        ),  # two bodies
    ],
)
def test_malformed_sections_are_answerable_errors_with_mongods_codes(garbage: bytes, code: int) -> None:
    data = wire.encode_header(16 + len(garbage), 1, 0, wire.OP_MSG) + garbage
    with pytest.raises(wire.ProtocolError) as info:
        wire.parse_message(*_split(data))
    assert (info.value.code, info.value.fatal) == (code, False)


def test_op_msg_without_a_body_is_40587() -> None:
    data = wire.encode_header(20, 1, 0, wire.OP_MSG) + struct.pack("<I", 0)
    with pytest.raises(wire.ProtocolError, match="OP_MSG messages must have a body") as info:
        wire.parse_message(*_split(data))
    assert info.value.code == 40587


def test_unsupported_opcode_is_a_protocol_error() -> None:
    data = wire.encode_header(20, 1, 0, 2002) + b"\x00" * 4  # legacy OP_INSERT
    with pytest.raises(wire.ProtocolError, match="unsupported opCode 2002"):
        wire.parse_message(*_split(data))
