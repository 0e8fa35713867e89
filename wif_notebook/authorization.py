"""Authorization through the kit's administrator: ``authorize`` maps a token's group to a role
(``createRole "<prefix>/<group>"``) or creates a workload's ``$external`` user, with the roles and
privileges given as ``ROLE@DB`` and ``DB[.COLL]:ACTIONS``; ``admin_client`` is that administrator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

from . import display
from .driver_errors import explain_error
from .errors import ConfigError
from .providers import configured_providers, require_provider
from .state import StateDir

if TYPE_CHECKING:
    from .oidc import ProviderConfig


def admin_client(
    state: StateDir, *, timeout_ms: int = 5_000, app_name: str | None = None
) -> MongoClient[Any]:
    """A SCRAM-SHA-256 client as the kit's administrator (``stack.administrator_uri``), logged in;
    ``app_name``: the appName its connections announce (mongod's log names it).

    It logs in here, not at its first command, so that a refused login is explained as the
    administrator's password refused (code 18 here is never a token), wherever the client is used.
    """
    from .server.authz import ADMIN_FILE
    from .stack import administrator_uri

    uri = administrator_uri(state)
    client: MongoClient[Any] = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        appName=app_name,  # None: pymongo's default (no application name)
    )
    try:
        client.admin.command("ping")  # pymongo authenticates the connection before any command
    except PyMongoError as exc:
        client.close()
        raise explain_error(exc, kit=True, admin_credentials=state.path / ADMIN_FILE) from exc
    return client


def parse_role(text: str, default_db: str = "admin") -> dict[str, str]:
    """``read@test`` → ``{"role": "read", "db": "test"}`` (``db`` defaults to admin)."""
    role, _, db = text.strip().partition("@")
    if not role:
        raise ConfigError(f"empty role in {text!r}", hint="write roles as ROLE@DB, e.g. readWrite@test")
    return {"role": role, "db": db or default_db}


def parse_privilege(text: str) -> dict[str, Any]:
    """``test.orders:find,insert`` → a privilege document; ``test:find`` = every collection of test,
    ``cluster:listDatabases`` = the cluster resource."""
    target, sep, actions = text.strip().partition(":")
    names = [a.strip() for a in actions.split(",") if a.strip()]
    if not sep or not target or not names:
        raise ConfigError(
            f"cannot read the privilege {text!r}",
            hint="write privileges as DB[.COLLECTION]:ACTION[,ACTION], e.g. test.orders:find,insert",
        )
    if target == "cluster":
        return {"resource": {"cluster": True}, "actions": names}
    db, _, coll = target.partition(".")
    return {"resource": {"db": db, "collection": coll}, "actions": names}


@dataclass
class Authorization:
    """What ``authorize`` created or updated, and the equivalent mongosh command."""

    kind: str  # "role" | "user"
    name: str
    db: str
    roles: list[dict[str, Any]]
    privileges: list[dict[str, Any]]
    created: bool
    command: str
    notes: list[str] = field(default_factory=list)

    def _panel(self) -> display.Panel:
        verb = "created" if self.created else "updated"
        rows: list[tuple[str, Any]] = [
            (self.kind, f"{self.name}@{self.db} ({verb})"),
            ("inherits", ", ".join(f"{r['role']}@{r['db']}" for r in self.roles) or "—"),
        ]
        if self.kind == "role":
            rows.append(("privileges", self.privileges or "—"))
        rows.append(("mongosh", self.command))
        return display.Panel(f"Authorized {self.name}", rows, notes=self.notes, tone="ok")

    def __str__(self) -> str:
        return str(self._panel())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._panel()._repr_mimebundle_()


def authorize(
    state: StateDir,
    *,
    group: str | None = None,
    user: str | None = None,
    principal: str | None = None,
    prefix: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    privileges: list[str] | tuple[str, ...] = (),
) -> Authorization:
    """Map a group to a role (``createRole "<prefix>/<group>"`` in admin), or create the ``$external``
    user ``<prefix>/<principal>`` — with the given inherited roles (``ROLE@DB``) and privileges."""
    chosen = [x for x in (group, user, principal) if x]
    if len(chosen) != 1:
        raise ConfigError(
            "say what to authorize: exactly one of --group, --user or --principal",
            hint="e.g. %wif_authorize --group lesson-readers --role read@test",
        )
    role_refs = [parse_role(r) for r in roles]
    privilege_docs = [parse_privilege(p) for p in privileges]
    if not role_refs and not privilege_docs:
        raise ConfigError(
            "no role or privilege to grant", hint="add --role ROLE@DB and/or --privilege DB.COLL:ACTIONS"
        )
    if group:
        grantee = _group_role(state, group, prefix or "kit")
    else:
        grantee = _external_user(state, user, principal, prefix)
        if privilege_docs:
            raise ConfigError(
                "a user gets privileges through roles", hint="use --role ROLE@DB (create a role with --group)"
            )
    created, command = _create_or_update(state, grantee, role_refs, privilege_docs)
    return Authorization(
        grantee.kind, grantee.name, grantee.db, role_refs, privilege_docs, created, command, grantee.notes
    )


@dataclass
class _Grantee:
    """The role (for a group) or ``$external`` user (for one workload) that receives the grant."""

    kind: str  # "role" | "user"
    name: str
    db: str
    notes: list[str] = field(default_factory=list)


def _group_role(state: StateDir, group: str, prefix: str) -> _Grantee:
    """The role ``<prefix>/<group value>`` a token's groups claim names, in admin."""
    from .clouds import for_issuer
    from .oidc import auth_name

    provider = require_provider(configured_providers(state), prefix)
    if not provider.use_authorization_claim:
        raise ConfigError(
            f"the '{prefix}' provider has useAuthorizationClaim: false, so groups give no roles",
            hint=f"create its $external user instead: %wif_authorize --principal NAME --role ROLE@DB "
            f"(or --user {prefix}/<principal>)",
        )
    cloud = for_issuer(prefix)  # the kit's authNamePrefix is its issuer's id
    value = cloud.group_ids.get(group, group) if cloud else group
    notes = [f"{cloud.group_ids_words}: {group} is {value}."] if cloud and value != group else []
    return _Grantee("role", auth_name(prefix, value), "admin", notes)


def _external_user(state: StateDir, user: str | None, principal: str | None, prefix: str | None) -> _Grantee:
    """The ``$external`` user ``<prefix>/<principal name>`` for a kit principal, or the user named."""
    from .oidc import auth_name, user_name

    providers = configured_providers(state)
    if principal:
        from .idp.principals import find

        prefix = prefix or find(state, principal).issuer_id
        provider = require_provider(providers, prefix)
        name = user_name(provider, token_principal(state, principal, provider)[0])
    else:
        assert user is not None
        if "/" not in user and prefix is None:
            raise ConfigError(
                f"the user {user!r} has no provider prefix: an $external user of MONGODB-OIDC is named "
                "<authNamePrefix>/<principal>",
                hint=f"write --user PREFIX/{user} (prefixes: "
                + ", ".join(p.auth_name_prefix for p in providers)
                + "), or add --prefix PREFIX, or name a kit principal with --principal",
            )
        name = user if "/" in user else auth_name(prefix or "", user)
        provider = require_provider(providers, name.split("/", 1)[0])
    notes = []
    if provider.use_authorization_claim:
        notes.append(
            f"The '{provider.auth_name_prefix}' provider takes roles from the token's "
            f"'{provider.authorization_claim}' claim: this user document is not consulted at login."
        )
    return _Grantee("user", name, "$external", notes)


def token_principal(state: StateDir, principal: str, provider: ProviderConfig) -> tuple[str, dict[str, Any]]:
    """The principal mongod reads from the token the IdP issues ``principal`` for ``provider``'s
    audience (the rule book's ``check_principal``), and that token's claims; a ConfigError with the
    server's reason when mongod would refuse the token for its principal claim."""
    from .idp.service import good_claims
    from .oidc import RuleFailure, check_principal

    claims = good_claims(state, principal, audience=provider.audience)
    try:
        return check_principal(claims, provider), claims
    except RuleFailure as failure:
        raise ConfigError(
            f"mongod refuses {principal}'s token for the '{provider.auth_name_prefix}' provider: "
            f"{failure.message}",
            hint=f"{failure.hint} (%wif_mongod set {provider.auth_name_prefix} principalName=CLAIM)",
        ) from failure


def _create_or_update(
    state: StateDir, grantee: _Grantee, role_refs: list[dict[str, str]], privilege_docs: list[dict[str, Any]]
) -> tuple[bool, str]:
    """Create the role or user (update it when it exists); whether it was created, and the mongosh form."""
    name = grantee.name
    if grantee.kind == "role":
        verbs, exists = ("createRole", "updateRole"), 51002  # RoleAlreadyExists
        fields: dict[str, Any] = {"privileges": privilege_docs, "roles": role_refs}
    else:
        verbs, exists = ("createUser", "updateUser"), 51003  # UserAlreadyExists
        fields = {"roles": role_refs}
    client = admin_client(state)
    try:
        target = client[grantee.db]
        try:
            target.command(verbs[0], name, **fields)
            created = True
        except OperationFailure as exc:
            if exc.code != exists:
                raise
            target.command(verbs[1], name, **fields)
            created = False
    except PyMongoError as exc:
        raise explain_error(exc, kit=True) from exc
    finally:
        client.close()
    return created, _mongosh(grantee, verbs[0] if created else verbs[1], fields)


def _mongosh(grantee: _Grantee, verb: str, fields: dict[str, Any]) -> str:
    """The mongosh command that does what was done (JSON values: mongosh reads true, not True)."""
    import json

    if verb.startswith("create"):
        key = "role" if grantee.kind == "role" else "user"
        body = json.dumps({key: grantee.name, **fields})
        return f"db.getSiblingDB({json.dumps(grantee.db)}).{verb}({body})"
    return (
        f"db.getSiblingDB({json.dumps(grantee.db)}).{verb}({json.dumps(grantee.name)}, {json.dumps(fields)})"
    )
