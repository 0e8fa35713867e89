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
import time
from collections.abc import Callable
from typing import Any, Protocol

from .auth_base import AuthFailure, StepResult
from .auth_oidc import OidcConversation
from .auth_scram import ScramConversation
from .idl import missing_field
from .log import ID_AUTH_FAILED, ID_AUTH_SUCCEEDED, ID_FAILED_TO_AUTHENTICATE, ID_REAUTH_SAME_USER
from .privileges import NO_AUTH
from .registry import AuthenticatedUser, CommandContext, CommandError, Document, command

OIDC = "MONGODB-OIDC"
EXTERNAL = "$external"
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
@command("saslStart", privileges=NO_AUTH)
def sasl_start(ctx: CommandContext, cmd: Document) -> Document:
    return _start(ctx, cmd, speculative=False)


@command("saslContinue", privileges=NO_AUTH)
def sasl_continue(ctx: CommandContext, cmd: Document) -> Document:
    conn = ctx.conn
    if cmd.get("conversationId") != 1:
        raise CommandError(17, "sasl: Mismatched conversation id", "ProtocolError")
    conversation = conn.sasl
    if conversation is None:
        raise CommandError(17, "No SASL session state found", "ProtocolError")
    if "payload" not in cmd:
        raise missing_field("saslContinue.payload")
    payload, as_string = _decode_payload(cmd.get("payload"))
    return _step(ctx, conversation, payload, as_string, speculative=conversation.speculative)


def _start(ctx: CommandContext, cmd: Document, *, speculative: bool) -> Document:
    mechanism = cmd.get("mechanism")
    if not isinstance(mechanism, str):
        raise missing_field("saslStart.mechanism")
    # mongod registers only the enabled mechanisms, MONGODB-OIDC for $external and SCRAM for the
    # other databases; the lookup fails before any step, so this error is not masked.
    if not _mechanism_available(ctx, mechanism):
        raise CommandError(
            2, f"Unsupported mechanism '{mechanism}' on authentication database '{ctx.db}'", "BadValue"
        )
    if "payload" not in cmd:
        raise missing_field("saslStart.payload")
    payload, as_string = _decode_payload(cmd.get("payload"))
    raw_options = cmd.get("options")
    options: Document = raw_options if isinstance(raw_options, dict) else {}
    ctx.conn.sasl = None
    conversation = _CONVERSATIONS[mechanism](ctx.server, ctx.conn, ctx.db, options)
    # mongod reports a conversation begun inside hello as speculative until it ends.
    conversation.speculative = speculative
    return _step(ctx, conversation, payload, as_string, speculative=speculative)


def _mechanism_available(ctx: CommandContext, mechanism: str) -> bool:
    if mechanism not in _CONVERSATIONS or mechanism not in ctx.config.authentication_mechanisms:
        return False
    return (mechanism == OIDC) == (ctx.db == EXTERNAL)


def _step(
    ctx: CommandContext, conversation: Any, payload: bytes, as_string: bool, *, speculative: bool
) -> Document:
    conn = ctx.conn
    try:
        result: StepResult = conversation.step(payload)
    except AuthFailure as failure:
        # Every failure inside the mechanism reaches the client as 18; the reason goes to the log.
        conn.sasl = None
        principal = failure.principal or conversation.principal
        _log_outcome(ctx, conversation, speculative, principal, {}, error=failure.reason)
        raise CommandError(18, AUTH_FAILED, "AuthenticationFailed") from None
    if not result.done:
        conn.sasl = conversation
    else:
        conn.sasl = None
        assert result.user is not None
        try:
            _add_user(ctx, result.user)
        except CommandError as exc:
            _log_session_failure(ctx, conversation, result, exc, speculative)
            raise
        _log_outcome(ctx, conversation, speculative, result.principal, result.extra_info)
    return {"conversationId": 1, "done": result.done, "payload": _encode_payload(result.payload, as_string)}


def _add_user(ctx: CommandContext, user: AuthenticatedUser) -> None:
    """mongod's addAndAuthorizeUser (authorization_session_impl.cpp): one user per connection,
    re-authentication only as that user; its errors are not masked as 18."""
    conn = ctx.conn
    name = f"{user.user}@{user.db}"
    if user.expires_at is not None and user.expires_at <= time.time():
        raise CommandError(7070102, "Invalid expiration time specified", "Location7070102")
    if conn.users:
        previous = conn.users[0]
        previous_name = f"{previous.user}@{previous.db}"
        if previous_name == name:
            ctx.server.log.warning(
                "ACCESS",
                ID_REAUTH_SAME_USER,
                "Client has attempted to reauthenticate as a single user",
                {"user": {"user": user.user, "db": user.db}},
                ctx=conn.ctx,
            )
            conn.users[0] = user
            return
        if previous.db != user.db:
            raise CommandError(
                5626701,
                f"Each client connection may only be authenticated once. Previously authenticated as: "
                f"{previous_name}",
                "Location5626701",
            )
        raise CommandError(
            5626702,
            f"Client has attempted to authenticate on multiple databases.Already authenticated as: "
            f"{previous_name}",
            "Location5626702",
        )
    expired = conn.expired_user
    if expired is not None and f"{expired.user}@{expired.db}" != name:
        raise CommandError(
            7070100,
            "Only same user is permitted to re-auth to an expired session. Expired user is "
            f"{expired.user}@{expired.db}",
            "Location7070100",
        )
    conn.expired_user = None
    conn.users.append(user)


def _log_session_failure(
    ctx: CommandContext, conversation: Any, result: StepResult, exc: CommandError, speculative: bool
) -> None:
    # mongod writes this at debug level 1 (authentication_session.cpp); the kit always writes it.
    ctx.server.log.log(
        "ACCESS",
        ID_FAILED_TO_AUTHENTICATE,
        "Failed to authenticate",
        {
            "client": ctx.conn.remote,
            "isSpeculative": speculative,
            "isClusterMember": False,
            "mechanism": conversation.mechanism,
            "user": result.principal,
            "db": ctx.db,
            "error": f"{exc.code_name}: {exc.errmsg}",
        },
        severity="D1",
        ctx=ctx.conn.ctx,
    )


def _log_outcome(
    ctx: CommandContext,
    conversation: Any,
    speculative: bool,
    principal: str,
    extra_info: Document,
    error: str | None = None,
) -> None:
    """mongod's "Authentication succeeded" record, or with ``error`` its "Authentication failed" one:
    the same attributes in the same order, the failure's reason last."""
    attrs: Document = {
        "mechanism": conversation.mechanism,
        "speculative": speculative,
        "principalName": principal,
        "authenticationDatabase": ctx.db,
        "remote": ctx.conn.remote,
        "extraInfo": extra_info,
    }
    if error is None:
        ctx.server.log.info("ACCESS", ID_AUTH_SUCCEEDED, "Authentication succeeded", attrs, ctx=ctx.conn.ctx)
    else:
        attrs["error"] = error
        ctx.server.log.info("ACCESS", ID_AUTH_FAILED, "Authentication failed", attrs, ctx=ctx.conn.ctx)


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
