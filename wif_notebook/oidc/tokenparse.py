"""Parsing a compact JWS the way mongod does, before any key is involved.

These are the ``format``, ``header.*`` and ``body.*`` rules: the shape checks the server's IDL
parsers (``JWSHeader``, ``JWT``) apply. Failures carry mongod's log text
(``<CodeName>: <reason>``); codes without a name print as ``Location<code>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64

from .rules import RuleFailure

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
# What mongod names a field that takes any number.
NUMBER_TYPES = "[long, int, decimal, double]"


# mongod's type names (``typeName``) by Python type, first match wins: a bool is an int to Python,
# so it comes first; an Int64 (what the server's BSON decoder gives an int64) is a long.
_BSON_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "bool"),
    (Int64, "long"),
    (float, "double"),
    (Decimal128, "decimal"),
    (str, "string"),
    ((list, tuple), "array"),
    (Mapping, "object"),
)


def bson_type_name(value: Any) -> str:
    """The BSON type name mongod uses in its messages for a value: a decoded command field or a
    JSON value (token claims, configuration)."""
    if isinstance(value, int) and not isinstance(value, (bool, Int64)):
        # A JSON number is stored as an int32 when it fits, else as an int64 (a decoded int32 fits).
        return "int" if -(2**31) <= value < 2**31 else "long"
    return next((name for kind, name in _BSON_TYPE_NAMES if isinstance(value, kind)), type(value).__name__)


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url (RFC 7515 §2); raises ValueError on characters outside the alphabet."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url (allowed: A-Z a-z 0-9 - _, no padding)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the regex catches these first
        raise ValueError(str(exc)) from exc


@dataclass(frozen=True)
class ParsedToken:
    """The three parts of a compact JWS, decoded but not verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    parts: tuple[str, str, str]


def split_token(token: str) -> tuple[str, str, str]:
    """Exactly two dots, as mongod's parser requires."""
    parts = token.strip().split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        # 7.0 text; newer servers say "Missing JWS delimiter" / "Too many delimiters in JWS token".
        raise RuleFailure("format", "Location7095400: Unknown format of token")
    return parts[0], parts[1], parts[2]


