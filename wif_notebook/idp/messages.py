"""The IdP's requests and answers as values, and what every token endpoint reads from a request
(form bodies, Basic client credentials): no sockets (server.py) and no IdP state (app.py).

Its own module so that the cloud handlers which app.py reaches through the registry (entra.py,
google.py, ...) can import it when they load, instead of importing app.py inside each function: an
import statement on a token request costs about a microsecond.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1, token answers


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: str  # "ip:port"
    loopback: bool
    tls: bool = False  # arrived over TLS: issuer endpoints answer in the https form


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # For the request log (never a token or a secret).
    log: dict[str, Any] = field(default_factory=dict)


# One encoder for every answer: json.dumps with arguments builds a new encoder per call.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def json_response(status: int, doc: Any, *, headers: dict[str, str] | None = None, **log: Any) -> Response:
    body = COMPACT_JSON.encode(doc).encode()
    return Response(status, body, "application/json", dict(headers or {}), dict(log))


def text_response(
    status: int,
    text: str,
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: dict[str, str] | None = None,
    **log: Any,
) -> Response:
    return Response(status, text.encode(), content_type, dict(headers or {}), dict(log))


class OAuthError(Exception):
    """An RFC 6749 §5.2 error response."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


def _form_part(text: str) -> str:
    return unquote_plus(text) if "%" in text or "+" in text else text


def parse_form(text: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs as ``parse_qsl(text, keep_blank_values=True,
    strict_parsing=True)`` reads them (blank values kept; a field without '=', an empty one
    included, is ValueError "bad query field"), without its generic argument handling and with
    no unquoting of parts that have nothing to unquote: every token request parses one."""
    pairs = []
    if text:
        for part in text.split("&"):
            name, eq, value = part.partition("=")
            if not eq:
                raise ValueError(f"bad query field: {part!r}")
            pairs.append((_form_part(name), _form_part(value)))
    return pairs


class NotBasic(ValueError):
    """An Authorization header of another scheme than Basic."""

    def __init__(self, scheme: str) -> None:
        super().__init__(f"the Authorization scheme is {scheme!r}, not Basic")
        self.scheme = scheme


def basic_credentials(req: Request) -> tuple[str, str] | None:
    """(client_id, client_secret) from ``Authorization: Basic …`` (client_secret_basic, RFC 6749
    §2.3.1), None without the header; NotBasic for another scheme, ValueError (in plain words) for
    Basic credentials that do not decode. Each token endpoint answers these in its own error shape."""
    header = req.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise NotBasic(scheme)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(
            "the Basic Authorization header is not valid base64 of client_id:client_secret"
        ) from exc
    if ":" not in decoded:
        raise ValueError("the Basic credentials need the form client_id:client_secret")
    client_id, _, secret = decoded.partition(":")
    # Both parts are form-urlencoded before they are joined.
    return unquote_plus(client_id), unquote_plus(secret)
