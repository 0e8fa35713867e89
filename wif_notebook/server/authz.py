"""Authorization for the test mongod: users, roles, privileges, and the check every command passes.

The model is mongod's (MongoDB manual, "Built-In Roles" and "Resource Document"):

- a *privilege* is a resource pattern plus actions; patterns are ``{db, collection}`` (an empty
  string means "any"), ``{cluster: true}`` and ``{anyResource: true}``;
- a *role* grants privileges and inherits other roles; built-in roles exist in every database
  (``read``, ``readWrite``, ...) or only in ``admin`` (``readAnyDatabase``, ``root``, ...);
- a *user* (``{_id: "db.user", user, db, roles, credentials?, customData?}``) holds roles;
  MONGODB-OIDC users either bring their roles in the token (``<authNamePrefix>/<group>`` in
  ``admin``, no document needed) or have a ``$external`` user document.

Users and user-defined roles live in one JSON file inside ``storage.dbPath``, written atomically
and fsynced on every change. ``check_privileges`` asks the command's registration for the privileges
it declared (``server/privileges.py``) and raises ``CommandError(13)`` with mongod's wording when one
is missing, or when the command declared none.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bson
from bson import json_util
from bson.errors import BSONError

from ..errors import StateError
from ..state import write_private
from .registry import AuthenticatedUser, CommandError, Document, lookup

STORE_FILE = "authz.json"
ADMIN_FILE = "admin.json"
ADMIN_USER = "admin"
SCRAM_SHA_256_ITERATIONS = 15000  # mongod's scramSHA256IterationCount default
SCRAM_SHA_256_SALT_BYTES = 28  # mongod: hash length (32) minus 4

# -- actions ---------------------------------------------------------------------------------------
# The action names of mongod's action_types.idl that roles in the kit can grant. An unknown action in
# createRole / grantPrivilegesToRole is refused, as mongod does.
KNOWN_ACTIONS: frozenset[str] = frozenset(
    """
    addShard analyze anyAction appendOplogNote applicationMessage authSchemaUpgrade
    bypassDocumentValidation changeCustomData changeOwnCustomData changeOwnPassword changePassword
    changeStream checkFreeMonitoringStatus
    checkMetadataConsistency cleanupOrphaned clearJumboFlag closeAllDatabases collMod collStats compact
    connPoolStats connPoolSync convertToCapped cpuProfiler createCollection createDatabase createIndex
    createRole createSearchIndexes createUser dbCheck dbHash dbStats dropAllRolesFromDatabase
    dropAllUsersFromDatabase dropCollection dropConnections dropDatabase dropIndex dropRole dropSearchIndex
    dropUser enableProfiler enableSharding find flushRouterConfig forceUUID fsync getClusterParameter
    getCmdLineOpts getDefaultRWConcern getLog getParameter getShardMap getShardVersion grantRole hostInfo
    indexStats inprog insert internal invalidateUserCache killAnyCursor killAnySession killCursors killop
    listCachedAndActiveUsers listCollections listDatabases listIndexes listSearchIndexes listSessions
    listShards logRotate moveChunk netstat oidcListKeys oidcRefreshKeys planCacheIndexFilter planCacheRead
    planCacheWrite reIndex remove removeShard renameCollection renameCollectionSameDB repairDatabase
    replSetConfigure replSetGetConfig replSetGetStatus replSetHeartbeat replSetStateChange resync revokeRole
    setAuthenticationRestriction setClusterParameter setDefaultRWConcern setFeatureCompatibilityVersion
    setFreeMonitoring setParameter shardingState shutdown splitChunk splitVector storageDetails top touch
    unlock update updateSearchIndex useUUID validate viewRole viewUser
    """.split()
)

# Resource patterns as stored in role documents.
ANY_NORMAL: Document = {"db": "", "collection": ""}
CLUSTER: Document = {"cluster": True}
ANY_RESOURCE: Document = {"anyResource": True}


def _db(db: str) -> Document:
    return {"db": db, "collection": ""}


def _ns(db: str, collection: str) -> Document:
    return {"db": db, "collection": collection}


def _priv(resource: Document, actions: Iterable[str]) -> Document:
    return {"resource": dict(resource), "actions": sorted(set(actions))}


# Action lists from the MongoDB manual's built-in roles page (7.0), for the actions the kit serves.
READ_ACTIONS = (
    "changeStream collStats dbHash dbStats find killCursors listCollections listIndexes listSearchIndexes"
).split()
READ_WRITE_ACTIONS = (
    READ_ACTIONS
    + (
        "convertToCapped createCollection createIndex createSearchIndexes dropCollection dropIndex "
        "dropSearchIndex insert remove renameCollectionSameDB update updateSearchIndex"
    ).split()
)
DB_ADMIN_ACTIONS = (
    "bypassDocumentValidation collMod collStats compact convertToCapped createCollection createIndex "
    "dbStats dropCollection dropDatabase dropIndex enableProfiler listCollections listIndexes "
    "listSearchIndexes planCacheIndexFilter planCacheRead planCacheWrite reIndex renameCollectionSameDB "
    "storageDetails validate"
).split()
DB_ADMIN_PROFILE_ACTIONS = (
    "changeStream collStats convertToCapped createCollection dbHash dbStats dropCollection find "
    "killCursors listCollections listIndexes listSearchIndexes planCacheRead"
).split()
USER_ADMIN_ACTIONS = (
    "changeCustomData changePassword createRole createUser dropRole dropUser grantRole revokeRole "
    "setAuthenticationRestriction viewRole viewUser"
).split()
CLUSTER_MONITOR_CLUSTER_ACTIONS = (
    "checkFreeMonitoringStatus connPoolStats getCmdLineOpts getDefaultRWConcern getLog getParameter "
    "getShardMap hostInfo inprog listDatabases listSessions listShards netstat replSetGetConfig "
    "replSetGetStatus serverStatus setFreeMonitoring shardingState top getClusterParameter "
    "checkMetadataConsistency oidcListKeys"
).split()
HOST_MANAGER_CLUSTER_ACTIONS = (
    "applicationMessage closeAllDatabases connPoolSync dropConnections flushRouterConfig fsync "
    "invalidateUserCache killAnyCursor killAnySession killop logRotate resync setParameter shutdown "
    "touch unlock oidcRefreshKeys"
).split()
CLUSTER_MANAGER_CLUSTER_ACTIONS = (
    "addShard appendOplogNote applicationMessage cleanupOrphaned flushRouterConfig getDefaultRWConcern "
    "listSessions listShards removeShard replSetConfigure replSetGetConfig replSetGetStatus "
    "replSetStateChange resync setDefaultRWConcern setFeatureCompatibilityVersion setFreeMonitoring "
    "setClusterParameter"
).split()


def _read(db: str) -> list[Document]:
    return [_priv(_db(db), READ_ACTIONS), _priv(_ns(db, "system.js"), READ_ACTIONS)]


def _read_write(db: str) -> list[Document]:
    return [_priv(_db(db), READ_WRITE_ACTIONS), _priv(_ns(db, "system.js"), READ_WRITE_ACTIONS)]


def _db_admin(db: str) -> list[Document]:
    return [
        _priv(_db(db), DB_ADMIN_ACTIONS),
        _priv(_ns(db, "system.profile"), DB_ADMIN_PROFILE_ACTIONS),
    ]


def _user_admin(db: str) -> list[Document]:
    return [_priv(_db(db), USER_ADMIN_ACTIONS)]


def _any(privs: list[Document]) -> list[Document]:
    """The same privileges on every database (``{db: ""}``)."""
    out = []
    for p in privs:
        res = dict(p["resource"])
        res["db"] = ""
        out.append({"resource": res, "actions": list(p["actions"])})
    return out


def _cluster_monitor() -> list[Document]:
    return [
        _priv(CLUSTER, CLUSTER_MONITOR_CLUSTER_ACTIONS),
        _priv(ANY_NORMAL, "collStats dbStats getShardVersion indexStats useUUID".split()),
        _priv(_ns("local", "system.replset"), ["find"]),
        _priv(_db("config"), ["find", "collStats", "dbStats", "indexStats", "listCollections"]),
    ]


def _host_manager() -> list[Document]:
    return [
        _priv(CLUSTER, HOST_MANAGER_CLUSTER_ACTIONS),
        _priv(ANY_NORMAL, ["killCursors", "repairDatabase"]),
    ]


def _cluster_manager() -> list[Document]:
    return [
        _priv(CLUSTER, CLUSTER_MANAGER_CLUSTER_ACTIONS),
        _priv(ANY_NORMAL, "clearJumboFlag enableSharding splitVector".split()),
    ]


def _backup() -> list[Document]:
    return [
        _priv(CLUSTER, "appendOplogNote getParameter listDatabases serverStatus".split()),
        _priv(ANY_NORMAL, "collStats dbHash find listCollections listIndexes".split()),
        _priv(ANY_RESOURCE, ["listCollections", "listIndexes"]),
    ]


def _restore() -> list[Document]:
    return [
        _priv(CLUSTER, ["getParameter"]),
        _priv(
            ANY_NORMAL,
            "bypassDocumentValidation collMod convertToCapped createCollection createIndex "
            "dropCollection insert".split(),
        ),
    ]


# role -> (privileges on that database, roles it inherits on the same database). Roles present in every
# database come first; ADMIN_ONLY_ROLES exist only in admin.
DATABASE_ROLES: dict[str, tuple[Any, list[str]]] = {
    "read": (_read, []),
    "readWrite": (_read_write, []),
    "dbAdmin": (_db_admin, []),
    "userAdmin": (_user_admin, []),
    "dbOwner": (lambda db: [], ["readWrite", "dbAdmin", "userAdmin"]),
}
ADMIN_ONLY_ROLES: dict[str, tuple[Any, list[str]]] = {
    "readAnyDatabase": (lambda db: _any(_read(db)) + [_priv(CLUSTER, ["listDatabases"])], []),
    "readWriteAnyDatabase": (
        lambda db: _any(_read_write(db)) + [_priv(CLUSTER, ["listDatabases"])],
        [],
    ),
    "userAdminAnyDatabase": (
        lambda db: (
            _any(_user_admin(db))
            + [
                _priv(CLUSTER, ["authSchemaUpgrade", "invalidateUserCache", "listDatabases"]),
                _priv(
                    _ns("admin", "system.users"),
                    "collStats dbHash dbStats find killCursors planCacheRead createIndex dropIndex".split(),
                ),
                _priv(_ns("admin", "system.roles"), "collStats dbHash dbStats find killCursors".split()),
            ]
        ),
        [],
    ),
    "dbAdminAnyDatabase": (
        lambda db: _any(_db_admin(db)) + [_priv(CLUSTER, ["listDatabases"])],
        [],
    ),
    "clusterMonitor": (lambda db: _cluster_monitor(), []),
    "hostManager": (lambda db: _host_manager(), []),
    "clusterManager": (lambda db: _cluster_manager(), []),
    "clusterAdmin": (
        lambda db: [_priv(ANY_NORMAL, ["dropDatabase"])],
        ["clusterManager", "clusterMonitor", "hostManager"],
    ),
    "backup": (lambda db: _backup(), []),
    "restore": (lambda db: _restore(), []),
    "root": (
        lambda db: [_priv(ANY_RESOURCE, ["validate"])],
        [
            "readWriteAnyDatabase",
            "dbAdminAnyDatabase",
            "userAdminAnyDatabase",
            "clusterAdmin",
            "restore",
            "backup",
        ],
    ),
}


def is_builtin_role(role: str, db: str) -> bool:
    """mongod's isBuiltinRole: database roles in every database, the others only in admin."""
    return role in DATABASE_ROLES or (db == "admin" and role in ADMIN_ONLY_ROLES)


