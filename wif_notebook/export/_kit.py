"""What the learner built in the kit, read once and translated for production (``KitSnapshot``).

Three sources: the server's ``oidcIdentityProviders`` (mongod.conf, or the kit's default), the
user-defined roles and ``$external`` users of the test mongod, and the principals catalog. Every
kit-only value in them (the made-up tenant, the resource application's id, group object ids,
generated object and unique ids, the demo project) is replaced by a named placeholder, and each
kit issuer by the production issuer it stands for (``PRODUCTION_ISSUERS``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from .. import clouds
from ..clouds import RegistryView
from ..errors import ConfigError, WifError
from ..idp.principals import Principal
from ..oidc import ProviderConfig
from ..state import StateDir
from ._model import Placeholder

# -- issuers -------------------------------------------------------------------------------------------
# The production issuer each kind of kit issuer stands for, and the kinds' titles: what the platforms
# declare (``clouds/``, ``Cloud.production_issuers``; real-clouds reference §1, §5, §6, §7).
PRODUCTION_ISSUERS: Mapping[str, str] = RegistryView(
    lambda: {p.kind: p.issuer for p in clouds.production_issuers()}
)
KIND_TITLES: Mapping[str, str] = RegistryView(
    lambda: {
        **{p.kind: p.title for p in clouds.production_issuers()},
        "production": "an issuer outside the kit (kept as configured)",
    }
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_kit_issuer(issuer: str) -> bool:
    """Served by the kit's IdP (a loopback host), as opposed to a real issuer a learner typed in."""
    return (urlsplit(issuer).hostname or "").lower() in _LOCAL_HOSTS


def classify_issuer(issuer: str, issuer_id: str | None = None) -> str:
    """The kind of issuer a provider's URL is (a key of ``KIND_TITLES``).

    A kit issuer (host localhost) is recognised by its shape: Entra v2.0 ``…/<tenant>/v2.0``, v1.0
    ``…/<tenant>/`` (the trailing slash), else by the IdP's id for it (``gcp``, ``k8s``, ...).
    """
    parts = urlsplit(issuer)
    known = clouds.production_issuers()
    if not is_kit_issuer(issuer):
        host = (parts.hostname or "").lower()
        for real in known:
            if real.public_host and real.public_host == host:
                # e.g. login.microsoftonline.com without /v2.0: keep what was configured
                suffix_ok = parts.path.rstrip("/").endswith(real.public_path_suffix)
                return real.kind if suffix_ok else "production"
        return "production"
    for real in known:
        if real.kit_path and re.search(real.kit_path, parts.path):
            return real.kind
    name = (issuer_id or parts.path.strip("/").split("/")[0]).lower()
    for real in known:
        if real.kit_name is not None and real.kit_name(name):
            return real.kind
    return next((real.kind for real in known if real.kit_name is None and not real.kit_path), "production")


@dataclass(frozen=True)
class ProductionProvider:
    """One ``oidcIdentityProviders`` entry of the kit and its production counterpart."""

    kit: ProviderConfig
    kind: str
    issuer: str  # production issuer, placeholders allowed
    audience: str

    @property
    def prefix(self) -> str:
        return self.kit.auth_name_prefix

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]

    def document(self) -> dict[str, Any]:
        """The entry for a production mongod: the kit's, with the production issuer and audience."""
        return replace(self.kit, issuer=self.issuer, audience=self.audience).to_document()


# -- the snapshot --------------------------------------------------------------------------------------
@dataclass
class KitSnapshot:
    """The kit's configuration, users, roles and principals, with kit-only values as placeholders."""

    providers: list[ProductionProvider]
    users: list[dict[str, Any]]  # $external users: {user, db, roles: [{role, db}]}
    roles: list[dict[str, Any]]  # user-defined roles, parents first: {role, db, privileges, roles}
    principals: list[Principal]
    placeholders: dict[str, Placeholder]
    substitutions: list[tuple[str, str]]  # (kit value, placeholder token), longest first
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def sub(self, text: str) -> str:
        """``text`` with every kit-only value replaced by its placeholder."""
        for value, token in self.substitutions:
            text = text.replace(value, token)
        return text

    def of_kind(self, *kinds: str) -> list[ProductionProvider]:
        return [p for p in self.providers if p.kind in kinds]

    def provider_for_prefix(self, prefix: str) -> ProductionProvider | None:
        return next((p for p in self.providers if p.prefix == prefix), None)


