"""The MongoDB wire protocol as pure functions over bytes (no sockets here).

Framing of the three opcodes the kit speaks: OP_QUERY (legacy handshakes on ``admin.$cmd``),
OP_REPLY (the answer to them) and OP_MSG (everything else), plus the 16-byte header, the OP_MSG
CRC-32C checksum and mongod's size limits. The asyncio server only moves bytes; what a message means
is decided here and tested without a network (see reference §2.1–§2.4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.errors import BSONError

Document = dict[str, Any]

OP_REPLY = 1
OP_QUERY = 2004
OP_COMPRESSED = 2012
OP_MSG = 2013

HEADER_SIZE = 16
MAX_MESSAGE_SIZE_BYTES = 48_000_000  # hello.maxMessageSizeBytes
MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024  # hello.maxBsonObjectSize
# mongod lets a command body exceed the user limit by 16 KiB (BSONObjMaxInternalSize) so that a
# maximum-size document still fits inside an insert command.
MAX_BSON_INTERNAL_SIZE = MAX_BSON_OBJECT_SIZE + 16 * 1024

CHECKSUM_PRESENT = 1 << 0
MORE_TO_COME = 1 << 1
EXHAUST_ALLOWED = 1 << 16
_KNOWN_REQUIRED_BITS = CHECKSUM_PRESENT | MORE_TO_COME

# OP_REPLY responseFlags: AwaitCapable (8) is what mongod sets; QueryFailure (2) marks an error.
REPLY_AWAIT_CAPABLE = 8
REPLY_QUERY_FAILURE = 2

# Int64 stays Int64 (cursor ids must go back as int64), documents stay ordered dicts, UUIDs stay
# Binary so an lsid round-trips byte for byte, and out-of-range dates do not raise.
CODEC_OPTIONS: CodecOptions[Document] = CodecOptions(
    document_class=dict,
    tz_aware=True,
    uuid_representation=UuidRepresentation.UNSPECIFIED,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_OP_REPLY_PREFIX = struct.Struct("<iqii")


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid message.

    ``code``/``code_name`` are mongod's error for the condition. A ``fatal`` error (bad framing,
    illegal flag bits, checksum mismatch: mongod's ConnectionFatalMessageParseError category) is
    logged and closes the connection; a non-fatal one (a malformed section inside a well-framed
    OP_MSG) is answered with an error reply, as mongod does, unless the request had moreToCome.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = 17,
        code_name: str = "ProtocolError",
        fatal: bool = True,
        more_to_come: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.code_name = code_name
        self.fatal = fatal
        self.more_to_come = more_to_come

    def to_reply(self) -> Document:
        return {"ok": 0.0, "errmsg": self.message, "code": self.code, "codeName": self.code_name}


def _malformed(message: str, code: int, flag_bits: int) -> ProtocolError:
    """A non-fatal OP_MSG parse error with mongod's location code (op_msg.cpp)."""
    name = "ProtocolError" if code == 17 else f"Location{code}"
    return ProtocolError(
        message, code=code, code_name=name, fatal=False, more_to_come=bool(flag_bits & MORE_TO_COME)
    )


@dataclass(frozen=True)
class Header:
    length: int
    request_id: int
    response_to: int
    op_code: int


@dataclass
class Request:
    """One decoded client message: the command document with kind-1 sequences merged in."""

    header: Header
    body: Document
    legacy: bool = False  # OP_QUERY (answer with OP_REPLY)
    namespace: str = ""  # OP_QUERY fullCollectionName
    flag_bits: int = 0
    sequences: dict[str, list[Document]] = field(default_factory=dict)

    @property
    def more_to_come(self) -> bool:
        return bool(self.flag_bits & MORE_TO_COME)

    @property
    def exhaust_allowed(self) -> bool:
        return bool(self.flag_bits & EXHAUST_ALLOWED)


# -- CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as OP_MSG's checksum requires ------------
def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()