def builtin_role_names(db: str) -> list[str]:
    names = list(DATABASE_ROLES)
    if db == "admin":
        names += list(ADMIN_ONLY_ROLES)
    return sorted(names)


def _builtin_definition(role: str, db: str) -> tuple[list[Document], list[tuple[str, str]]]:
    entry = DATABASE_ROLES.get(role) or ADMIN_ONLY_ROLES[role]
    make, inherits = entry
    return make(db), [(r, db) for r in inherits]


# -- resources -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """A concrete resource a command touches: the cluster, a database, or a namespace."""

    kind: str  # "cluster" | "database" | "namespace"
    db: str = ""
    collection: str = ""

    @staticmethod
    def cluster() -> Resource:
        return Resource("cluster")

    @staticmethod
    def database(db: str) -> Resource:
        return Resource("database", db)

    @staticmethod
    def namespace(db: str, collection: str) -> Resource:
        return Resource("namespace", db, collection)


def pattern_matches(pattern: Document, target: Resource) -> bool:
    """Does a privilege's resource pattern cover ``target``? (mongod's ResourcePattern matching.)"""
    if pattern.get("anyResource"):
        return True
    if pattern.get("cluster"):
        return target.kind == "cluster"
    if target.kind == "cluster" or "db" not in pattern:
        return False
    pdb, pcoll = str(pattern.get("db", "")), str(pattern.get("collection", ""))
    if target.kind == "database":
        return pcoll == "" and pdb in ("", target.db)
    # namespace: system collections are matched only by a pattern that names them.
    system = target.collection.startswith("system.")
    if pdb and pdb != target.db:
        return False
    if pcoll:
        return pcoll == target.collection
    return not system


