"""``wif export atlas``: the kit's providers, roles and users as MongoDB Atlas workload identity.

- ``atlas-setup.sh``: Atlas CLI commands. Flags and values are those of the Atlas CLI source
  (mongodb/mongodb-atlas-cli: ``internal/cli/federatedauthentication/federationsettings/
  identityprovider/create/oidc.go``, ``…/connectedorgsconfigs/connect.go``,
  ``internal/cli/customdbroles/create.go``, ``internal/cli/dbusers/create.go``, flag names in
  ``internal/flag/flags.go``; real-clouds reference §8). The Atlas CLI is not installable from
  PyPI, npm or Debian, so tests check the commands against that documented flag list.
- ``admin-api-requests.json``: the same as Atlas Admin API v2 requests (method, path, body), in
  the shape of the Admin API's OpenAPI schemas ``FederationOidcIdentityProviderUpdate``,
  ``ConnectedOrgConfig``, ``UserCustomDBRole`` and ``CloudDatabaseUser``.

Atlas names a federated user ``<IdP id>/<name>``: the id Atlas gives the identity provider takes
the place of the kit's ``authNamePrefix``. A kit role ``<prefix>/<group>`` becomes an Atlas database
group (``oidcAuthType IDP_GROUP``, database ``admin``); a ``$external`` user becomes an Atlas
database user (``USER``, database ``$external``); privileges a kit role grants directly become an
Atlas custom role.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._kit import KitSnapshot, ProductionProvider, upper_name
from ._model import PLACEHOLDER_RE, Export, Placeholder, make_export
from ._shell import HEADER, VARIABLE_RE, command, quote, variables, word
from .enterprise import provider_notes

PLACEHOLDERS = {
    p.name: p
    for p in (
        Placeholder(
            "FEDERATION_SETTINGS_ID",
            "id of your Atlas organization's federation settings",
            "atlas federatedAuthentication federationSettings describe --orgId ORG_ID",
        ),
        Placeholder("ORG_ID", "your Atlas organization id", "atlas organizations list"),
        Placeholder("ATLAS_PROJECT_ID", "your Atlas project id (the API's groupId)", "atlas projects list"),
    )
}

# Privilege actions Atlas custom roles accept (Admin API v2 DatabasePrivilegeAction.action enum, as
# in mongodb/mongodb-atlas-cli tools/internal/specs/spec.yaml); MongoDB's camelCase names otherwise
# map to them by upper-snake case, except these three that MongoDB spells as one word.
_IRREGULAR_ACTIONS = {"inprog": "IN_PROG", "killop": "KILL_OP", "netstat": "NET_STAT"}
ATLAS_ACTIONS = frozenset(
    """FIND INSERT REMOVE UPDATE BYPASS_DOCUMENT_VALIDATION USE_UUID KILL_OP BYPASS_DEFAULT_MAX_TIME_MS
    CREATE_COLLECTION CREATE_INDEX DROP_COLLECTION ENABLE_PROFILER KILL_ANY_CURSOR ANALYZE CHANGE_STREAM
    COLL_MOD COMPACT CONVERT_TO_CAPPED DROP_DATABASE DROP_INDEX RE_INDEX RENAME_COLLECTION_SAME_DB
    SET_USER_WRITE_BLOCK BYPASS_USER_WRITE_BLOCK LIST_SESSIONS KILL_ANY_SESSION COLL_STATS CONN_POOL_STATS
    DB_HASH DB_STATS GET_CMD_LINE_OPTS GET_LOG GET_PARAMETER GET_SHARD_MAP HOST_INFO IN_PROG LIST_DATABASES
    LIST_COLLECTIONS LIST_INDEXES LIST_SHARDS NET_STAT REPL_SET_GET_CONFIG REPL_SET_GET_STATUS SERVER_STATUS
    VALIDATE SHARDING_STATE TOP SQL_GET_SCHEMA SQL_SET_SCHEMA VIEW_ALL_HISTORY OUT_TO_S3 OUT_TO_AZURE
    OUT_TO_GCS STORAGE_GET_CONFIG STORAGE_SET_CONFIG FLUSH_ROUTER_CONFIG ENABLE_SHARDING
    CHECK_METADATA_CONSISTENCY MOVE_CHUNK SPLIT_CHUNK ANALYZE_SHARD_KEY REFINE_COLLECTION_SHARD_KEY
    CLEAR_JUMBO_FLAG RESHARD_COLLECTION SHARDED_DATA_DISTRIBUTION CREATE_SEARCH_INDEX DROP_SEARCH_INDEX
    LIST_SEARCH_INDEXES UPDATE_SEARCH_INDEX""".split()
)


def atlas_action(action: str) -> str:
    """MongoDB's action name as Atlas spells it: ``listCollections`` → ``LIST_COLLECTIONS``."""
    if action in _IRREGULAR_ACTIONS:
        return _IRREGULAR_ACTIONS[action]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", action).upper()