_fast_crc32c: Any
try:
    import google_crc32c as _fast_crc32c
except ImportError:  # pragma: no cover - the pure-Python table is the fallback
    _fast_crc32c = None


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``).

    google-crc32c's C code when it is installed: the pure-Python loop costs about 0.2 s per MB, so
    a few 48 MB messages with a checksum would keep every worker thread busy for tens of seconds.
    """
    if _fast_crc32c is not None:
        return int(_fast_crc32c.extend(crc, bytes(data)))
    crc ^= 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# -- header ----------------------------------------------------------------------------------------
def parse_header(data: bytes) -> Header:
    """Decode and bound-check the 16-byte header (mongod's limits: 16 ≤ length ≤ 48,000,000)."""
    if len(data) < HEADER_SIZE:
        raise ProtocolError(f"message header is {len(data)} bytes, expected {HEADER_SIZE}")
    header = Header(*_HEADER.unpack_from(data, 0))
    if header.length < HEADER_SIZE or header.length > MAX_MESSAGE_SIZE_BYTES:
        # mongod's transport layer text (session_asio / asio_session.cpp).
        raise ProtocolError(
            f"recv(): message msgLen {header.length} is invalid. "
            f"Min {HEADER_SIZE} Max: {MAX_MESSAGE_SIZE_BYTES}"
        )
    return header


def encode_header(length: int, request_id: int, response_to: int, op_code: int) -> bytes:
    return _HEADER.pack(length, request_id, response_to, op_code)


# -- BSON ------------------------------------------------------------------------------------------
def _read_document(
    data: bytes, offset: int, end: int, what: str, *, flag_bits: int | None = None
) -> tuple[Document, int]:
    """One BSON document; errors are non-fatal inside an OP_MSG (``flag_bits`` given)."""
    fatal = flag_bits is None
    more = bool((flag_bits or 0) & MORE_TO_COME)
    if offset + 4 > end:
        raise ProtocolError(
            f"{what}: truncated BSON document",
            code=22,
            code_name="InvalidBSON",
            fatal=fatal,
            more_to_come=more,
        )
    size = _INT32.unpack_from(data, offset)[0]
    if size > MAX_BSON_INTERNAL_SIZE:
        raise ProtocolError(
            f"BSONObj size: {size} (0x{size:X}) is invalid. "
            f"Size must be between 0 and {MAX_BSON_INTERNAL_SIZE}(16MB)",
            code=10334,
            code_name="BSONObjectTooLarge",
            fatal=fatal,
            more_to_come=more,
        )
    if size < 5 or offset + size > end:
        raise ProtocolError(
            f"{what}: invalid BSON document length {size}",
            code=22,
            code_name="InvalidBSON",
            fatal=fatal,
            more_to_come=more,
        )
    try:
        doc = bson.decode(data[offset : offset + size], CODEC_OPTIONS)
    except (BSONError, ValueError, TypeError, OverflowError) as exc:
        raise ProtocolError(
            f"{what}: invalid BSON: {exc}", code=22, code_name="InvalidBSON", fatal=fatal, more_to_come=more
        ) from exc
    return doc, offset + size


def _read_cstring(data: bytes, offset: int, end: int, what: str) -> tuple[str, int]:
    nul = data.find(b"\x00", offset, end)
    if nul < 0:
        raise ProtocolError(f"{what}: unterminated string")
    try:
        return data[offset:nul].decode("utf-8"), nul + 1
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what}: string is not UTF-8") from exc


def encode_document(doc: Document) -> bytes:
    return bson.encode(doc, codec_options=CODEC_OPTIONS)


def decode_document(data: bytes) -> Document:
    return bson.decode(data, CODEC_OPTIONS)


