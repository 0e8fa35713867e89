"""What each command needs, declared where the command is registered (after JupyterHub's ``@needs_scope``).

A handler module passes one of these to ``registry.command(..., privileges=...)``. A command
registered without one is refused to every user by ``authz.check_privileges``, so a forgotten
declaration fails closed instead of meaning "any authenticated user". The rules are mongod's (each
command's ``checkAuthForOperation``; the manual's "Required Access" for each command).
"""

from __future__ import annotations

from typing import Any

from .authz import Requirement, Resource
from .registry import Document, PrivilegeRule, Privileges


def _nothing(db: str, cmd: Document) -> list[Requirement]:
    return []


# mongod's requiresAuth() false: handshake, login, and test-only commands.
NO_AUTH = Privileges(requires_auth=False, rule=_nothing, summary="no authentication")
# Authenticated, no privilege: cursor commands check the cursor's owner instead; listDatabases
# answers with the databases the user may see; session commands act on the user's own sessions.
AUTHENTICATED = Privileges(requires_auth=True, rule=_nothing, summary="any authenticated user")


def on_cluster(*actions: str) -> Privileges:
    def rule(db: str, cmd: Document) -> list[Requirement]:
        return [Requirement(Resource.cluster(), actions)]

    return Privileges(True, rule, f"{', '.join(actions)} on the cluster")


def on_database(*actions: str) -> Privileges:
    def rule(db: str, cmd: Document) -> list[Requirement]:
        return [Requirement(Resource.database(db), actions)]

    return Privileges(True, rule, f"{', '.join(actions)} on the database")


def on_collection(*actions: str) -> Privileges:
    """Actions on the collection the command's first value names (``{find: "books"}``)."""

    def rule(db: str, cmd: Document) -> list[Requirement]:
        target = next(iter(cmd.values()), None) if cmd else None
        return [Requirement(Resource.namespace(db, target if isinstance(target, str) else ""), actions)]

    return Privileges(True, rule, f"{', '.join(actions)} on the collection")


def computed(rule: PrivilegeRule, summary: str) -> Privileges:
    """Requirements that depend on the command's arguments (upserts, pipeline stages, roles granted)."""
    return Privileges(True, rule, summary)


# -- rules that read the command's arguments ---------------------------------------------------------
def _collection(cmd: Document) -> str:
    target = next(iter(cmd.values()), None) if cmd else None
    return target if isinstance(target, str) else ""


def _update(db: str, cmd: Document) -> list[Requirement]:
    actions = ["update"]
    if any(isinstance(u, dict) and u.get("upsert") for u in (cmd.get("updates") or [])):
        actions.append("insert")
    return [Requirement(Resource.namespace(db, _collection(cmd)), tuple(actions))]


def _find_and_modify(db: str, cmd: Document) -> list[Requirement]:
    actions = ["find", "remove" if cmd.get("remove") else "update"]
    if cmd.get("upsert"):
        actions.append("insert")
    return [Requirement(Resource.namespace(db, _collection(cmd)), tuple(actions))]


def _stage_target(db: str, spec: Any) -> tuple[str, str]:
    if isinstance(spec, str):
        return db, spec
    if isinstance(spec, dict):
        return str(spec.get("db", db)), str(spec.get("coll", ""))
    return db, ""


def _stage_requirement(db: str, target: Any, name: str, spec: Any) -> Requirement | None:
    """What one pipeline stage adds to ``find`` on the aggregated collection."""
    if name == "$currentOp":
        return Requirement(Resource.cluster(), ("inprog",))
    if name == "$out":
        return Requirement(Resource.namespace(*_stage_target(db, spec)), ("insert", "remove"))
    if name == "$merge":
        into = spec.get("into") if isinstance(spec, dict) else spec
        return Requirement(Resource.namespace(*_stage_target(db, into)), ("insert", "update"))
    if name in ("$lookup", "$graphLookup", "$unionWith") and isinstance(spec, dict):
        other = spec.get("from") or spec.get("coll")
        return Requirement(Resource.namespace(db, other), ("find",)) if isinstance(other, str) else None
    if name in ("$collStats", "$indexStats") and isinstance(target, str):
        return Requirement(Resource.namespace(db, target), (name[1:],))
    return None