@dataclass(frozen=True)
class Requirement:
    """One privilege a command needs."""

    resource: Resource
    actions: tuple[str, ...]


# -- the store -------------------------------------------------------------------------------------
def _copy_of(docs: dict[str, Document], db: str, name: str) -> Document | None:
    """A copy of the user or role document ``name`` of ``db`` (callers may change it freely)."""
    doc = docs.get(f"{db}.{name}")
    return copy.deepcopy(doc) if doc is not None else None


def _copies_of(docs: dict[str, Document], db: str | None, name_field: str) -> list[Document]:
    """Copies of the user or role documents (of ``db`` only, when given), by database then name."""
    chosen = [d for d in docs.values() if db is None or d["db"] == db]
    return copy.deepcopy(sorted(chosen, key=lambda d: (d["db"], d[name_field])))


class AuthzStore:
    """Users and user-defined roles persisted in ``<dbPath>/authz.json``. Thread-safe."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.path = self.db_path / STORE_FILE
        self._lock = threading.RLock()
        self._users: dict[str, Document] = {}
        self._roles: dict[str, Document] = {}
        self._privileges_cache: dict[tuple[tuple[str, str], ...], list[Document]] = {}
        self._load()

    # -- persistence ---------------------------------------------------------------------------
    # The file is MongoDB Extended JSON (canonical), so customData of any BSON type round-trips.
    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(
                f"cannot read the user and role store {self.path}: {exc.strerror or exc}",
                hint="check the permissions of the dbPath folder",
            ) from exc
        try:
            doc = json_util.loads(text)
            users = doc["users"]
            roles = doc["roles"]
            if not isinstance(users, dict) or not isinstance(roles, dict):
                raise TypeError("users and roles must be objects")
        except (ValueError, KeyError, TypeError, BSONError) as exc:
            # Never overwrite a store we cannot read: it may be the only copy of the admin's users.
            raise StateError(
                f"the user and role store {self.path} is corrupt ({exc}); it was left untouched",
                hint="restore it from a copy, or move it away (its users and roles are then lost) "
                "and start the server again; `wif reset` wipes the whole state directory",
            ) from exc
        self._users = {k: _from_json(v) for k, v in users.items()}
        self._roles = {k: _from_json(v) for k, v in roles.items()}

    def _commit(self, users: dict[str, Document], roles: dict[str, Document]) -> None:
        """Write the new state durably, then adopt it: a failed write leaves the store unchanged."""
        text = json_util.dumps(
            {"version": 1, "users": users, "roles": roles},
            json_options=json_util.CANONICAL_JSON_OPTIONS,
            indent=2,
            sort_keys=True,
        )
        self.db_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(self.path, text)
        # fsync the directory too, so the rename itself survives a crash.
        with contextlib.suppress(OSError):
            fd = os.open(self.db_path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._users, self._roles = users, roles
        self._privileges_cache = {}

    # -- users ---------------------------------------------------------------------------------
    def get_user(self, db: str, name: str) -> Document | None:
        with self._lock:
            return _copy_of(self._users, db, name)

    def users(self, db: str | None = None) -> list[Document]:
        with self._lock:
            return _copies_of(self._users, db, "user")

    def insert_user(self, doc: Document) -> None:
        with self._lock:
            key = f"{doc['db']}.{doc['user']}"
            if key in self._users:
                raise CommandError(51003, f'User "{doc["user"]}@{doc["db"]}" already exists', "Location51003")
            self._commit({**self._users, key: copy.deepcopy(doc)}, self._roles)

    def replace_user(self, doc: Document) -> None:
        with self._lock:
            key = f"{doc['db']}.{doc['user']}"
            if key not in self._users:
                raise CommandError(11, f"User {doc['user']}@{doc['db']} not found")
            self._commit({**self._users, key: copy.deepcopy(doc)}, self._roles)

    def remove_user(self, db: str, name: str) -> bool:
        with self._lock:
            key = f"{db}.{name}"
            if key not in self._users:
                return False
            self._commit({k: v for k, v in self._users.items() if k != key}, self._roles)
            return True

    # -- roles ---------------------------------------------------------------------------------
    def get_role(self, db: str, name: str) -> Document | None:
        """A user-defined role document (built-in roles have none)."""
        with self._lock:
            return _copy_of(self._roles, db, name)

    def roles(self, db: str | None = None) -> list[Document]:
        with self._lock:
            return _copies_of(self._roles, db, "role")

    def role_exists(self, role: str, db: str) -> bool:
        with self._lock:
            return is_builtin_role(role, db) or f"{db}.{role}" in self._roles

    def insert_role(self, doc: Document) -> None:
        with self._lock:
            key = f"{doc['db']}.{doc['role']}"
            if key in self._roles:
                raise CommandError(51002, f'Role "{doc["role"]}@{doc["db"]}" already exists', "Location51002")
            self._commit(self._users, {**self._roles, key: copy.deepcopy(doc)})

    def replace_role(self, doc: Document) -> None:
        with self._lock:
            key = f"{doc['db']}.{doc['role']}"
            if key not in self._roles:
                raise CommandError(31, f"Role {doc['role']}@{doc['db']} not found")
            self._commit(self._users, {**self._roles, key: copy.deepcopy(doc)})

    def remove_role(self, db: str, name: str) -> bool:
        """Drop a role and pull it from every user and role that holds it (as dropRole does)."""
        with self._lock:
            key = f"{db}.{name}"
            if key not in self._roles:
                return False
            ref = {"role": name, "db": db}

            def pulled(doc: Document) -> Document:
                out = copy.deepcopy(doc)
                out["roles"] = [r for r in doc.get("roles", []) if r != ref]
                return out

            users = {k: pulled(v) for k, v in self._users.items()}
            roles = {k: pulled(v) for k, v in self._roles.items() if k != key}
            self._commit(users, roles)
            return True

    # -- role graph ----------------------------------------------------------------------------
    def role_definition(self, role: str, db: str) -> tuple[list[Document], list[tuple[str, str]]] | None:
        """Direct privileges and direct parent roles of ``role@db``; None if it does not exist."""
        if is_builtin_role(role, db):
            return _builtin_definition(role, db)
        doc = self.get_role(db, role)
        if doc is None:
            return None
        parents = [(str(r["role"]), str(r["db"])) for r in doc.get("roles", [])]
        return list(doc.get("privileges", [])), parents

    def expand_roles(self, roles: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The given roles followed by every role they inherit, each once (cycles are harmless)."""
        seen: list[tuple[str, str]] = []
        stack = list(roles)
        index = 0
        for r in stack:
            if r not in seen:
                seen.append(r)
        while index < len(seen):
            role, db = seen[index]
            index += 1
            definition = self.role_definition(role, db)
            if definition is None:
                continue
            for parent in definition[1]:
                if parent not in seen:
                    seen.append(parent)
        return seen

    def privileges_of(self, roles: Iterable[tuple[str, str]]) -> list[Document]:
        """All privileges granted by ``roles`` and their ancestors, merged per resource.

        Memoized until the store changes: every command's privilege check asks this."""
        key = tuple(roles)
        with self._lock:
            cached = self._privileges_cache.get(key)
            if cached is None:
                cached = self._privileges_cache[key] = self._compute_privileges(key)
        return [{"resource": dict(p["resource"]), "actions": list(p["actions"])} for p in cached]

    def _compute_privileges(self, roles: Iterable[tuple[str, str]]) -> list[Document]:
        merged: dict[str, tuple[Document, set[str]]] = {}
        for role, db in self.expand_roles(roles):
            definition = self.role_definition(role, db)
            if definition is None:
                continue  # e.g. a token role without a role document: grants nothing
            for priv in definition[0]:
                key = json.dumps(priv["resource"], sort_keys=True)
                entry = merged.setdefault(key, (dict(priv["resource"]), set()))
                entry[1].update(priv.get("actions", []))
        return [{"resource": res, "actions": sorted(acts)} for res, acts in merged.values()]

    def would_cycle(self, role: str, db: str, new_parents: Iterable[tuple[str, str]]) -> bool:
        return (role, db) in self.expand_roles(new_parents)

    # -- the kit's administrator ---------------------------------------------------------------
    def ensure_admin(self, state_dir: Path) -> tuple[str, str]:
        """Create the SCRAM-SHA-256 ``root`` user in admin once; credentials go to ``admin.json`` (0600).

        Idempotent. If the store lost the user (dbPath wiped) it is re-created with the saved
        password; if the password file was lost, a new password is set and saved.
        """
        creds_path = Path(state_dir) / ADMIN_FILE
        with self._lock:
            saved = read_admin_credentials(Path(state_dir))
            user = self.get_user("admin", ADMIN_USER)
            if saved is not None and user is not None:
                if verify_scram_sha256(user, saved[1]):
                    return saved
            password = saved[1] if saved is not None else secrets.token_urlsafe(24)
            doc = new_user_document(ADMIN_USER, "admin", [{"role": "root", "db": "admin"}], password=password)
            if user is not None:
                doc["userId"] = user.get("userId", doc["userId"])
                self.replace_user(doc)
            else:
                self.insert_user(doc)
            write_private(creds_path, json.dumps({"user": ADMIN_USER, "password": password}, indent=2))
            return ADMIN_USER, password