def upper_name(name: str) -> str:
    """``inventory-vm`` → ``INVENTORY_VM`` (the stem of a principal's placeholders)."""
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def _substitutions(principals: list[Principal]) -> tuple[list[tuple[str, str]], dict[str, Placeholder]]:
    """Every platform's kit-only values (``Cloud.export_values``) → (value, replacement) pairs,
    longest first, and the placeholders by name."""
    found = {
        real.issuer[1:-1]: Placeholder(real.issuer[1:-1], real.meaning, real.how_to_find)
        for real in clouds.production_issuers()
        if real.issuer.startswith("<")
    }
    pairs: list[tuple[str, str]] = []
    for cloud in clouds.clouds():
        for value, what in cloud.export_values(principals) if cloud.export_values else []:
            if isinstance(what, Placeholder):
                found[what.name] = what
                what = what.token
            if value:
                pairs.append((value, what))
    unique = sorted(set(pairs), key=lambda pair: -len(pair[0]))
    return unique, found


def _issuer_ids(state: StateDir) -> dict[str, str]:
    """Issuer URL → the mock IdP's id for it (``kit``, ``azure``, ...), when the IdP announced them."""
    from ..idp.service import idp_record

    record = idp_record(state)
    issuers = record.extra.get("issuers") if record is not None else None
    if not isinstance(issuers, dict):
        return {}
    return {str(v["issuer"]): str(k) for k, v in issuers.items() if isinstance(v, dict) and "issuer" in v}


def production_providers(
    providers: list[ProviderConfig], issuer_ids: dict[str, str], sub: Callable[[str], str]
) -> list[ProductionProvider]:
    """Each kit entry with its production issuer; several entries of one placeholder kind get one
    placeholder each (``<CLUSTER_ISSUER_URL_SHOP>``), so no two entries collapse into one issuer."""
    kinds = [classify_issuer(p.issuer, issuer_ids.get(p.issuer)) for p in providers]
    out = []
    for provider, kind in zip(providers, kinds, strict=True):
        if kind == "production" or not is_kit_issuer(provider.issuer):
            issuer = provider.issuer  # already a real issuer: keep exactly what was configured
        else:
            issuer = PRODUCTION_ISSUERS[kind]
            distinct = {p.issuer for p, k in zip(providers, kinds, strict=True) if k == kind}
            if issuer.startswith("<") and len(distinct) > 1:  # a placeholder issuer: one each
                issuer = issuer[:-1] + f"_{upper_name(provider.auth_name_prefix)}>"
        out.append(ProductionProvider(provider, kind, issuer, sub(provider.audience)))
    return out


def snapshot(state: StateDir) -> KitSnapshot:
    """Read the kit's state (nothing is started or written)."""
    from ..idp.principals import load_catalog
    from ..mongod import server_providers

    found = server_providers(state)
    if found is None or not found.providers:
        raise ConfigError(
            "nothing to export: the kit has no oidcIdentityProviders configured yet",
            hint="start the kit with `wif up` (or %wif_up), configure providers with %wif_mongod, "
            "then export again",
        )
    principals = load_catalog(state)
    pairs, placeholders = _substitutions(principals)
    snap = KitSnapshot(
        providers=[],
        users=[],
        roles=[],
        principals=principals,
        placeholders=placeholders,
        substitutions=pairs,
        sources={"configuration": found.source, "principals": str(state.principals_file)},
    )
    snap.providers = production_providers(found.providers, _issuer_ids(state), snap.sub)
    for p in snap.providers:
        name = p.issuer[1:-1]
        if p.issuer.startswith("<") and name not in snap.placeholders:
            base = snap.placeholders[PRODUCTION_ISSUERS[p.kind][1:-1]]
            snap.placeholders[name] = Placeholder(
                name, f"{base.meaning} (provider {p.prefix})", base.how_to_find
            )
    users, roles, source = read_users_and_roles(state)
    snap.users = [_sub_doc(u, snap.sub) for u in users]
    snap.roles = [_sub_doc(r, snap.sub) for r in _parents_first(roles)]
    snap.sources["users and roles"] = source
    if not users and not roles:
        snap.notes.append(
            "No roles or $external users yet: create them with %wif_authorize (or createRole / "
            "createUser in mongosh), then export again."
        )
    return snap


