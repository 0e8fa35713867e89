"""Command handlers and the context they run in (a contract inside the server package).

A handler is a plain function ``(ctx, cmd) -> reply document`` registered under its command name(s).
It raises ``CommandError`` for a mongod error reply. The connection loop owns decoding, the 391
expiry and authentication checks, the command's parse, the privilege check (``authz``) and the
failpoint check before a handler runs. Each registration declares the command's privileges next to
the handler (an undeclared one is refused) and, for a command mongod parses before it checks
privileges, the parser that does it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Document = dict[str, Any]


class CommandError(Exception):
    """A mongod error reply: ``{ok: 0, errmsg, code, codeName}`` (+ errorLabels, extra fields)."""

    def __init__(
        self,
        code: int,
        errmsg: str,
        code_name: str | None = None,
        *,
        labels: list[str] | None = None,
        extra: Document | None = None,
    ) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.code_name = code_name or CODE_NAMES.get(code, "UnknownError")
        self.labels = labels or []
        self.extra = extra or {}

    def to_reply(self) -> Document:
        reply: Document = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code, "codeName": self.code_name}
        if self.labels:
            reply["errorLabels"] = list(self.labels)
        reply.update(self.extra)
        return reply


# mongod's error code names (src/mongo/base/error_codes.yml) for the codes the kit answers with.
CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    6: "HostUnreachable",
    8: "UnknownError",
    9: "FailedToParse",
    11: "UserNotFound",
    13: "Unauthorized",
    14: "TypeMismatch",
    17: "ProtocolError",
    18: "AuthenticationFailed",
    20: "IllegalOperation",
    26: "NamespaceNotFound",
    31: "RoleNotFound",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    51: "DuplicateKey",
    59: "CommandNotFound",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    85: "IndexOptionsConflict",
    91: "ShutdownInProgress",
    96: "OperationFailed",
    115: "CommandNotSupported",
    166: "CommandNotSupportedOnView",
    262: "ExceededTimeLimit",
    391: "ReauthenticationRequired",
    10334: "BSONObjectTooLarge",
    11000: "DuplicateKey",
    40573: "Location40573",
    51024: "Location51024",
}


@dataclass
class AuthenticatedUser:
    """One user logged in on a connection (mongod allows one per database)."""

    user: str  # e.g. "kit/billing-api" or "admin"
    db: str  # "$external" for MONGODB-OIDC, "admin" for the SCRAM administrator
    mechanism: str  # "MONGODB-OIDC" or "SCRAM-SHA-256"
    roles: list[tuple[str, str]] = field(default_factory=list)  # (role, db) granted by the token/user doc
    expires_at: float | None = None  # the token's exp: after it, commands fail with 391
    issuer: str | None = None
    kid: str | None = None
    key_fingerprint: str | None = None
    claims: Document = field(default_factory=dict)
    expired: bool = False


Handler = Callable[[Any, Document], Document]
# mongod's Command::parse for one command: raises its parse error (``CommandError``), returns nothing.
Parser = Callable[[Document], None]
# (db, command document) -> the authz.Requirement list mongod checks for that command.
PrivilegeRule = Callable[[str, Document], list[Any]]


@dataclass(frozen=True)
class Privileges:
    """What a command needs, declared where it is registered (``server/privileges.py`` builds them)."""

    requires_auth: bool  # mongod's requiresAuth(): false only for handshake, login and test commands
    rule: PrivilegeRule
    summary: str  # in words, for docs and error hints ("find on the collection")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    privileges: Privileges | None  # None: registered without a declaration, refused to everyone
    admin_only: bool  # must run on the admin database (mongod's adminOnly())
    test_only: bool  # only with enableTestCommands
    # What mongod's Command::parse checks (an IDL-typed command parses its whole request there):
    # run once the user is authenticated, before the privilege check, so a malformed command gets
    # its parse error even from a user who may not run it. None: mongod parses the command in its
    # run(), after the privilege check (a BasicCommand, or find in 7.0), and so does the handler.
    parse: Parser | None = None

    @property
    def requires_auth(self) -> bool:
        return self.privileges is None or self.privileges.requires_auth


COMMANDS: dict[str, CommandSpec] = {}


def command(
    *names: str,
    privileges: Privileges | None = None,
    admin_only: bool = False,
    test_only: bool = False,
    parse: Parser | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` under each name (first is canonical). Names match case-insensitively
    where mongod does (``isMaster``/``ismaster``); register each spelling a client may send.

    ``privileges`` declares what the command needs (``server.privileges``); leaving it out does not
    mean "allowed": ``authz.check_privileges`` refuses an undeclared command to every user.
    ``parse`` is what mongod checks before the privileges (``CommandSpec.parse``); the handler then
    gets a command that parsed."""

    def deco(handler: Handler) -> Handler:
        for n in names:
            COMMANDS[n] = CommandSpec(names[0], handler, privileges, admin_only, test_only, parse)
        return handler

    return deco


def lookup(name: str) -> CommandSpec | None:
    spec = COMMANDS.get(name)
    if spec is None:
        spec = COMMANDS.get(name.lower())
    return spec


@dataclass
class CommandContext:
    """What a handler sees. ``server`` and ``conn`` are the server package's own state objects;
    the fields below are the stable part other modules (authz, data commands) rely on."""

    server: Any  # the running server's state (config, authz store, failpoints, key caches, log)
    conn: Any  # the connection's state (id, client metadata, appName)
    db: str  # the command's $db
    command_name: str  # canonical name
    users: list[AuthenticatedUser]  # users authenticated on this connection
    authz: Any  # wif_notebook.server.authz.AuthzStore
    config: Any  # wif_notebook.mongod.MongodConfig
