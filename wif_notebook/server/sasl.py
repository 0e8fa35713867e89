"""saslStart / saslContinue and speculative authentication, for every mechanism (reference §3, §4).

The mechanisms themselves (``auth_oidc``, ``auth_scram``) are conversations with one method,
``step(payload) -> StepResult``. This module owns what mongod's ``sasl_commands.cpp`` owns: the
mechanism lookup (not masked), ``conversationId`` 1, payloads as BinData or base64 strings (the reply
uses the request's form), masking every mechanism failure as 18 "Authentication failed." with the
real reason in the log (ids 20249/20250), and the one-user-per-connection rules of re-authentication.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from .auth_base import AuthFailure, StepResult
from .auth_oidc import OidcConversation
from .auth_scram import ScramConversation
from .log import ID_AUTH_FAILED, ID_AUTH_SUCCEEDED, ID_REAUTH_SAME_USER
from .registry import AuthenticatedUser, CommandContext, CommandError, Document, command

OIDC = "MONGODB-OIDC"
SCRAM_SHA_256 = "SCRAM-SHA-256"
AUTH_FAILED = "Authentication failed."


class Conversation(Protocol):
    mechanism: str
    principal: str
    speculative: bool

    def step(self, payload: bytes) -> StepResult: ...


_CONVERSATIONS: dict[str, Callable[[Any, Any, str, Document], Conversation]] = {
    OIDC: OidcConversation,
    SCRAM_SHA_256: ScramConversation,
}


# -- payloads --------------------------------------------------------------------------------------
def _decode_payload(value: Any) -> tuple[bytes, bool]:
    """(bytes, sent_as_string). mongod accepts BinData or a base64 string (SaslPayload)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), False
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True), True
        except (binascii.Error, ValueError) as exc:
            raise CommandError(2, f"Invalid base64 in SASL payload: {exc}") from exc
    if value is None:
        return b"", False
    raise CommandError(14, "SASL payload must be BinData or a base64 string", "TypeMismatch")


def _encode_payload(data: bytes, as_string: bool) -> Any:
    return base64.b64encode(data).decode() if as_string else data


# -- commands --------------------------------------------------------------------------------------
@command("saslStart", requires_auth=False)
def sasl_start(ctx: CommandContext, cmd: Document) -> Document:
    return _start(ctx, cmd, speculative=False)


@command("saslContinue", requires_auth=False)
def sasl_continue(ctx: CommandContext, cmd: Document) -> Document:
    conn = ctx.conn
    if cmd.get("conversationId") != 1:
        raise CommandError(17, "sasl: Mismatched conversation id", "ProtocolError")
    conversation = conn.sasl
    if conversation is None:
        raise CommandError(17, "No SASL session state found", "ProtocolError")
    payload, as_string = _decode_payload(cmd.get("payload"))
    return _step(ctx, conversation, payload, as_string, speculative=conversation.speculative)


def _start(ctx: CommandContext, cmd: Document, *, speculative: bool) -> Document:
    mechanism = cmd.get("mechanism")
    if not isinstance(mechanism, str):
        raise CommandError(
            40414, "BSON field 'saslStart.mechanism' is missing but a required field", "Location40414"
        )
    enabled = ctx.config.authentication_mechanisms
    if mechanism not in _CONVERSATIONS or mechanism not in enabled:
        # Mechanism lookup happens before any step and is not masked (text UNCONFIRMED for 7.0.11).
        raise CommandError(
            334,
            f"Received authentication for mechanism {mechanism} which is not enabled",
            "MechanismUnavailable",
        )
    payload, as_string = _decode_payload(cmd.get("payload"))
    raw_options = cmd.get("options")
    options: Document = raw_options if isinstance(raw_options, dict) else {}
    ctx.conn.sasl = None
    conversation = _CONVERSATIONS[mechanism](ctx.server, ctx.conn, ctx.db, options)
    # mongod reports a conversation begun inside hello as speculative until it ends.
    conversation.speculative = speculative
    return _step(ctx, conversation, payload, as_string, speculative=speculative)