# -- messages --------------------------------------------------------------------------------------
def parse_message(header: Header, body: bytes) -> Request:
    """Decode one message (``body`` is everything after the header)."""
    if len(body) != header.length - HEADER_SIZE:
        raise ProtocolError("message body length does not match the header")
    if header.op_code == OP_MSG:
        return _parse_op_msg(header, body)
    if header.op_code == OP_QUERY:
        return _parse_op_query(header, body)
    if header.op_code == OP_COMPRESSED:
        # The kit never offers a compressor in hello, so a conforming client never sends this.
        raise ProtocolError("OP_COMPRESSED received but no compressor was negotiated")
    raise ProtocolError(f"unsupported opCode {header.op_code}; this server speaks OP_MSG and OP_QUERY")


def _parse_op_msg(header: Header, body: bytes) -> Request:
    if len(body) < 4:
        raise ProtocolError("OP_MSG is too short to contain its flagBits")
    flag_bits = _UINT32.unpack_from(body, 0)[0]
    unknown_required = flag_bits & 0xFFFF & ~_KNOWN_REQUIRED_BITS
    if unknown_required:
        # mongod: IllegalOpMsgFlag, a connection-fatal parse error (op_msg.cpp).
        raise ProtocolError(
            f"Message contains illegal flags value: Ob{flag_bits:032b}",
            code=223,
            code_name="IllegalOpMsgFlag",
        )
    end = len(body)
    if flag_bits & CHECKSUM_PRESENT:
        if end < 4 + 4:
            raise ProtocolError("OP_MSG with checksumPresent is too short for its checksum")
        end -= 4
        expected = _UINT32.unpack_from(body, end)[0]
        actual = crc32c(encode_header(*_header_tuple(header)) + body[:end])
        if expected != actual:
            raise ProtocolError(
                "OP_MSG checksum does not match contents", code=288, code_name="ChecksumMismatch"
            )
    offset = 4
    command: Document | None = None
    sequences: dict[str, list[Document]] = {}
    while offset < end:
        kind = body[offset]
        offset += 1
        if kind == 0:
            if command is not None:
                raise _malformed("Multiple body sections in message", 40430, flag_bits)
            command, offset = _read_document(body, offset, end, "OP_MSG body", flag_bits=flag_bits)
        elif kind == 1:
            if offset + 4 > end:
                raise _malformed("OP_MSG document sequence is truncated", 17, flag_bits)
            size = _INT32.unpack_from(body, offset)[0]
            seq_end = offset + size
            if size < 5 or seq_end > end:
                raise _malformed("OP_MSG document sequence has an invalid size", 17, flag_bits)
            ident, pos = _read_cstring(body, offset + 4, seq_end, "OP_MSG document sequence")
            if ident in sequences:
                raise _malformed(f"Duplicate document sequence: {ident}", 40431, flag_bits)
            docs = []
            while pos < seq_end:
                doc, pos = _read_document(
                    body, pos, seq_end, f"OP_MSG document sequence {ident!r}", flag_bits=flag_bits
                )
                docs.append(doc)
            sequences[ident] = docs
            offset = seq_end
        else:
            raise _malformed(f"Unknown section kind {kind}", 40432, flag_bits)
    if command is None:
        raise _malformed("OP_MSG messages must have a body", 40587, flag_bits)
    for ident, docs in sequences.items():
        if ident in command:
            raise _malformed(f"Duplicate field between body and document sequence {ident}", 40433, flag_bits)
        command[ident] = docs
    return Request(header=header, body=command, flag_bits=flag_bits, sequences=sequences)


def _header_tuple(header: Header) -> tuple[int, int, int, int]:
    return (header.length, header.request_id, header.response_to, header.op_code)


