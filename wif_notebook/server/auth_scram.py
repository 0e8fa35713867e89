"""SCRAM-SHA-256 (RFC 5802 / RFC 7677) on the server side, as mongod speaks it.

For users stored with ``credentials."SCRAM-SHA-256"`` (``iterationCount``, ``salt``, ``storedKey``,
``serverKey``, base64) in the authorization store — the kit's administrator first of all. The
server never sees the password: it checks the client proof against ``storedKey`` and proves itself
with ``serverKey``. With ``options.skipEmptyExchange`` (pymongo, Node) the conversation ends on the
client-final step; without it an extra empty exchange finishes it, as mongod does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

from .auth_base import AuthFailure, StepResult
from .registry import AuthenticatedUser

MECHANISM = "SCRAM-SHA-256"
_NONCE_BYTES = 24


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _parse_attributes(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthFailure(f"BadValue: Invalid SCRAM attribute '{part[:8]}'")
        attrs.setdefault(part[0], part[2:])
    return attrs


def _decode_saslname(name: str) -> str:
    # RFC 5802: "," is sent as "=2C" and "=" as "=3D"; any other "=" is malformed.
    out, i = [], 0
    while i < len(name):
        if name[i] == "=":
            code = name[i : i + 3]
            if code == "=2C":
                out.append(",")
            elif code == "=3D":
                out.append("=")
            else:
                raise AuthFailure("BadValue: Invalid SCRAM user name encoding")
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


class ScramConversation:
    """One SCRAM-SHA-256 conversation on one connection."""

    mechanism = MECHANISM

    def __init__(self, server: Any, conn: Any, db: str, options: dict[str, Any]) -> None:
        self.server = server
        self.db = db
        self.skip_empty_exchange = bool(options.get("skipEmptyExchange"))
        self.steps = 0
        self.speculative = False
        self.principal = ""
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._credentials: dict[str, Any] = {}
        self._user: AuthenticatedUser | None = None

    def step(self, payload: bytes) -> StepResult:
        self.steps += 1
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise AuthFailure("BadValue: SCRAM message is not UTF-8", principal=self.principal) from None
        if self.steps == 1:
            return self._client_first(text)
        if self.steps == 2:
            return self._client_final(text)
        if self.steps == 3 and self._user is not None and not self.skip_empty_exchange:
            return StepResult(payload=b"", done=True, user=self._user, principal=self.principal)
        raise AuthFailure("BadValue: Unexpected SCRAM step", principal=self.principal)

    def _client_first(self, text: str) -> StepResult:
        # gs2-header: "n,," (no channel binding) or "y,,"; an authzid ("a=") is not supported.
        parts = text.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y") or parts[1] != "":
            raise AuthFailure("BadValue: Incorrect SCRAM client|server first message header or authzid")
        self._gs2_header = f"{parts[0]},,"
        self._client_first_bare = parts[2]
        attrs = _parse_attributes(self._client_first_bare)
        if "n" not in attrs or "r" not in attrs:
            raise AuthFailure("BadValue: Invalid SCRAM-SHA-256 client first message")
        name = _decode_saslname(attrs["n"])
        self.principal = name
        doc = self.server.authz.get_user(self.db, name)
        if doc is None:
            raise AuthFailure(
                f'UserNotFound: Could not find user "{name}" for db "{self.db}"', principal=name
            )
        creds = (doc.get("credentials") or {}).get(MECHANISM)
        if not isinstance(creds, dict):
            raise AuthFailure(
                f"MechanismUnavailable: Unable to use {MECHANISM} based authentication for user without any "
                f"{MECHANISM} credentials registered",
                principal=name,
            )
        self._credentials = creds
        self._nonce = attrs["r"] + _b64(secrets.token_bytes(_NONCE_BYTES))
        self._server_first = f"r={self._nonce},s={creds['salt']},i={int(creds['iterationCount'])}"
        return StepResult(payload=self._server_first.encode(), done=False, principal=name)

    def _client_final(self, text: str) -> StepResult:
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise AuthFailure("BadValue: SCRAM client final message has no proof", principal=self.principal)
        attrs = _parse_attributes(without_proof)
        if attrs.get("c") != _b64(self._gs2_header.encode()):
            raise AuthFailure(
                "BadValue: Unmatched SCRAM channel binding from client", principal=self.principal
            )
        if attrs.get("r") != self._nonce:
            raise AuthFailure(
                "BadValue: Unmatched SCRAM nonce received from client", principal=self.principal
            )
        try:
            proof = base64.b64decode(proof_b64, validate=True)
            stored_key = base64.b64decode(self._credentials["storedKey"])
            server_key = base64.b64decode(self._credentials["serverKey"])
        except (binascii.Error, ValueError, KeyError):
            raise AuthFailure(
                "BadValue: Malformed SCRAM proof or credentials", principal=self.principal
            ) from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        if len(proof) != len(client_signature):
            raise AuthFailure(
                "AuthenticationFailed: SCRAM authentication failed, storedKey mismatch",
                principal=self.principal,
            )
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise AuthFailure(
                "AuthenticationFailed: SCRAM authentication failed, storedKey mismatch",
                principal=self.principal,
            )
        server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        self._user = AuthenticatedUser(user=self.principal, db=self.db, mechanism=MECHANISM)
        final = f"v={_b64(server_signature)}".encode()
        if self.skip_empty_exchange:
            return StepResult(payload=final, done=True, user=self._user, principal=self.principal)
        return StepResult(payload=final, done=False, principal=self.principal)