def _step(
    ctx: CommandContext, conversation: Any, payload: bytes, as_string: bool, *, speculative: bool
) -> Document:
    conn = ctx.conn
    try:
        result: StepResult = conversation.step(payload)
        if result.done:
            assert result.user is not None
            _add_user(ctx, result.user)
    except AuthFailure as failure:
        conn.sasl = None
        _log_failure(ctx, conversation, failure, speculative)
        raise CommandError(18, AUTH_FAILED, "AuthenticationFailed") from None
    if result.done:
        conn.sasl = None
        _log_success(ctx, conversation, result, speculative)
    else:
        conn.sasl = conversation
    return {"conversationId": 1, "done": result.done, "payload": _encode_payload(result.payload, as_string)}


def _add_user(ctx: CommandContext, user: AuthenticatedUser) -> None:
    """mongod 6.0+: one user per connection; re-authentication only as that same user."""
    users = ctx.conn.users
    for i, existing in enumerate(users):
        same = existing.user == user.user and existing.db == user.db
        if same:
            if not existing.expired:
                ctx.server.log.warning(
                    "ACCESS",
                    ID_REAUTH_SAME_USER,
                    "Client has attempted to reauthenticate as a single user",
                    {"user": {"user": user.user, "db": user.db}},
                    ctx=ctx.conn.ctx,
                )
            users[i] = user
            return
        if existing.expired:
            raise AuthFailure(
                "Location7070100: Only same user is permitted to re-auth to an expired session. "
                f"Expired user: {existing.user}@{existing.db}, new user: {user.user}@{user.db}",
                principal=user.user,
            )
        raise AuthFailure(
            "Location5626701: Each client connection may only be authenticated as a single user. "
            f"Already authenticated as {existing.user}@{existing.db}",
            principal=user.user,
        )
    users.append(user)


def _log_success(ctx: CommandContext, conversation: Any, result: StepResult, speculative: bool) -> None:
    ctx.server.log.info(
        "ACCESS",
        ID_AUTH_SUCCEEDED,
        "Authentication succeeded",
        {
            "mechanism": conversation.mechanism,
            "speculative": speculative,
            "principalName": result.principal,
            "authenticationDatabase": ctx.db,
            "remote": ctx.conn.remote,
            "extraInfo": result.extra_info,
        },
        ctx=ctx.conn.ctx,
    )


def _log_failure(ctx: CommandContext, conversation: Any, failure: AuthFailure, speculative: bool) -> None:
    ctx.server.log.info(
        "ACCESS",
        ID_AUTH_FAILED,
        "Authentication failed",
        {
            "mechanism": conversation.mechanism,
            "speculative": speculative,
            "principalName": failure.principal or conversation.principal,
            "authenticationDatabase": ctx.db,
            "remote": ctx.conn.remote,
            "extraInfo": {},
            "error": failure.reason,
        },
        ctx=ctx.conn.ctx,
    )


# -- inside hello ----------------------------------------------------------------------------------
def speculative_authenticate(ctx: CommandContext, request: Document) -> Document | None:
    """Run ``speculativeAuthenticate`` from a hello; None (field omitted) on any failure (§4)."""
    db = request.get("db")
    if not isinstance(db, str) or "saslStart" not in request:
        return None  # no "db" → mongod ignores the request; only SASL mechanisms speculate here
    spec_ctx = dataclasses.replace(ctx, db=db, command_name="saslStart")
    try:
        reply = _start(spec_ctx, request, speculative=True)
    except CommandError:
        return None
    return reply


def supported_mechanisms(ctx: CommandContext, user_ref: str) -> list[str] | None:
    """hello's ``saslSupportedMechs`` for "<db>.<user>": the user's SCRAM mechanisms (never OIDC)."""
    db, _, name = user_ref.partition(".")
    doc = ctx.authz.get_user(db, name) if ctx.authz is not None else None
    if doc is None:
        return None
    creds = doc.get("credentials") or {}
    enabled = ctx.config.authentication_mechanisms
    return [m for m in sorted(creds) if m.startswith("SCRAM-") and m in enabled]
