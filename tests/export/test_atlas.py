"""`wif export atlas`: every Atlas CLI command uses only the flags the Atlas CLI defines, with its
required flags and allowed values, and every Admin API body matches the Admin API v2 schemas.

No Atlas CLI installs from PyPI, npm or Debian, so its flags are written down here from its source:
mongodb/mongodb-atlas-cli at 8ddea41 (2026-08-21), internal/cli/federatedauthentication/
federationsettings/identityprovider/create/oidc.go (OIDCBuilder), …/connectedorgsconfigs/connect.go
(ConnectBuilder), internal/cli/customdbroles/create.go, internal/cli/dbusers/create.go, flag names in
internal/flag/flags.go, and `-o/--output` from cli.OutputOpts. The schemas are those of the Atlas
Admin API v2 OpenAPI document (the same repository's tools/internal/specs/spec.yaml):
FederationOidcIdentityProviderUpdate, ConnectedOrgConfig, UserCustomDBRole (DatabasePrivilegeAction,
DatabasePermittedNamespaceResource, DatabaseInheritedRole) and CloudDatabaseUser (DatabaseUserRole).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import jsonschema
import pytest

from wif_notebook.export import Export
from wif_notebook.export.atlas import ATLAS_ACTIONS, atlas_action
from wif_notebook.idp.issuers import ISSUERS

from .conftest import values_for

OUTPUT = {"output", "o"}
ATLAS_CLI: dict[tuple[str, ...], dict[str, Any]] = {
    ("federatedAuthentication", "federationSettings", "identityProvider", "create", "oidc"): {
        "args": (1, 1),
        "flags": {
            "federationSettingsId", "idpType", "audience", "authorizationType", "clientId", "desc",
            "groupsClaim", "userClaim", "issuerUri", "associatedDomain", "requestedScope", *OUTPUT,
        },
        "required": {
            "federationSettingsId", "idpType", "audience", "authorizationType", "desc", "groupsClaim",
            "userClaim", "issuerUri",
        },
        "enums": {"idpType": {"WORKFORCE", "WORKLOAD"}, "authorizationType": {"GROUP", "USER"}},
    },
    ("federatedAuthentication", "federationSettings", "connectedOrgConfigs", "connect"): {
        "args": (0, 0),
        "flags": {"federationSettingsId", "identityProviderId", "protocol", "orgId", *OUTPUT},
        "required": {"federationSettingsId", "identityProviderId"},
        "enums": {"protocol": {"OIDC", "SAML"}},
    },
    ("customDbRoles", "create"): {
        "args": (1, 1),
        "flags": {"inheritedRole", "privilege", "projectId", *OUTPUT},
        "required": set(),
        "enums": {},
    },
    ("dbusers", "create"): {
        "args": (0, 99),  # built-in roles may be given as arguments
        "flags": {
            "username", "u", "password", "p", "deleteAfter", "desc", "role", "scope", "x509Type",
            "awsIAMType", "ldapType", "oidcType", "projectId", *OUTPUT,
        },
        "required": {"username"},
        "enums": {"oidcType": {"NONE", "USER", "IDP_GROUP"}},
        "exclusive": [{"password", "oidcType"}],
    },
}  # fmt: skip


def atlas_commands(script: str) -> list[list[str]]:
    """Each `atlas ...` command of the script as its argv (continuation lines joined)."""
    joined = script.replace("\\\n", " ")
    return [shlex.split(line.strip()) for line in joined.splitlines() if line.strip().startswith("atlas ")]


def check_command(argv: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    words = argv[1:]
    path = next(p for p in ATLAS_CLI if tuple(words[: len(p)]) == p)
    spec = ATLAS_CLI[path]
    rest = words[len(path) :]
    args: list[str] = []
    flags: dict[str, str] = {}
    while rest:
        word = rest.pop(0)
        if word.startswith("-"):
            name = word.lstrip("-")
            assert name in spec["flags"], f"{' '.join(path)}: the Atlas CLI has no flag --{name}"
            flags[name] = rest.pop(0)
        else:
            args.append(word)
    low, high = spec["args"]
    assert low <= len(args) <= high, f"{' '.join(path)}: {len(args)} positional arguments"
    assert spec["required"] <= flags.keys(), f"{' '.join(path)}: missing {spec['required'] - flags.keys()}"
    for name, allowed in spec["enums"].items():
        if name in flags:
            assert flags[name] in allowed, f"--{name} {flags[name]} is not one of {allowed}"
    for group in spec.get("exclusive", []):
        assert len(group & flags.keys()) <= 1
    return path, flags


def test_every_atlas_cli_command_uses_documented_flags_and_values(exports: dict[str, Export]) -> None:
    commands = [check_command(argv) for argv in atlas_commands(exports["atlas"].files["atlas-setup.sh"])]
    paths = [path[0] for path, _ in commands]
    # every provider of the kit's mongod.conf (one per kit issuer, and Entra's v1 issuer azure-v1)
    # created, then connected
    assert paths.count("federatedAuthentication") == 2 * (len(ISSUERS) + 1)
    providers = {f["desc"].rsplit(" ", 2)[-2].strip("'"): f for p, f in commands if p[-1] == "oidc"}
    assert {f["authorizationType"] for f in providers.values()} == {"GROUP", "USER"}
    assert all(f["idpType"] == "WORKLOAD" for f in providers.values())
    users = {f["username"]: f for p, f in commands if p == ("dbusers", "create")}
    assert users == {
        "${kit_idp_id}/lesson-readers": {**users["${kit_idp_id}/lesson-readers"], "oidcType": "IDP_GROUP"},
        "${azure_idp_id}/${ORDERS_WRITERS_GROUP_ID}": {
            **users["${azure_idp_id}/${ORDERS_WRITERS_GROUP_ID}"],
            "oidcType": "IDP_GROUP",
        },
        "${k8s_idp_id}/system:serviceaccount:shop:orders-worker": {
            **users["${k8s_idp_id}/system:serviceaccount:shop:orders-worker"],
            "oidcType": "USER",
            "role": "readWrite@shop",
        },
        "${gcp_idp_id}/${GCE_WORKER_UNIQUE_ID}": {
            **users["${gcp_idp_id}/${GCE_WORKER_UNIQUE_ID}"],
            "oidcType": "USER",
            "role": "read@reports",
        },
    }
    assert (
        users["${azure_idp_id}/${ORDERS_WRITERS_GROUP_ID}"]["role"]
        == "azure-${ORDERS_WRITERS_GROUP_ID}@admin"
    )
    assert users["${kit_idp_id}/lesson-readers"]["role"] == "read@test"
    roles = {
        argv[3]: check_command(argv)[1]
        for argv in atlas_commands(exports["atlas"].files["atlas-setup.sh"])
        if argv[1] == "customDbRoles"
    }
    assert sorted(roles["orderAuditor"]["privilege"].split(",")) == [
        "COLL_STATS@shop.orders",
        "FIND@shop.orders",
    ]
    group_role = roles["azure-${ORDERS_WRITERS_GROUP_ID}"]
    assert sorted(group_role["privilege"].split(",")) == ["INSERT@shop.audit", "LIST_INDEXES@shop.audit"]
    assert group_role["inheritedRole"] == "readWrite@shop,orderAuditor@admin"
    assert "inheritedRole" not in roles["orderAuditor"]


def test_the_flag_check_refuses_an_unknown_flag_and_a_wrong_value() -> None:
    with pytest.raises(AssertionError, match="no flag --issuer"):
        check_command(shlex.split("atlas dbusers create --username u --issuer x"))
    with pytest.raises(AssertionError, match="IDP_GROUPS"):
        check_command(shlex.split("atlas dbusers create --username u --oidcType IDP_GROUPS --role read@x"))
    with pytest.raises(AssertionError, match="missing"):
        check_command(
            shlex.split("atlas federatedAuthentication federationSettings connectedOrgConfigs connect")
        )


def _string(**kw: Any) -> dict[str, Any]:
    return {"type": "string", **kw}


HEX24 = "^([a-f0-9]{24})$"
SCHEMAS: dict[str, dict[str, Any]] = {
    "identityProviders": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "audience": _string(),
            "authorizationType": _string(enum=["GROUP", "USER"]),
            "description": _string(),
            "displayName": _string(minLength=1, maxLength=50),
            "groupsClaim": _string(),
            "idpType": _string(enum=["WORKFORCE", "WORKLOAD"]),
            "issuerUri": _string(),
            "protocol": _string(enum=["SAML", "OIDC"]),
            "userClaim": _string(),
            "associatedDomains": {"type": "array", "items": _string()},
            "clientId": _string(),
            "requestedScopes": {"type": "array", "items": _string()},
        },
    },
    "connectedOrgConfigs": {
        "type": "object",
        "required": ["domainRestrictionEnabled", "orgId"],
        "properties": {
            "dataAccessIdentityProviderIds": {"type": "array", "items": _string(pattern=HEX24)},
            "domainRestrictionEnabled": {"type": "boolean"},
            "orgId": _string(pattern=HEX24),
        },
    },
    "customDBRoles": {
        "type": "object",
        "additionalProperties": False,
        "required": ["roleName"],
        "properties": {
            "roleName": _string(),
            "actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["action", "resources"],
                    "properties": {
                        "action": _string(enum=sorted(ATLAS_ACTIONS)),
                        "resources": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["cluster", "collection", "db"],
                                "properties": {
                                    "cluster": {"type": "boolean"},
                                    "collection": _string(),
                                    "db": _string(),
                                },
                            },
                        },
                    },
                },
            },
            "inheritedRoles": {
                "type": "array",
                "items": {"type": "object", "required": ["db", "role"]},
            },
        },
    },
    "databaseUsers": {
        "type": "object",
        "required": ["databaseName", "groupId", "roles", "username"],
        "properties": {
            "databaseName": _string(enum=["admin", "$external"]),
            "groupId": _string(),
            "oidcAuthType": _string(enum=["NONE", "IDP_GROUP", "USER"]),
            "username": _string(maxLength=1024),
            "roles": {
                "type": "array",
                "items": {"type": "object", "required": ["databaseName", "roleName"]},
            },
        },
    },
}


def test_admin_api_bodies_match_the_admin_api_schemas(exports: dict[str, Export]) -> None:
    result = exports["atlas"]
    requests = json.loads(result.filled(values_for(result))["admin-api-requests.json"])
    seen = set()
    for request in requests:
        kind = next(k for k in SCHEMAS if k in request["path"])
        jsonschema.validate(request["body"], SCHEMAS[kind])
        seen.add((request["method"], kind))
    assert seen == {
        ("POST", "identityProviders"),
        ("PATCH", "connectedOrgConfigs"),
        ("POST", "customDBRoles"),
        ("POST", "databaseUsers"),
    }
    users = [r["body"] for r in requests if "databaseUsers" in r["path"]]
    # Admin API: OIDC workload users authenticate in $external, groups in admin.
    assert {(u["oidcAuthType"], u["databaseName"]) for u in users} == {
        ("USER", "$external"),
        ("IDP_GROUP", "admin"),
    }


def test_mongodb_action_names_become_atlas_action_names() -> None:
    assert [
        atlas_action(a) for a in ("find", "listCollections", "collStats", "inprog", "killop", "netstat")
    ] == [
        "FIND",
        "LIST_COLLECTIONS",
        "COLL_STATS",
        "IN_PROG",
        "KILL_OP",
        "NET_STAT",
    ]
    assert atlas_action("renameCollectionSameDB") == "RENAME_COLLECTION_SAME_DB"
    assert atlas_action("createUser") not in ATLAS_ACTIONS  # Atlas custom roles cannot grant it