def _sub_doc(doc: Any, sub: Callable[[str], str]) -> Any:
    if isinstance(doc, str):
        return sub(doc)
    if isinstance(doc, list):
        return [_sub_doc(x, sub) for x in doc]
    if isinstance(doc, dict):
        return {k: _sub_doc(v, sub) for k, v in doc.items()}
    return doc


# -- users and roles -----------------------------------------------------------------------------------
def _user_doc(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": str(doc["user"]),
        "db": str(doc["db"]),
        "roles": [{"role": str(r["role"]), "db": str(r["db"])} for r in doc.get("roles", [])],
    }


def _role_doc(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": str(doc["role"]),
        "db": str(doc["db"]),
        "privileges": [
            {"resource": dict(p["resource"]), "actions": [str(a) for a in p["actions"]]}
            for p in doc.get("privileges", [])
        ],
        "roles": [{"role": str(r["role"]), "db": str(r["db"])} for r in doc.get("roles", [])],
    }


def read_users_and_roles(state: StateDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """The ``$external`` users and user-defined roles: from the running mongod through the kit's
    administrator (what ``usersInfo``/``rolesInfo`` answer), else from ``authz.json`` in its dbPath."""
    from .. import services

    if services.running_record(state, "mongod") is not None:
        try:
            users, roles = _from_server(state)
            return users, roles, "the running mongod (usersInfo, rolesInfo)"
        except WifError:
            pass  # e.g. the administrator's credentials are gone: the dbPath still has them
    return _from_db_path(state)


def _from_server(state: StateDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from pymongo.errors import PyMongoError

    from ..authorization import admin_client
    from ..driver_errors import explain_error

    client = admin_client(state)
    try:
        raw_users = client.admin.command("usersInfo", {"forAllDBs": True})["users"]
        users = [_user_doc(u) for u in raw_users if u.get("db") == "$external"]
        # rolesInfo answers per database; look in admin, every database, and every database a
        # user or role refers to, until no new one appears.
        pending = {
            "admin",
            *client.list_database_names(),
            *(r["db"] for u in raw_users for r in u.get("roles", [])),
        }
        seen: set[str] = set()
        roles: dict[tuple[str, str], dict[str, Any]] = {}
        while pending - seen:
            db = sorted(pending - seen)[0]
            seen.add(db)
            for doc in client[db].command("rolesInfo", 1, showPrivileges=True)["roles"]:
                if doc.get("isBuiltin"):
                    continue
                role = _role_doc(doc)
                roles[(role["db"], role["role"])] = role
                pending.update(r["db"] for r in role["roles"])
        return users, [roles[k] for k in sorted(roles)]
    except PyMongoError as exc:
        raise explain_error(exc, kit=True) from exc
    finally:
        client.close()


def _from_db_path(state: StateDir) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    from ..mongod import load_config_file
    from ..server.authz import STORE_FILE, AuthzStore

    db_path = state.db_path
    if state.mongod_conf.exists():
        try:
            db_path = load_config_file(state.mongod_conf).db_path
        except ConfigError:
            pass  # server_providers already refused an invalid file; keep the kit's dbPath
    store = AuthzStore(db_path)
    users = [_user_doc(u) for u in store.users("$external")]
    roles = [_role_doc(r) for r in store.roles()]
    return users, roles, str(db_path / STORE_FILE)


def _parents_first(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Roles ordered so each comes after the user-defined roles it inherits (createRole needs them)."""
    by_key = {(r["db"], r["role"]): r for r in roles}
    ordered: list[dict[str, Any]] = []
    done: set[tuple[str, str]] = set()

    def visit(key: tuple[str, str], path: tuple[tuple[str, str], ...]) -> None:
        if key in done or key in path or key not in by_key:
            return
        for parent in by_key[key]["roles"]:
            visit((parent["db"], parent["role"]), (*path, key))
        done.add(key)
        ordered.append(by_key[key])

    for key in sorted(by_key):
        visit(key, ())
    return ordered