def read_admin_credentials(state_dir: Path) -> tuple[str, str] | None:
    """``(user, password)`` from ``<state>/admin.json``, or None if it does not exist."""
    path = Path(state_dir) / ADMIN_FILE
    try:
        doc = json.loads(path.read_text())
        return str(doc["user"]), str(doc["password"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateError(
            f"cannot read the administrator credentials {path}: {exc}",
            hint=f"remove {path}; the next `wif mongod start` sets a new administrator password",
        ) from exc


# -- SCRAM-SHA-256 credentials (RFC 5802 / RFC 7677) ----------------------------------------------
def scram_sha256_credentials(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_SHA_256_ITERATIONS
) -> Document:
    """The ``credentials."SCRAM-SHA-256"`` sub-document mongod stores for ``password``.

    (mongod saslpreps the password first; for ASCII passwords that is the identity.)
    """
    salt = salt if salt is not None else secrets.token_bytes(SCRAM_SHA_256_SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return {
        "iterationCount": iterations,
        "salt": base64.b64encode(salt).decode(),
        "storedKey": base64.b64encode(stored_key).decode(),
        "serverKey": base64.b64encode(server_key).decode(),
    }


def verify_scram_sha256(user_doc: Document, password: str) -> bool:
    """Does ``password`` match the user's SCRAM-SHA-256 credentials?"""
    cred = (user_doc.get("credentials") or {}).get("SCRAM-SHA-256")
    if not cred:
        return False
    again = scram_sha256_credentials(
        password, salt=base64.b64decode(cred["salt"]), iterations=int(cred["iterationCount"])
    )
    return hmac.compare_digest(again["storedKey"], cred["storedKey"])


def new_user_document(
    user: str,
    db: str,
    roles: list[Document],
    *,
    password: str | None = None,
    custom_data: Document | None = None,
) -> Document:
    """A user document in mongod's shape (``admin.system.users``)."""
    doc: Document = {
        "_id": f"{db}.{user}",
        "userId": str(uuid.uuid4()),
        "user": user,
        "db": db,
        "credentials": (
            {"SCRAM-SHA-256": scram_sha256_credentials(password)}
            if password is not None
            else {"external": True}
        ),
        "roles": [{"role": str(r["role"]), "db": str(r["db"])} for r in roles],
    }
    if custom_data is not None:
        doc["customData"] = custom_data
    return doc


def user_mechanisms(doc: Document) -> list[str]:
    creds = doc.get("credentials") or {}
    if creds.get("external"):
        return ["external"]
    return sorted(k for k in creds if k.startswith("SCRAM-"))


# Sensitive fields mongod replaces with "xxx" before echoing a command (sensitiveFieldNames()).
SENSITIVE_FIELDS = {"createUser": ("pwd",), "updateUser": ("pwd",)}


# -- the check -------------------------------------------------------------------------------------
def effective_roles(store: AuthzStore, user: AuthenticatedUser) -> list[tuple[str, str]]:
    """The user's direct roles: those it brought (token groups, or copied from its document at
    login) plus those its user document holds now, so grants and revocations apply at once."""
    roles = [(str(r), str(d)) for r, d in user.roles]
    doc = store.get_user(user.db, user.user)
    if doc is not None:
        for r in doc.get("roles", []):
            ref = (str(r["role"]), str(r["db"]))
            if ref not in roles:
                roles.append(ref)
    return roles


def _all_roles(store: AuthzStore, users: list[AuthenticatedUser]) -> list[tuple[str, str]]:
    direct: list[tuple[str, str]] = []
    for u in users:
        for ref in effective_roles(store, u):
            if ref not in direct:
                direct.append(ref)
    return direct


def user_privileges(store: AuthzStore, users: list[AuthenticatedUser]) -> list[Document]:
    """Every privilege ``users`` hold now: their roles' and the roles those inherit, merged."""
    return store.privileges_of(_all_roles(store, users))


def is_authorized(store: AuthzStore, users: list[AuthenticatedUser], requirement: Requirement) -> bool:
    return privileges_grant(user_privileges(store, users), requirement)


def privileges_grant(privileges: list[Document], requirement: Requirement) -> bool:
    """Whether ``privileges`` (as from ``user_privileges``) cover every action of ``requirement``."""
    missing = set(requirement.actions)
    if requirement.resource.kind == "database" and requirement.resource.db == "":
        # "every database" (usersInfo forAllDBs): needs a pattern over all databases.
        for p in privileges:
            res = p["resource"]
            if res.get("anyResource") or (res.get("db") == "" and res.get("collection") == ""):
                missing -= set(p["actions"])
        return not missing
    for p in privileges:
        if pattern_matches(p["resource"], requirement.resource):
            missing -= set(p["actions"])
            if not missing:
                return True
    return not missing


def check_privileges(
    store: AuthzStore,
    users: list[AuthenticatedUser],
    db: str,
    command_name: str,
    cmd: Document,
    *,
    body: Document | None = None,
) -> None:
    """Raise ``CommandError(13)`` unless ``users`` may run ``command_name`` on ``db`` as mongod decides.

    ``body`` is the command's kind-0 section (without OP_MSG document sequences) when it differs from
    ``cmd``: mongod echoes only that section in its message.
    """
    spec = lookup(command_name)
    declared = spec.privileges if spec is not None else None
    if declared is not None and not declared.requires_auth:
        return
    if not users:
        # mongod 7.0 (commands.cpp); capitalised "Command" as in 7.0+ (older servers: "command").
        raise CommandError(13, f"Command {command_name} requires authentication", "Unauthorized")

    def denied() -> CommandError:  # rendered only on refusal: a command may be megabytes long
        shown = redact_command(command_name, body if body is not None else cmd)
        return CommandError(
            13, f"not authorized on {db} to execute command {bson_to_string(shown)}", "Unauthorized"
        )

    if declared is None:
        # Registered without a privilege declaration: refused to everyone (fails closed).
        raise denied()
    if command_name in ("usersInfo", "rolesInfo") and _looks_up_only_self(
        store, users, db, command_name, cmd
    ):
        return
    required = declared.rule(db, cmd)
    privileges = user_privileges(store, users) if required else []
    for req in required:
        if not privileges_grant(privileges, req):
            raise denied()


def names_asked(value: Any, db: str, key: str) -> list[tuple[str, str]] | None:
    """The (name, db) pairs a usersInfo (``key`` "user") or rolesInfo (``key`` "role") asks for: one
    or a list of ``"name"`` (on ``db``) or ``{<key>: name, db: db}``; None when an item is neither."""
    refs: list[tuple[str, str]] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            refs.append((item, db))
        elif isinstance(item, dict) and isinstance(item.get(key), str):
            refs.append((item[key], str(item.get("db", db))))
        else:
            return None
    return refs


def _looks_up_only_self(
    store: AuthzStore, users: list[AuthenticatedUser], db: str, command_name: str, cmd: Document
) -> bool:
    """usersInfo of one's own user, or rolesInfo of roles one holds, needs no privilege (mongod)."""
    key = "user" if command_name == "usersInfo" else "role"
    refs = names_asked(cmd.get(command_name), db, key)
    if not refs:  # nothing named, or not names (a number asks for every user or role of the db)
        return False
    if key == "user":
        mine = {(u.user, u.db) for u in users}
    else:
        mine = set(store.expand_roles(_all_roles(store, users)))
    return all(ref in mine for ref in refs)


def redact_command(command_name: str, cmd: Document) -> Document:
    fields = SENSITIVE_FIELDS.get(command_name, ())
    if not fields:
        return cmd
    return {k: ("xxx" if k in fields else v) for k, v in cmd.items()}


# -- connectionStatus ------------------------------------------------------------------------------
def connection_status(
    store: AuthzStore, users: list[AuthenticatedUser], show_privileges: bool = False
) -> Document:
    """The ``authInfo`` document of mongod's connectionStatus reply."""
    direct = _all_roles(store, users)
    all_roles = store.expand_roles(direct)
    info: Document = {
        "authenticatedUsers": [{"user": u.user, "db": u.db} for u in users],
        "authenticatedUserRoles": [{"role": r, "db": d} for r, d in all_roles],
    }
    if show_privileges:
        info["authenticatedUserPrivileges"] = store.privileges_of(direct)
    return info


# -- mongod's BSONObj::toString, for error messages -----------------------------------------------
def bson_to_string(value: Any) -> str:
    """Render a document the way mongod's ``BSONObj::toString`` does (``{ find: "c", $db: "test" }``)."""
    return _render(value)


def _render(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        return "[ " + ", ".join(_render(v) for v in value) + " ]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return _render_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _render_bson(value)


def _render_number(value: int | float) -> str:
    if isinstance(value, int):  # Int64 too
        return str(int(value))
    if value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value)


def _render_bson(value: Any) -> str:
    """BSON's own types, as mongod's toString writes them."""
    if isinstance(value, uuid.UUID):
        return f'UUID("{value}")'
    if isinstance(value, bson.binary.Binary):
        if value.subtype == 4 and len(value) == 16:
            return f'UUID("{uuid.UUID(bytes=bytes(value))}")'
        return f"BinData({value.subtype}, {bytes(value).hex().upper()})"
    if isinstance(value, bytes):
        return f"BinData(0, {value.hex().upper()})"
    if isinstance(value, bson.objectid.ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return f"new Date({int(value.timestamp() * 1000)})"
    if isinstance(value, bson.timestamp.Timestamp):
        return f"Timestamp({value.time}, {value.inc})"
    if isinstance(value, bson.regex.Regex):
        return f"/{value.pattern}/{_regex_flags(value.flags)}"
    if isinstance(value, bson.decimal128.Decimal128):
        return f'NumberDecimal("{value}")'
    if isinstance(value, bson.min_key.MinKey):
        return "MinKey"
    if isinstance(value, bson.max_key.MaxKey):
        return "MaxKey"
    return json.dumps(str(value))


def _regex_flags(flags: int | str) -> str:
    if isinstance(flags, str):
        return flags
    out = ""
    for bit, ch in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x")):
        if flags & bit:
            out += ch
    return out


def _from_json(doc: Any) -> Document:
    if not isinstance(doc, dict):
        raise StateError(
            "the user and role store holds an entry that is not a document",
            hint="restore the store from a copy or move it away",
        )
    return doc
