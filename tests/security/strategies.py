"""Hypothesis strategies for hostile wire input, shared by the seeded suite and the long fuzz run."""

from __future__ import annotations

import struct
from typing import Any

import bson
from hypothesis import strategies as st

from wif_notebook.server import wire

_KEYS = st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)

bson_values: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=6,
)

# Command names the server knows (and a few it does not), for well-framed but hostile commands.
COMMAND_NAMES = [
    "hello",
    "isMaster",
    "ping",
    "buildInfo",
    "saslStart",
    "saslContinue",
    "find",
    "getMore",
    "insert",
    "update",
    "delete",
    "aggregate",
    "count",
    "killCursors",
    "endSessions",
    "connectionStatus",
    "listCollections",
    "create",
    "serverStatus",
    "usersInfo",
    "rolesInfo",
    "whatsmyuri",
    "noSuchCommand",
    "",
]


@st.composite
def command_documents(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(COMMAND_NAMES))
    doc: dict[str, Any] = {name: draw(bson_values)} if name else {}
    extra = draw(st.dictionaries(_KEYS, bson_values, max_size=3))
    for key, value in extra.items():
        doc.setdefault(key, value)
    if draw(st.booleans()):
        doc["$db"] = draw(st.sampled_from(["admin", "$external", "test", "", "a.b"]) | st.text(max_size=8))
    if name == "saslStart" and draw(st.booleans()):
        doc["mechanism"] = draw(st.sampled_from(["MONGODB-OIDC", "SCRAM-SHA-256", "PLAIN"]))
        doc["payload"] = bson.encode({"jwt": draw(st.text(max_size=50))})
    return doc


def _encode(doc: dict[str, Any]) -> bytes | None:
    try:
        return bson.encode(doc)
    except Exception:  # bson refuses some drawn values (e.g. keys); such documents are skipped
        return None


@st.composite
def well_framed_messages(draw: st.DrawFn) -> bytes:
    """An OP_MSG or OP_QUERY whose header is consistent, carrying a hostile command."""
    doc = draw(command_documents())
    encoded = _encode(doc) or b"\x05\x00\x00\x00\x00"
    request_id = draw(st.integers(min_value=-(2**31), max_value=2**31 - 1))
    if draw(st.integers(0, 4)) == 0:
        payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + encoded
        return wire.encode_header(16 + len(payload), request_id, 0, wire.OP_QUERY) + payload
    flags = draw(st.sampled_from([0, wire.MORE_TO_COME, wire.EXHAUST_ALLOWED, wire.CHECKSUM_PRESENT]))
    sections = b"\x00" + encoded
    if draw(st.booleans()):
        ident = draw(st.sampled_from([b"documents", b"updates", b"deletes", b"x"]))
        docs = b"".join(
            _encode(d) or b""
            for d in draw(st.lists(st.dictionaries(_KEYS, _SCALARS, max_size=3), max_size=3))
        )
        chunk = ident + b"\x00" + docs
        sections += b"\x01" + struct.pack("<i", len(chunk) + 4) + chunk
    payload = struct.pack("<I", flags) + sections
    if flags & wire.CHECKSUM_PRESENT:
        head = wire.encode_header(16 + len(payload) + 4, request_id, 0, wire.OP_MSG)
        good = draw(st.booleans())
        crc = wire.crc32c(head + payload) if good else draw(st.integers(0, 2**32 - 1))
        return head + payload + struct.pack("<I", crc)
    return wire.encode_header(16 + len(payload), request_id, 0, wire.OP_MSG) + payload


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    """A well-framed message, then damaged: truncated, bytes flipped, bytes inserted, length forged."""
    data = bytearray(draw(well_framed_messages()))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "length", "opcode"]))
        if how == "truncate" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif how == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= draw(st.integers(1, 255))
        elif how == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif how == "length" and len(data) >= 4:
            forged = draw(
                st.sampled_from([0, 15, 16, 17, -1, 2**31 - 1, wire.MAX_MESSAGE_SIZE_BYTES + 1])
                | st.integers(-(2**31), 2**31 - 1)
            )
            data[0:4] = struct.pack("<i", forged)
        elif how == "opcode" and len(data) >= 16:
            data[12:16] = struct.pack("<i", draw(st.sampled_from([1, 2001, 2004, 2012, 2013, 0, -1])))
    return bytes(data)


hostile_bytes: st.SearchStrategy[bytes] = (
    st.binary(max_size=300) | well_framed_messages() | mutated_messages()
)