def _parse_op_query(header: Header, body: bytes) -> Request:
    end = len(body)
    if end < 4:
        raise ProtocolError("OP_QUERY is too short")
    flags = _INT32.unpack_from(body, 0)[0]
    namespace, offset = _read_cstring(body, 4, end, "OP_QUERY fullCollectionName")
    if offset + 8 > end:
        raise ProtocolError("OP_QUERY is truncated after fullCollectionName")
    offset += 8  # numberToSkip, numberToReturn: meaningless for a command
    query, offset = _read_document(body, offset, end, "OP_QUERY query")
    if offset < end:
        _, offset = _read_document(body, offset, end, "OP_QUERY returnFieldsSelector")
    if offset != end:
        raise ProtocolError("OP_QUERY has trailing bytes")
    # Old drivers wrap the command as {$query: {...}, $readPreference: ...}.
    if "$query" in query and isinstance(query["$query"], dict):
        query = dict(query["$query"])
    return Request(header=header, body=query, legacy=True, namespace=namespace, flag_bits=flags)


def encode_op_msg(doc: Document, request_id: int, response_to: int, *, flag_bits: int = 0) -> bytes:
    """An OP_MSG with one kind-0 section (mongod's reply shape: flagBits 0)."""
    payload = _UINT32.pack(flag_bits) + b"\x00" + encode_document(doc)
    if flag_bits & CHECKSUM_PRESENT:
        head = encode_header(HEADER_SIZE + len(payload) + 4, request_id, response_to, OP_MSG)
        return head + payload + _UINT32.pack(crc32c(head + payload))
    return encode_header(HEADER_SIZE + len(payload), request_id, response_to, OP_MSG) + payload


def encode_op_msg_with_sequences(
    doc: Document,
    sequences: dict[str, list[Document]],
    request_id: int,
    *,
    flag_bits: int = 0,
) -> bytes:
    """A client-style OP_MSG: kind-0 body plus kind-1 sequences (tests and tools use it)."""
    parts = [_UINT32.pack(flag_bits & ~CHECKSUM_PRESENT), b"\x00", encode_document(doc)]
    for ident, docs in sequences.items():
        chunk = ident.encode() + b"\x00" + b"".join(encode_document(d) for d in docs)
        parts += [b"\x01", _INT32.pack(len(chunk) + 4), chunk]
    payload = b"".join(parts)
    if flag_bits & CHECKSUM_PRESENT:
        payload = _UINT32.pack(flag_bits) + payload[4:]
        head = encode_header(HEADER_SIZE + len(payload) + 4, request_id, 0, OP_MSG)
        return head + payload + _UINT32.pack(crc32c(head + payload))
    return encode_header(HEADER_SIZE + len(payload), request_id, 0, OP_MSG) + payload


def encode_op_reply(
    doc: Document, request_id: int, response_to: int, *, flags: int = REPLY_AWAIT_CAPABLE
) -> bytes:
    """OP_REPLY with one document, cursorID 0, startingFrom 0, numberReturned 1."""
    payload = _OP_REPLY_PREFIX.pack(flags, 0, 0, 1) + encode_document(doc)
    return encode_header(HEADER_SIZE + len(payload), request_id, response_to, OP_REPLY) + payload


def encode_op_query(doc: Document, request_id: int, namespace: str = "admin.$cmd") -> bytes:
    """A legacy command request as the Node driver sends its handshake (numberToReturn -1)."""
    payload = _INT32.pack(0) + namespace.encode() + b"\x00" + _INT32.pack(0) + _INT32.pack(-1)
    payload += encode_document(doc)
    return encode_header(HEADER_SIZE + len(payload), request_id, 0, OP_QUERY) + payload


def parse_reply(data: bytes) -> tuple[Header, Document]:
    """Decode a server reply (OP_MSG or OP_REPLY) — for tests and the benchmark's raw clients."""
    header = parse_header(data)
    body = data[HEADER_SIZE : header.length]
    if header.op_code == OP_REPLY:
        doc, _ = _read_document(body, _OP_REPLY_PREFIX.size, len(body), "OP_REPLY")
        return header, doc
    if header.op_code == OP_MSG:
        return header, _parse_op_msg(header, body).body
    raise ProtocolError(f"unexpected reply opCode {header.op_code}")


def command_name(body: Document) -> str:
    """The command is named by the body's first field (as mongod reads it)."""
    for key in body:
        return key
    raise ProtocolError("empty command document")