def role_name(name: str) -> str:
    """A kit role name as an Atlas custom role name (letters, digits, ``-`` and ``_``; placeholders kept)."""
    parts = PLACEHOLDER_RE.split(name)
    # re.split with one group: even indexes are text, odd ones placeholder names.
    return "".join(f"<{p}>" if i % 2 else re.sub(r"[^A-Za-z0-9_-]", "-", p) for i, p in enumerate(parts))


def _idp_var(p: ProductionProvider) -> str:
    return f"{p.prefix.lower().replace('-', '_')}_idp_id"


def _idp_placeholder(p: ProductionProvider) -> Placeholder:
    return Placeholder(
        f"ATLAS_IDP_ID_{upper_name(p.prefix)}",
        f"the id Atlas gave the identity provider created for the kit's {p.prefix!r} entry",
        "the id printed by identityProvider create (atlas federatedAuthentication federationSettings "
        "identityProvider list --federationSettingsId FEDERATION_SETTINGS_ID)",
    )


class _Plan:
    """What Atlas needs: identity providers, custom roles, database users and groups."""

    def __init__(self, snap: KitSnapshot) -> None:
        self.snap = snap
        self.notes: list[str] = []
        self.custom_roles: list[
            dict[str, Any]
        ] = []  # {roleName, actions: [(ACTION, db, coll|None)], inherited}
        self.users: list[dict[str, Any]] = []  # {provider, name, type, roles: [(role, db)]}
        groups = {p.prefix for p in snap.providers if p.kit.use_authorization_claim}
        inherited = {(r["db"], r["role"]) for doc in [*snap.roles, *snap.users] for r in doc["roles"]}
        for role in snap.roles:
            prefix, slash, group = role["role"].partition("/")
            is_group = slash and role["db"] == "admin" and prefix in groups
            roles = [self._ref(r) for r in role["roles"]]
            # A group whose role only inherits built-ins needs no custom role: the Atlas group gets
            # them directly. Privileges, or other roles inheriting it, need one.
            if role["privileges"] or not is_group or (role["db"], role["role"]) in inherited:
                roles = [(self._custom_role(role, roles), "admin")]
            if is_group:
                provider = snap.provider_for_prefix(prefix)
                assert provider is not None
                self.users.append({"provider": provider, "name": group, "type": "IDP_GROUP", "roles": roles})
        for user in snap.users:
            prefix, _, name = user["user"].partition("/")
            provider = snap.provider_for_prefix(prefix)
            if provider is None:
                self.notes.append(
                    f"$external user {user['user']} matches no provider's authNamePrefix: skipped."
                )
                continue
            if provider.kit.use_authorization_claim:
                self.notes.append(
                    f"$external user {user['user']}: provider {prefix} takes roles from the token's "
                    f"{provider.kit.authorization_claim!r} claim (Atlas GROUP): user not exported."
                )
                continue
            roles = [self._ref(r) for r in user["roles"]]
            self.users.append({"provider": provider, "name": name, "type": "USER", "roles": roles})

    def _ref(self, ref: dict[str, str]) -> tuple[str, str]:
        """A role a user or role inherits: a custom role (by its Atlas name, in admin) or a built-in."""
        if any(r["role"] == ref["role"] and r["db"] == ref["db"] for r in self.snap.roles):
            return role_name(ref["role"]), "admin"
        return ref["role"], ref["db"]

    def _custom_role(self, role: dict[str, Any], inherited: list[tuple[str, str]]) -> str:
        name = role_name(role["role"])
        actions: list[tuple[str, str, str | None]] = []
        for privilege in role["privileges"]:
            resource = privilege["resource"]
            for action in privilege["actions"]:
                atlas = atlas_action(action)
                if atlas not in ATLAS_ACTIONS:
                    self.notes.append(
                        f"role {role['role']}: Atlas custom roles cannot grant {action!r}; left out."
                    )
                elif resource.get("cluster"):
                    actions.append((atlas, "", None))
                elif not resource.get("db"):
                    self.notes.append(
                        f"role {role['role']}: {action!r} on every database has no Atlas form; left out."
                    )
                else:
                    actions.append((atlas, resource["db"], resource.get("collection") or ""))
        self.custom_roles.append({"roleName": name, "actions": actions, "inherited": inherited})
        return name