def _json_part(text: str, what: str) -> dict[str, Any]:
    # Exact wording of mongod's base64/JSON failures is not confirmed; the code names are.
    try:
        raw = b64url_decode(text)
    except ValueError as exc:
        raise RuleFailure("format", f"FailedToParse: the JWT {what} is not valid base64url: {exc}") from exc
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RuleFailure("format", f"FailedToParse: the JWT {what} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RuleFailure("format", f"FailedToParse: Expecting '{{': the JWT {what} must be a JSON object")
    return doc


def parse_compact(token: str) -> ParsedToken:
    """Split and decode; raises RuleFailure("format") when the token is not a compact JWS."""
    head, body, sig = split_token(token)
    header = _json_part(head, "header")
    claims = _json_part(body, "payload")
    try:
        signature = b64url_decode(sig)
    except ValueError as exc:
        raise RuleFailure(
            "format", f"FailedToParse: the JWT signature is not valid base64url: {exc}"
        ) from exc
    return ParsedToken(header, claims, f"{head}.{body}".encode("ascii"), signature, (head, body, sig))


def missing_field_text(field: str) -> str:
    """``BSON field 'JWT.aud' is missing but a required field`` (``field`` is the dotted path)."""
    return f"BSON field '{field}' is missing but a required field"


def unknown_field_text(field: str) -> str:
    """``BSON field 'IDPConfiguration.authorisationClaim' is an unknown field.`` (a strict struct)."""
    return f"BSON field '{field}' is an unknown field."


def wrong_type_text(field: str, value: Any, expected: str) -> str:
    """``BSON field 'JWT.exp' is the wrong type 'string', expected types '[long, int, decimal, double]'``.

    ``field`` is the dotted path; ``expected`` a type name or mongod's bracketed list of them, which
    it introduces as "types" rather than "type". The test server's command parsers say the same.
    """
    noun = "types" if expected.startswith("[") else "type"
    return f"BSON field '{field}' is the wrong type '{bson_type_name(value)}', expected {noun} '{expected}'"


def _missing(struct: str, name: str) -> str:
    return f"IDLFailedToParse: {missing_field_text(f'{struct}.{name}')}"


def _wrong_type(struct: str, name: str, value: Any, expected: str) -> str:
    return f"TypeMismatch: {wrong_type_text(f'{struct}.{name}', value, expected)}"


def _required_string(doc: Mapping[str, Any], struct: str, name: str, rule: str) -> str:
    if name not in doc:
        raise RuleFailure(rule, _missing(struct, name))
    value = doc[name]
    if not isinstance(value, str):
        raise RuleFailure(rule, _wrong_type(struct, name, value, "string"))
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_header_alg(header: Mapping[str, Any]) -> str:
    return _required_string(header, "JWSHeader", "alg", "header.alg")


def check_header_kid(header: Mapping[str, Any]) -> str:
    return _required_string(header, "JWSHeader", "kid", "header.kid")


def check_header_typ(header: Mapping[str, Any]) -> str | None:
    if "typ" not in header:
        return None
    typ = header["typ"]
    if not isinstance(typ, str):
        raise RuleFailure("header.typ", _wrong_type("JWSHeader", "typ", typ, "string"))
    if typ != "JWT":
        raise RuleFailure("header.typ", "Location7095401: Unknown type of token")
    return typ


def check_body_iss(claims: Mapping[str, Any]) -> str:
    return _required_string(claims, "JWT", "iss", "body.iss")


def check_body_sub(claims: Mapping[str, Any]) -> str:
    return _required_string(claims, "JWT", "sub", "body.sub")


def check_body_aud(claims: Mapping[str, Any]) -> list[str]:
    """``aud`` as a list (a single string becomes a one-element list)."""
    if "aud" not in claims:
        raise RuleFailure("body.aud", _missing("JWT", "aud"))
    aud = claims["aud"]
    if isinstance(aud, str):
        return [aud]
    if not isinstance(aud, list):
        raise RuleFailure("body.aud", _wrong_type("JWT", "aud", aud, "[string, array]"))
    for i, item in enumerate(aud):
        if not isinstance(item, str):
            raise RuleFailure("body.aud", _wrong_type("JWT", f"aud.{i}", item, "string"))
    return list(aud)


def check_body_exp(claims: Mapping[str, Any]) -> float:
    if "exp" not in claims:
        raise RuleFailure("body.exp", _missing("JWT", "exp"))
    exp = claims["exp"]
    if not is_number(exp):
        raise RuleFailure("body.exp", _wrong_type("JWT", "exp", exp, NUMBER_TYPES))
    return float(exp)


def check_body_nbf(claims: Mapping[str, Any]) -> float | None:
    """``nbf`` is optional; when present it must be a number (reported under ``time.nbf``)."""
    if "nbf" not in claims:
        return None
    nbf = claims["nbf"]
    if not is_number(nbf):
        raise RuleFailure("time.nbf", _wrong_type("JWT", "nbf", nbf, NUMBER_TYPES))
    return float(nbf)


def check_body(claims: Mapping[str, Any]) -> None:
    """All ``JWT`` IDL checks, in field order."""
    check_body_iss(claims)
    check_body_sub(claims)
    check_body_aud(claims)
    check_body_exp(claims)
    check_body_nbf(claims)


def peek_issuer_and_audience(token: str) -> tuple[str, str]:
    """Unverified ``iss`` and the single ``aud``: how the server picks an IdP for a one-step login."""
    parsed = parse_compact(token)
    check_body(parsed.claims)
    auds = check_body_aud(parsed.claims)
    if len(auds) != 1:
        raise RuleFailure("audience", "BadValue: OIDC token must contain exactly one audience")
    return check_body_iss(parsed.claims), auds[0]