def _aggregate(db: str, cmd: Document) -> list[Requirement]:
    target = cmd.get("aggregate")
    raw = cmd.get("pipeline")
    reqs: list[Requirement] = []
    if isinstance(target, str):
        reqs.append(Requirement(Resource.namespace(db, target), ("find",)))
    for stage in raw if isinstance(raw, list) else []:
        if isinstance(stage, dict) and stage:
            name = next(iter(stage))
            req = _stage_requirement(db, target, name, stage[name])
            if req is not None:
                reqs.append(req)
    return reqs


def _role_refs(value: Any, default_db: str) -> list[tuple[str, str]]:
    refs = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            refs.append((item, default_db))
        elif isinstance(item, dict) and "role" in item:
            refs.append((str(item["role"]), str(item.get("db", default_db))))
    return refs


def _on_roles_dbs(action: str, db: str, cmd: Document) -> list[Requirement]:
    """``action`` (grantRole / revokeRole) on the database of every role the command names."""
    return [
        Requirement(Resource.database(role_db), (action,)) for _, role_db in _role_refs(cmd.get("roles"), db)
    ]


def _create_user(db: str, cmd: Document) -> list[Requirement]:
    return [Requirement(Resource.database(db), ("createUser",)), *_on_roles_dbs("grantRole", db, cmd)]


def _update_user(db: str, cmd: Document) -> list[Requirement]:
    reqs = []
    if "pwd" in cmd:
        reqs.append(Requirement(Resource.database(db), ("changePassword",)))
    if "customData" in cmd:
        reqs.append(Requirement(Resource.database(db), ("changeCustomData",)))
    if "roles" in cmd:
        reqs += _on_roles_dbs("grantRole", db, cmd) + _on_roles_dbs("revokeRole", db, cmd)
        reqs.append(Requirement(Resource.database(db), ("revokeRole",)))
    return reqs or [Requirement(Resource.database(db), ("createUser",))]


def _grant_roles(db: str, cmd: Document) -> list[Requirement]:
    return _on_roles_dbs("grantRole", db, cmd)


def _revoke_roles(db: str, cmd: Document) -> list[Requirement]:
    return _on_roles_dbs("revokeRole", db, cmd)


def _create_role(db: str, cmd: Document) -> list[Requirement]:
    return [Requirement(Resource.database(db), ("createRole",)), *_on_roles_dbs("grantRole", db, cmd)]


def _update_role(db: str, cmd: Document) -> list[Requirement]:
    return [
        Requirement(Resource.database(db), ("createRole", "dropRole")),
        *_on_roles_dbs("grantRole", db, cmd),
    ]


def _info(action: str) -> PrivilegeRule:
    """usersInfo / rolesInfo: ``action`` on every database named. Looking up only one's own user or
    roles needs no privilege in mongod; ``authz.check_privileges`` lets that case through first."""

    def rule(db: str, cmd: Document) -> list[Requirement]:
        value = next(iter(cmd.values()), None)
        dbs: set[str] = {db}
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("forAllDBs"):
                # Resource.database("") stands for "every database" (a {db: "", collection: ""} grant).
                return [Requirement(Resource.database(""), (action,))]
            if isinstance(item, dict) and "db" in item:
                dbs.add(str(item["db"]))
        return [Requirement(Resource.database(d), (action,)) for d in sorted(dbs)]

    return rule


UPDATE = computed(_update, "update on the collection (and insert for an upsert)")
FIND_AND_MODIFY = computed(_find_and_modify, "find and update/remove on the collection (insert to upsert)")
AGGREGATE = computed(_aggregate, "find on the collection, plus what each stage reads or writes")
CREATE_USER = computed(_create_user, "createUser on the database, grantRole on each role's database")
UPDATE_USER = computed(_update_user, "changePassword / changeCustomData / grantRole and revokeRole")
GRANT_ROLES = computed(_grant_roles, "grantRole on each role's database")
REVOKE_ROLES = computed(_revoke_roles, "revokeRole on each role's database")
CREATE_ROLE = computed(
    _create_role, "createRole on the database, grantRole on each inherited role's database"
)
UPDATE_ROLE = computed(_update_role, "createRole and dropRole on the database, grantRole on inherited roles")
USERS_INFO = computed(_info("viewUser"), "viewUser on each database named (none for one's own user)")
ROLES_INFO = computed(_info("viewRole"), "viewRole on each database named (none for one's own roles)")