def build(snap: KitSnapshot) -> Export:
    plan = _Plan(snap)
    placeholders: dict[str, Placeholder] = {**snap.placeholders, **PLACEHOLDERS}
    for p in snap.providers:
        ph = _idp_placeholder(p)
        placeholders[ph.name] = ph
    files = {
        "atlas-setup.sh": script(snap, plan, placeholders),
        "admin-api-requests.json": requests(snap, plan),
    }
    notes = [
        "Atlas accepts workload identity federation on dedicated clusters (M10 and larger) running MongoDB "
        "7.0.11 or later, for drivers (not mongosh or Compass).",
        "In Atlas a user is named <IdP id>/<name>: the id Atlas gives each identity provider takes the place "
        "of the kit's authNamePrefix.",
        "admin-api-requests.json: PATCH connectedOrgConfigs replaces the organization's configuration: "
        "GET it first and keep its values, appending to dataAccessIdentityProviderIds (as the CLI does).",
    ]
    notes += provider_notes(snap.providers) + plan.notes + snap.notes
    return make_export(
        "atlas",
        "MongoDB Atlas: workload identity providers, custom roles and federated database users",
        files,
        placeholders,
        notes=notes,
        sources=snap.sources,
    )


def _display_name(p: ProductionProvider) -> str:
    return f"{p.prefix} workloads"[:50]  # Admin API: displayName is 1-50 characters


def _provider_flags(p: ProductionProvider) -> dict[str, str]:
    """The Atlas fields of one identity provider (CLI flag = API field, except --desc/description)."""
    return {
        "idpType": "WORKLOAD",
        "audience": p.audience,
        "authorizationType": "GROUP" if p.kit.use_authorization_claim else "USER",
        "description": f"{p.title}: the kit's {p.prefix!r} provider",
        # Required by the CLI even for USER authorization (reference §8).
        "groupsClaim": p.kit.authorization_claim or "groups",
        "userClaim": p.kit.principal_name,
        "issuerUri": p.issuer,
    }


