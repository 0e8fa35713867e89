"""User and role management commands of the test mongod, answered as mongod answers them.

createUser, updateUser, dropUser, usersInfo, grantRolesToUser, revokeRolesFromUser, createRole,
updateRole, dropRole, grantRolesToRole, revokeRolesFromRole, grantPrivilegesToRole,
revokePrivilegesFromRole, rolesInfo and connectionStatus. Validation order, error codes and messages
follow mongod's user_management_commands.cpp. Each handler is a plain function over
``ctx.authz`` (the ``AuthzStore``), ``ctx.db`` and ``ctx.users``; the command's parse
(``_management_parser``, as mongod's typed commands parse) and the privilege check have already run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from bson.binary import Binary

from .authz import (
    KNOWN_ACTIONS,
    AuthzStore,
    builtin_role_names,
    connection_status,
    is_builtin_role,
    names_asked,
    new_user_document,
    scram_sha256_credentials,
    user_mechanisms,
)
from .idl import missing_field, wrong_type
from .privileges import (
    CREATE_ROLE,
    CREATE_USER,
    GRANT_ROLES,
    NO_AUTH,
    REVOKE_ROLES,
    ROLES_INFO,
    UPDATE_ROLE,
    UPDATE_USER,
    USERS_INFO,
    on_database,
)
from .registry import CommandContext, CommandError, Document, Parser, command

OK: Document = {"ok": 1.0}
EXTERNAL_PWD = "Cannot set the password for users defined on the '$external' database"


def _subject(ctx: CommandContext, cmd: Document) -> tuple[AuthzStore, str, str]:
    """The store, the database and the user or role a management command names (its first field,
    a string: ``_management_parser`` checked it)."""
    name: str = cmd[ctx.command_name]
    return ctx.authz, ctx.db, name


def _management_parser(command_name: str, *required: str) -> Parser:
    """mongod's parse of a user or role management command (a TypedCommand of
    user_management_commands.idl, parsed before its privileges are checked): its own value a name,
    the fields it requires present (in the IDL's order), ``roles`` a list of role names and
    ``privileges`` a list of privilege documents, each with a resource and actions. What the names
    and actions mean (an existing role, a known action) is checked when the command runs."""

    def parse(cmd: Document) -> None:
        name = cmd.get(command_name)
        if not isinstance(name, str):
            raise wrong_type(f"{command_name}.{command_name}", name, "string")
        for field in required:
            if field not in cmd:
                raise missing_field(f"{command_name}.{field}")
        if "roles" in cmd:
            _role_list(cmd["roles"], "", command_name)
        if "privileges" in cmd:
            _privilege_shapes(cmd["privileges"], command_name)

    return parse


def _role_list(value: Any, db: str, command_name: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise wrong_type(f"{command_name}.roles", value, "array")
    out: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, str):
            ref = (item, db)
        elif isinstance(item, dict) and isinstance(item.get("role"), str) and isinstance(item.get("db"), str):
            ref = (item["role"], item["db"])
        else:
            raise CommandError(2, "Role names must be either strings or objects", "BadValue")
        if ref not in out:
            out.append(ref)
    return out


def _require_roles_exist(store: AuthzStore, roles: list[tuple[str, str]]) -> None:
    unknown = [f"{r}@{d}" for r, d in roles if not store.role_exists(r, d)]
    if unknown:
        # Text from mongod's rolesExist (memory of 7.0 shells: "Could not find role: x@db"); UNCONFIRMED
        # for the plural form.
        plural = "s" if len(unknown) > 1 else ""
        raise CommandError(31, f"Could not find role{plural}: {', '.join(unknown)}", "RoleNotFound")


def _roles_to_change(cmd: Document, db: str, command_name: str) -> list[tuple[str, str]]:
    """The non-empty ``roles`` of a grantRolesTo*/revokeRolesFrom* command (required: parsed)."""
    roles = _role_list(cmd["roles"], db, command_name)
    if not roles:
        raise CommandError(2, f'{command_name} command requires a non-empty "roles" array', "BadValue")
    return roles


def _granted_or_revoked(
    current: list[tuple[str, str]], roles: list[tuple[str, str]], grant: bool
) -> list[Document]:
    """A user's or role's ``roles`` after a grant (appended, no repeats) or a revoke (removed)."""
    if grant:
        current = current + [r for r in roles if r not in current]
    else:
        current = [r for r in current if r not in roles]
    return _refs_to_docs(current)


def _refs_to_docs(roles: list[tuple[str, str]]) -> list[Document]:
    return [{"role": r, "db": d} for r, d in roles]


def _doc_refs(doc: Document) -> list[tuple[str, str]]:
    return [(str(r["role"]), str(r["db"])) for r in doc.get("roles", [])]


def _names_asked(value: Any, db: str, key: str, errmsg: str) -> list[tuple[str, str]]:
    """The (name, db) pairs a usersInfo/rolesInfo asks for; anything else is refused with ``errmsg``."""
    refs = names_asked(value, db, key)
    if refs is None:
        raise CommandError(2, errmsg, "BadValue")
    return refs


def _user_not_found(name: str, db: str) -> CommandError:
    return CommandError(11, f'Could not find user "{name}" for db "{db}"', "UserNotFound")


# -- users -----------------------------------------------------------------------------------------
@command("createUser", privileges=CREATE_USER, parse=_management_parser("createUser", "roles"))
def create_user(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    if db == "local":
        raise CommandError(2, "Cannot create users in the local database", "BadValue")
    if "\0" in name:
        raise CommandError(2, "Username cannot contain NULL characters", "BadValue")
    external = db == "$external"
    pwd = cmd.get("pwd")
    if pwd is None and not external:
        raise CommandError(
            2,
            "Must provide a 'pwd' field for all user documents, except those with '$external' as "
            "the user's source db",
            "BadValue",
        )
    if pwd is not None and external:
        raise CommandError(2, EXTERNAL_PWD, "BadValue")
    mechanisms = cmd.get("mechanisms")
    if mechanisms is not None:
        if not mechanisms:
            raise CommandError(2, "mechanisms field must not be empty", "BadValue")
        for mech in mechanisms:
            if mech not in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
                raise CommandError(2, f"Unknown auth mechanism '{mech}'", "BadValue")
            if mech == "SCRAM-SHA-1":
                raise CommandError(2, f"{mech} not supported in authMechanisms", "BadValue")
    roles = _role_list(cmd["roles"], db, "createUser")
    custom = cmd.get("customData")
    if custom is not None and not isinstance(custom, dict):
        raise CommandError(2, '"customData" field must be an object', "BadValue")
    _require_roles_exist(store, roles)
    doc = new_user_document(
        name, db, _refs_to_docs(roles), password=str(pwd) if pwd is not None else None, custom_data=custom
    )
    store.insert_user(doc)
    return dict(OK)


@command("updateUser", privileges=UPDATE_USER, parse=_management_parser("updateUser"))
def update_user(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    if cmd.get("mechanisms") is not None and not cmd.get("mechanisms"):
        raise CommandError(2, "mechanisms field must not be empty", "BadValue")
    has_update = any(k in cmd for k in ("pwd", "customData", "roles", "authenticationRestrictions"))
    if "pwd" in cmd and db == "$external":
        raise CommandError(2, EXTERNAL_PWD, "BadValue")
    if not has_update:
        raise CommandError(2, "Must specify at least one field to update in updateUser", "BadValue")
    roles = _role_list(cmd["roles"], db, "updateUser") if "roles" in cmd else None
    if roles is not None:
        _require_roles_exist(store, roles)
    doc = store.get_user(db, name)
    if doc is None:
        raise CommandError(11, f"User {name}@{db} not found", "UserNotFound")
    if "pwd" in cmd:
        doc["credentials"] = {"SCRAM-SHA-256": scram_sha256_credentials(str(cmd["pwd"]))}
    if "customData" in cmd:
        doc["customData"] = cmd["customData"]
    if roles is not None:
        doc["roles"] = _refs_to_docs(roles)
    store.replace_user(doc)
    return dict(OK)


@command("dropUser", privileges=on_database("dropUser"), parse=_management_parser("dropUser"))
def drop_user(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    if not store.remove_user(db, name):
        raise CommandError(11, f"User '{name}@{db}' not found", "UserNotFound")
    return dict(OK)


# Finds the user or role whose ``roles`` a grant/revoke changes, after mongod's checks for that kind:
# (store, name, db, roles, grant) -> its document.
_RoleHolder = Callable[[AuthzStore, str, str, list[tuple[str, str]], bool], Document]


def _change_roles(
    ctx: CommandContext,
    cmd: Document,
    holder: _RoleHolder,
    save: Callable[[AuthzStore, Document], None],
    *,
    grant: bool,
) -> Document:
    """grantRolesTo*/revokeRolesFrom*: parse the name and roles, let ``holder`` check and find the
    document, then store its roles granted or revoked."""
    store, db, name = _subject(ctx, cmd)
    roles = _roles_to_change(cmd, db, ctx.command_name)
    doc = holder(store, name, db, roles, grant)
    doc["roles"] = _granted_or_revoked(_doc_refs(doc), roles, grant)
    save(store, doc)
    return dict(OK)


def _user_holding(
    store: AuthzStore, name: str, db: str, roles: list[tuple[str, str]], grant: bool
) -> Document:
    """The user must exist before its roles are looked at (for a grant and a revoke alike)."""
    doc = store.get_user(db, name)
    if doc is None:
        raise _user_not_found(name, db)
    _require_roles_exist(store, roles)
    return doc


@command("grantRolesToUser", privileges=GRANT_ROLES, parse=_management_parser("grantRolesToUser", "roles"))
def grant_roles_to_user(ctx: CommandContext, cmd: Document) -> Document:
    return _change_roles(ctx, cmd, _user_holding, AuthzStore.replace_user, grant=True)


@command(
    "revokeRolesFromUser", privileges=REVOKE_ROLES, parse=_management_parser("revokeRolesFromUser", "roles")
)
def revoke_roles_from_user(ctx: CommandContext, cmd: Document) -> Document:
    return _change_roles(ctx, cmd, _user_holding, AuthzStore.replace_user, grant=False)


def _user_info(store: AuthzStore, doc: Document, cmd: Document) -> Document:
    out: Document = {
        "_id": doc["_id"],
        "userId": Binary(uuid.UUID(str(doc["userId"])).bytes, 4) if doc.get("userId") else None,
        "user": doc["user"],
        "db": doc["db"],
    }
    if out["userId"] is None:
        del out["userId"]
    if cmd.get("showCredentials"):
        out["credentials"] = doc.get("credentials", {})
    if cmd.get("showCustomData", True) and "customData" in doc:
        out["customData"] = doc["customData"]
    out["roles"] = [dict(r) for r in doc.get("roles", [])]
    if cmd.get("showPrivileges"):
        direct = _doc_refs(doc)
        out["inheritedRoles"] = [{"role": r, "db": d} for r, d in store.expand_roles(direct)]
        out["inheritedPrivileges"] = store.privileges_of(direct)
    out["mechanisms"] = user_mechanisms(doc)
    return out


@command("usersInfo", privileges=USERS_INFO)
def users_info(ctx: CommandContext, cmd: Document) -> Document:
    store: AuthzStore = ctx.authz
    db = ctx.db
    value = cmd.get("usersInfo")
    docs: list[Document]
    if isinstance(value, dict) and value.get("forAllDBs"):
        docs = store.users()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        docs = store.users(db)
    else:
        refs = _names_asked(
            value, db, "user", "User name must be either a string or an object with user and db fields"
        )
        docs = [found for name, udb in refs if (found := store.get_user(udb, name)) is not None]
    return {"users": [_user_info(store, d, cmd) for d in docs], "ok": 1.0}


# -- roles -----------------------------------------------------------------------------------------
def _privilege_shapes(value: Any, command_name: str) -> list[Document]:
    """``privileges`` as IDL parses it: a list of documents, each with a resource and actions."""
    if not isinstance(value, list):
        raise wrong_type(f"{command_name}.privileges", value, "array")
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("resource"), dict):
            raise missing_field("privilege.resource")
        if not isinstance(item.get("actions"), list):
            raise missing_field("privilege.actions")
    return value


def _parse_privileges(value: Any, command_name: str) -> list[Document]:
    """Parsed privileges (``_privilege_shapes``) resolved: resource patterns checked, actions known,
    privileges on one resource merged."""
    privileges: list[Document] = []
    unknown: list[str] = []
    for item in _privilege_shapes(value, command_name):
        resource = item["resource"]
        if resource.get("cluster") is True:
            res: Document = {"cluster": True}
        elif resource.get("anyResource") is True:
            res = {"anyResource": True}
        elif isinstance(resource.get("db"), str) and isinstance(resource.get("collection"), str):
            res = {"db": resource["db"], "collection": resource["collection"]}
        else:
            raise CommandError(
                2,
                "resource pattern must contain 'db' and 'collection' fields, or 'cluster' or 'anyResource'",
                "BadValue",
            )  # UNCONFIRMED wording
        actions = [str(a) for a in item["actions"]]
        unknown += [a for a in actions if a not in KNOWN_ACTIONS and a not in unknown]
        merged = next((p for p in privileges if p["resource"] == res), None)
        if merged is None:
            privileges.append({"resource": res, "actions": sorted(set(actions))})
        else:
            merged["actions"] = sorted(set(merged["actions"]) | set(actions))
    if unknown:
        listed = ",".join(f" '{a}'" for a in sorted(unknown))
        raise CommandError(
            2, f"Unknown action type{'s' if len(unknown) > 1 else ''} in privilege set:{listed}"
        )
    return privileges


def _check_privileges_target(role: str, db: str, privileges: list[Document]) -> None:
    if db == "admin":
        return
    for p in privileges:
        res = p["resource"]
        if res.get("db") == db:
            continue
        raise CommandError(
            80,
            f"Roles on the '{db}' database cannot be granted privileges that target other databases or "
            "the cluster",
            "InvalidRoleModification",
        )


def _check_grant_roles_to_role(store: AuthzStore, role: str, db: str, roles: list[tuple[str, str]]) -> None:
    for r, d in roles:
        if (r, d) == (role, db):
            raise CommandError(80, f"Cannot grant role {role}@{db} to itself.", "InvalidRoleModification")
        if db != "admin" and d != db:
            raise CommandError(
                80,
                f"Roles on the '{db}' database cannot be granted roles from other databases",
                "InvalidRoleModification",
            )
    try:
        _require_roles_exist(store, roles)
    except CommandError as exc:
        raise CommandError(
            exc.code, f"Cannot grant roles to '{role}@{db}': {exc.errmsg}", exc.code_name
        ) from None
    if store.would_cycle(role, db, roles):
        raise CommandError(
            80,
            f"Granting roles to {role}@{db} would introduce a cycle in the role graph",
            "InvalidRoleModification",
        )


def _refuse_builtin(role: str, db: str) -> None:
    if is_builtin_role(role, db):
        raise CommandError(2, f"{role}@{db} is a built-in role and cannot be modified", "BadValue")


@command("createRole", privileges=CREATE_ROLE, parse=_management_parser("createRole", "privileges", "roles"))
def create_role(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    if not name:
        raise CommandError(2, "Role name must be non-empty", "BadValue")
    if db == "local":
        raise CommandError(2, "Cannot create roles in the local database", "BadValue")
    if db == "$external":
        raise CommandError(2, "Cannot create roles in the $external database", "BadValue")
    if is_builtin_role(name, db):
        raise CommandError(2, "Cannot create roles with the same name as a built-in role", "BadValue")
    privileges = _parse_privileges(cmd["privileges"], "createRole")
    roles = _role_list(cmd["roles"], db, "createRole")
    _check_grant_roles_to_role(store, name, db, roles)
    _check_privileges_target(name, db, privileges)
    store.insert_role(
        {
            "_id": f"{db}.{name}",
            "role": name,
            "db": db,
            "privileges": privileges,
            "roles": _refs_to_docs(roles),
        }
    )
    return dict(OK)


def _existing_role(store: AuthzStore, role: str, db: str) -> Document:
    doc = store.get_role(db, role)
    if doc is None:
        raise CommandError(31, f"Could not find role: {role}@{db}", "RoleNotFound")
    return doc


@command("updateRole", privileges=UPDATE_ROLE, parse=_management_parser("updateRole"))
def update_role(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    if not any(k in cmd for k in ("roles", "privileges", "authenticationRestrictions")):
        raise CommandError(2, "Must specify at least one field to update in updateRole", "BadValue")
    privileges = _parse_privileges(cmd["privileges"], "updateRole") if "privileges" in cmd else None
    roles = _role_list(cmd["roles"], db, "updateRole") if "roles" in cmd else None
    _refuse_builtin(name, db)
    doc = _existing_role(store, name, db)
    if roles is not None:
        _check_grant_roles_to_role(store, name, db, roles)
        doc["roles"] = _refs_to_docs(roles)
    if privileges is not None:
        _check_privileges_target(name, db, privileges)
        doc["privileges"] = privileges
    store.replace_role(doc)
    return dict(OK)


@command("dropRole", privileges=on_database("dropRole"), parse=_management_parser("dropRole"))
def drop_role(ctx: CommandContext, cmd: Document) -> Document:
    store, db, name = _subject(ctx, cmd)
    _refuse_builtin(name, db)
    _existing_role(store, name, db)
    store.remove_role(db, name)
    return dict(OK)


def _role_holding(
    store: AuthzStore, name: str, db: str, roles: list[tuple[str, str]], grant: bool
) -> Document:
    """A built-in role is refused first; a grant then checks the granted roles (database, cycles,
    existence); the role itself must exist."""
    _refuse_builtin(name, db)
    if grant:
        _check_grant_roles_to_role(store, name, db, roles)
    return _existing_role(store, name, db)


@command("grantRolesToRole", privileges=GRANT_ROLES, parse=_management_parser("grantRolesToRole", "roles"))
def grant_roles_to_role(ctx: CommandContext, cmd: Document) -> Document:
    return _change_roles(ctx, cmd, _role_holding, AuthzStore.replace_role, grant=True)


@command(
    "revokeRolesFromRole", privileges=REVOKE_ROLES, parse=_management_parser("revokeRolesFromRole", "roles")
)
def revoke_roles_from_role(ctx: CommandContext, cmd: Document) -> Document:
    return _change_roles(ctx, cmd, _role_holding, AuthzStore.replace_role, grant=False)


def _change_role_privileges(ctx: CommandContext, cmd: Document, grant: bool) -> Document:
    store, db, name = _subject(ctx, cmd)
    command_name = ctx.command_name
    privileges = _parse_privileges(cmd["privileges"], command_name)
    if not privileges:
        raise CommandError(2, f'{command_name} command requires a non-empty "privileges" array', "BadValue")
    _refuse_builtin(name, db)
    if grant:
        _check_privileges_target(name, db, privileges)
    doc = _existing_role(store, name, db)
    current: list[Document] = [dict(p) for p in doc.get("privileges", [])]
    for change in privileges:
        match = next((p for p in current if p["resource"] == change["resource"]), None)
        if grant:
            if match is None:
                current.append(change)
            else:
                match["actions"] = sorted(set(match["actions"]) | set(change["actions"]))
        elif match is not None:
            match["actions"] = sorted(set(match["actions"]) - set(change["actions"]))
            if not match["actions"]:
                current.remove(match)
    doc["privileges"] = current
    store.replace_role(doc)
    return dict(OK)


@command(
    "grantPrivilegesToRole",
    privileges=on_database("grantRole"),
    parse=_management_parser("grantPrivilegesToRole", "privileges"),
)
def grant_privileges_to_role(ctx: CommandContext, cmd: Document) -> Document:
    return _change_role_privileges(ctx, cmd, grant=True)


@command(
    "revokePrivilegesFromRole",
    privileges=on_database("revokeRole"),
    parse=_management_parser("revokePrivilegesFromRole", "privileges"),
)
def revoke_privileges_from_role(ctx: CommandContext, cmd: Document) -> Document:
    return _change_role_privileges(ctx, cmd, grant=False)


def _role_info(store: AuthzStore, role: str, db: str, cmd: Document) -> Document | None:
    definition = store.role_definition(role, db)
    if definition is None:
        return None
    privileges, parents = definition
    builtin = is_builtin_role(role, db)
    out: Document = {}
    if not builtin:
        out["_id"] = f"{db}.{role}"
    out.update({"role": role, "db": db, "isBuiltin": builtin})
    out["roles"] = [{"role": r, "db": d} for r, d in parents]
    out["inheritedRoles"] = [{"role": r, "db": d} for r, d in store.expand_roles(parents)]
    show = cmd.get("showPrivileges")
    if show:
        out["privileges"] = [dict(p) for p in privileges]
        out["inheritedPrivileges"] = store.privileges_of([(role, db)])
    return out


@command("rolesInfo", privileges=ROLES_INFO)
def roles_info(ctx: CommandContext, cmd: Document) -> Document:
    store: AuthzStore = ctx.authz
    db = ctx.db
    value = cmd.get("rolesInfo")
    refs: list[tuple[str, str]] = []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if cmd.get("showBuiltinRoles"):
            refs += [(r, db) for r in builtin_role_names(db)]
        refs += [(d["role"], d["db"]) for d in store.roles(db)]
    else:
        refs = _names_asked(value, db, "role", "Role names must be either strings or objects")
    roles = [info for r, d in refs if (info := _role_info(store, r, d, cmd)) is not None]
    return {"roles": roles, "ok": 1.0}


# -- connectionStatus ------------------------------------------------------------------------------
@command("connectionStatus", privileges=NO_AUTH)
def connection_status_command(ctx: CommandContext, cmd: Document) -> Document:
    show = bool(cmd.get("showPrivileges"))
    return {"authInfo": connection_status(ctx.authz, ctx.users, show_privileges=show), "ok": 1.0}