def script(snap: KitSnapshot, plan: _Plan, placeholders: dict[str, Placeholder]) -> str:
    body: list[str] = []
    body.append("# 1. A workload identity provider per issuer; Atlas prints its id.")
    for p in snap.providers:
        f = _provider_flags(p)
        create = command(
            "atlas federatedAuthentication federationSettings identityProvider create oidc "
            + quote(_display_name(p)),
            '--federationSettingsId "$FEDERATION_SETTINGS_ID"',
            f"--idpType {f['idpType']}",
            f"--audience {quote(f['audience'])}",
            f"--authorizationType {f['authorizationType']}",
            f"--desc {quote(f['description'])}",
            f"--groupsClaim {quote(f['groupsClaim'])}",
            f"--userClaim {quote(f['userClaim'])}",
            f"--issuerUri {quote(f['issuerUri'])}",
            "--output 'go-template={{.Id}}'",
            indent="  ",
        )
        body.append(f"{_idp_var(p)}=$(\n{create}\n)")
        body.append(f'echo "identity provider {p.prefix}: ${_idp_var(p)}"')
    body.append("")
    body.append("# 2. Connect each provider to the organization for data access.")
    for p in snap.providers:
        body.append(
            command(
                "atlas federatedAuthentication federationSettings connectedOrgConfigs connect",
                '--federationSettingsId "$FEDERATION_SETTINGS_ID"',
                f'--identityProviderId "${_idp_var(p)}"',
                '--orgId "$ORG_ID"',
                "--protocol OIDC",
            )
        )
    if plan.custom_roles:
        body.append("")
        body.append("# 3. Custom roles for the privileges the kit's roles grant directly.")
        for r in plan.custom_roles:
            args = [f"atlas customDbRoles create {quote(r['roleName'])}"]
            privileges = [a if not db else f"{a}@{db}" + (f".{c}" if c else "") for a, db, c in r["actions"]]
            if privileges:
                args.append(f"--privilege {quote(','.join(privileges))}")
            if r["inherited"]:
                args.append(f"--inheritedRole {quote(','.join(f'{n}@{d}' for n, d in r['inherited']))}")
            args.append('--projectId "$ATLAS_PROJECT_ID"')
            body.append(command(*args))
    if plan.users:
        body.append("")
        body.append("# 4. Database users (USER) and groups (IDP_GROUP) of type Federated Auth.")
        for u in plan.users:
            # "${kit_idp_id}/<name>": the id Atlas printed, then the kit's name (placeholders as ${NAME}).
            username = '"${' + _idp_var(u["provider"]) + "}/" + word(u["name"])[1:-1] + '"'
            body.append(
                command(
                    "atlas dbusers create",
                    f"--username {username}",
                    f"--oidcType {u['type']}",
                    f"--role {quote(','.join(f'{n}@{d}' for n, d in u['roles']))}",
                    '--projectId "$ATLAS_PROJECT_ID"',
                )
            )
    text = "\n".join(body) + "\n"
    first = ["FEDERATION_SETTINGS_ID", "ORG_ID", "ATLAS_PROJECT_ID"]
    used = set(VARIABLE_RE.findall(text)) | {n for n in first if f'"${n}"' in text}
    head_vars = [placeholders[n] for n in first if n in used]
    head_vars += [placeholders[n] for n in sorted(used - set(first)) if n in placeholders]
    return (
        HEADER
        + "# MongoDB Atlas workload identity federation, exported by `wif export atlas`.\n"
        + "# Needs the Atlas CLI, logged in (atlas auth login) as an Organization Owner.\n"
        + variables(head_vars)
        + text
    )


def requests(snap: KitSnapshot, plan: _Plan) -> str:
    out: list[dict[str, Any]] = []
    base = "/api/atlas/v2"
    for p in snap.providers:
        f = _provider_flags(p)
        out.append(
            {
                "description": f"create the identity provider for the kit's {p.prefix!r} entry",
                "method": "POST",
                "path": f"{base}/federationSettings/<FEDERATION_SETTINGS_ID>/identityProviders",
                "body": {"displayName": _display_name(p), "protocol": "OIDC", **f},
            }
        )
    out.append(
        {
            "description": "connect the identity providers to the organization for data access",
            "method": "PATCH",
            "path": f"{base}/federationSettings/<FEDERATION_SETTINGS_ID>/connectedOrgConfigs/<ORG_ID>",
            "body": {
                "dataAccessIdentityProviderIds": [_idp_placeholder(p).token for p in snap.providers],
                "domainRestrictionEnabled": False,
                "orgId": "<ORG_ID>",
            },
        }
    )
    for r in plan.custom_roles:
        out.append(
            {
                "description": f"custom role {r['roleName']}",
                "method": "POST",
                "path": f"{base}/groups/<ATLAS_PROJECT_ID>/customDBRoles/roles",
                "body": {
                    "roleName": r["roleName"],
                    "actions": [
                        {
                            "action": a,
                            "resources": [
                                {"cluster": True, "collection": "", "db": ""}
                                if c is None
                                else {"cluster": False, "collection": c, "db": db}
                            ],
                        }
                        for a, db, c in r["actions"]
                    ],
                    "inheritedRoles": [{"db": d, "role": n} for n, d in r["inherited"]],
                },
            }
        )
    kind = {"IDP_GROUP": "group", "USER": "user"}
    for u in plan.users:
        out.append(
            {
                "description": f"federated database {kind[u['type']]} {u['name']}",
                "method": "POST",
                "path": f"{base}/groups/<ATLAS_PROJECT_ID>/databaseUsers",
                "body": {
                    # Admin API: OIDC workload users authenticate against $external, groups admin.
                    "databaseName": "admin" if u["type"] == "IDP_GROUP" else "$external",
                    "groupId": "<ATLAS_PROJECT_ID>",
                    "oidcAuthType": u["type"],
                    "username": f"{_idp_placeholder(u['provider']).token}/{u['name']}",
                    "roles": [{"databaseName": d, "roleName": n} for n, d in u["roles"]],
                },
            }
        )
    return json.dumps(out, indent=2) + "\n"
