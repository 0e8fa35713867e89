"""``wif export azure``: the kit's Entra ID setup as an az CLI script (``azure-setup.sh``).

In order: the app registration that stands for MongoDB (Application ID URI ``api://<client id>``,
``api.requestedAccessTokenVersion`` as the kit's Entra issuer says: 2 for
``https://login.microsoftonline.com/<tenant>/v2.0``, 1 for ``https://sts.windows.net/<tenant>/``;
the groups claim, or app roles when the kit's provider reads ``roles``), the security groups, the
managed identities (user-assigned, as the kit's ``xms_mirid`` shows; system-assigned shown beside
it), the service principals (no secret is created or exported), the group memberships, and the AKS
federated credentials (issuer = the cluster's OIDC issuer, subject
``system:serviceaccount:NS:SA``, audience ``api://AzureADTokenExchange``; real-clouds §4). It ends by
printing the values the other exports' placeholders need.

Commands follow the Azure CLI and Microsoft Graph documentation; no Azure CLI parser installs
offline here, so tests check the script with ``bash -n``, shellcheck and its structure.
"""

from __future__ import annotations

import json
import re

from ..errors import ConfigError
from ..idp.issuers import AZURE_GROUPS, AZURE_TOKEN_EXCHANGE_AUDIENCE
from ..idp.principals import Principal
from ._kit import KitSnapshot, upper_name
from ._model import Export, Placeholder, make_export
from ._shell import HEADER, command, escape, quote, variables
from .k8s import aks_identities

API_APP_NAME = "mongodb-workloads"
GRAPH = "https://graph.microsoft.com/v1.0"
PLACEHOLDERS = {
    p.name: p
    for p in (
        Placeholder(
            "RESOURCE_GROUP",
            "Azure resource group for the managed identities (and the AKS cluster)",
            "az group list -o table (or az group create -n NAME -l LOCATION)",
        ),
        Placeholder("AKS_CLUSTER", "name of your AKS cluster", "az aks list -o table"),
    )
}


def build(snap: KitSnapshot) -> Export:
    entra = snap.of_kind("entra-v2", "entra-v1")
    azure_principals = [p for p in snap.principals if p.issuer_id == "azure"]
    if not entra:
        raise ConfigError(
            "nothing to export for Azure: no Microsoft Entra ID issuer is configured in the kit",
            hint="put the kit's azure issuer back with %wif_mongod reset (the kit's default providers) or "
            "%wif_mongod add, then export again",
        )
    lines: list[str] = []
    notes: list[str] = []
    lines += _app_registration(snap, notes)
    group_vars = _groups(snap, lines)
    lines += _identities(snap, azure_principals, group_vars)
    aks = aks_identities(snap)
    if aks:
        lines += _federated(snap, aks)
        notes.append(
            "AKS: the federated credential's subject must be exactly system:serviceaccount:NAMESPACE:NAME of "
            "the pod's service account (wif export k8s writes it)."
        )
    printed = ["TENANT_ID", "API_APP_CLIENT_ID", *group_vars.values()]
    for p in azure_principals:
        stem = upper_name(p.name)
        printed += [
            f"{stem}_CLIENT_ID",
            f"{stem}_PRINCIPAL_ID" if p.kind == "managed-identity" else f"{stem}_OBJECT_ID",
        ]
    lines.append("")
    lines.append("# The values the other exports' placeholders stand for:")
    lines += [f'echo "{name}=${name}"' for name in printed]
    body = "\n".join(lines) + "\n"
    needed = [PLACEHOLDERS["RESOURCE_GROUP"]] + ([PLACEHOLDERS["AKS_CLUSTER"]] if aks else [])
    script = (
        HEADER
        + "# Microsoft Entra ID and Azure for the kit's workloads, exported by `wif export azure`.\n"
        + "# Needs the Azure CLI, logged in (az login) with rights to create app registrations, groups\n"
        + "# and managed identities. No client secret is created or exported.\n"
        + variables(needed)
        + body
    )
    notes += [
        "Entra puts group object ids in the groups claim, so mongod's roles are named "
        "<authNamePrefix>/<group object id>; the script prints the ids of the groups it creates.",
        "A groups claim in app-only (workload) tokens needs groupMembershipClaims on the app registration; "
        "whether every token type carries it is UNCONFIRMED, and app roles (a roles claim) are the "
        "documented alternative.",
        *snap.notes,
    ]
    return make_export(
        "azure",
        "Microsoft Azure: app registration, groups, managed identities, federated credentials",
        {"azure-setup.sh": script},
        {**snap.placeholders, **PLACEHOLDERS},
        notes=notes,
        sources=snap.sources,
    )


def _app_registration(snap: KitSnapshot, notes: list[str]) -> list[str]:
    kinds = {p.kind for p in snap.of_kind("entra-v2", "entra-v1")}
    version = 2 if "entra-v2" in kinds else 1
    if kinds == {"entra-v2", "entra-v1"}:
        notes.append(
            "The kit trusts both Entra v1.0 and v2.0 issuers; one app registration issues one version "
            "(2 here): register a second API app for the v1.0 audience."
        )
    claims = {
        p.kit.authorization_claim
        for p in snap.of_kind("entra-v2", "entra-v1")
        if p.kit.use_authorization_claim
    }
    patch: dict[str, object] = {"api": {"requestedAccessTokenVersion": version}}
    if "groups" in claims:
        patch["groupMembershipClaims"] = "SecurityGroup"
    lines = [
        "",
        "TENANT_ID=$(az account show --query tenantId -o tsv)",
        "",
        "# 1. The app registration that stands for MongoDB: its client id is the tokens' audience (v2.0),",
        "#    its Application ID URI api://<client id> the resource workloads ask a token for.",
        f"API_APP_CLIENT_ID=$(az ad app create --display-name {API_APP_NAME} --query appId -o tsv)",
        'az ad app update --id "$API_APP_CLIENT_ID" --identifier-uris "api://$API_APP_CLIENT_ID"',
        'api_app_object_id=$(az ad app show --id "$API_APP_CLIENT_ID" --query id -o tsv)',
        f"# Token version {version}: "
        + (
            "iss https://login.microsoftonline.com/$TENANT_ID/v2.0, aud = the client id."
            if version == 2
            else "iss https://sts.windows.net/$TENANT_ID/ (trailing slash), aud = the Application ID URI."
        ),
        command(
            "az rest --method PATCH",
            f'--uri "{GRAPH}/applications/$api_app_object_id"',
            "--headers Content-Type=application/json",
            f"--body {quote(json.dumps(patch))}",
        ),
        'az ad sp create --id "$API_APP_CLIENT_ID" --output none',
    ]
    if "roles" in claims:
        lines += _app_roles(snap)
    return lines


def _app_roles(snap: KitSnapshot) -> list[str]:
    """App roles named after the kit's roles of the Entra providers that read the ``roles`` claim."""
    prefixes = {
        p.prefix for p in snap.of_kind("entra-v2", "entra-v1") if p.kit.authorization_claim == "roles"
    }
    names = sorted(
        {
            r["role"].split("/", 1)[1]
            for r in snap.roles
            if r["role"].split("/", 1)[0] in prefixes and "/" in r["role"]
        }
    )
    if not names:
        return []
    lines = ["", "# App roles (the tokens' roles claim): one per kit role the roles claim must carry."]
    roles = []
    for name in names:
        var = f"app_role_{upper_name(name).lower()}"
        lines.append(f"{var}=$(cat /proc/sys/kernel/random/uuid)")
        roles.append(
            {
                "allowedMemberTypes": ["Application"],
                "displayName": name,
                "value": name,
                "description": f"MongoDB role {name}",
                "isEnabled": True,
                "id": "${" + var + "}",
            }
        )
    # Double-quoted so the generated role ids expand; everything else in the JSON is escaped.
    body = re.sub(r"\\\$\{(app_role_[a-z0-9_]+)\}", r"${\1}", escape(json.dumps({"appRoles": roles})))
    lines.append(
        command(
            "az rest --method PATCH",
            f'--uri "{GRAPH}/applications/$api_app_object_id"',
            "--headers Content-Type=application/json",
            f'--body "{body}"',
        )
    )
    lines.append(
        "# Grant a role to a workload: az rest --method POST --uri "
        f"{GRAPH}/servicePrincipals/PRINCIPAL_ID/appRoleAssignments --body "
        '\'{"principalId": "PRINCIPAL_ID", "resourceId": "API_SP_ID", "appRoleId": "ROLE_ID"}\''
    )
    return lines


def _groups(snap: KitSnapshot, lines: list[str]) -> dict[str, str]:
    """Create the Entra groups the kit's azure roles and principals name; group name → variable."""
    used = {g for p in snap.principals if p.issuer_id == "azure" for g in p.groups}
    used |= {value for value in AZURE_GROUPS.values() if any(value in r["role"] for r in snap.roles)}
    names = {object_id: name for name, object_id in AZURE_GROUPS.items()}
    found = {names[g]: f"{upper_name(names[g])}_GROUP_ID" for g in sorted(used) if g in names}
    if found:
        lines += ["", "# 2. Security groups: their object ids are what the groups claim carries."]
    for name, var in found.items():
        lines.append(
            f"{var}=$(az ad group create --display-name {name} --mail-nickname {name} --query id -o tsv)"
        )
    return found


def _identities(snap: KitSnapshot, principals: list[Principal], group_vars: dict[str, str]) -> list[str]:
    if not principals:
        return []
    names = {object_id: name for name, object_id in AZURE_GROUPS.items()}
    lines = ["", "# 3. The workloads' identities."]
    for p in principals:
        stem = upper_name(p.name)
        lines.append(f"# {p.name}: {p.infrastructure}")
        if p.kind == "managed-identity":
            show = f'az identity show -g "$RESOURCE_GROUP" -n {p.name}'
            lines += [
                f'az identity create -g "$RESOURCE_GROUP" -n {p.name} --output none',
                f"{stem}_CLIENT_ID=$({show} --query clientId -o tsv)",
                f"{stem}_PRINCIPAL_ID=$({show} --query principalId -o tsv)",
            ]
            if "VM" in p.infrastructure:
                lines += [
                    "#   attach it (user-assigned) to the VM:",
                    f'#   az vm identity assign -g "$RESOURCE_GROUP" -n VM_NAME --identities {p.name}',
                    "#   or use the VM's system-assigned identity instead: az vm identity assign -g "
                    '"$RESOURCE_GROUP" -n VM_NAME (its principalId is then the sub)',
                ]
            member = f"${stem}_PRINCIPAL_ID"
        else:
            lines += [
                f"{stem}_CLIENT_ID=$(az ad app create --display-name {p.name} --query appId -o tsv)",
                f'{stem}_OBJECT_ID=$(az ad sp create --id "${stem}_CLIENT_ID" --query id -o tsv)',
                "#   its credential: prefer a certificate or a federated credential; a client secret is",
                f'#   printed once by: az ad app credential reset --id "${stem}_CLIENT_ID" --append',
            ]
            member = f"${stem}_OBJECT_ID"
        for g in p.groups:
            var = group_vars.get(names.get(g, ""))
            if var is not None:
                lines.append(f'az ad group member add --group "${var}" --member-id "{member}"')
    return lines


def _federated(snap: KitSnapshot, aks: list[tuple[Principal, str, str]]) -> list[str]:
    cluster = '-g "$RESOURCE_GROUP" -n "$AKS_CLUSTER"'
    lines = [
        "",
        "# 4. AKS workload identity: the cluster's issuer, and a federated credential per service account.",
        f"az aks update {cluster} --enable-oidc-issuer --enable-workload-identity",
        f"AKS_OIDC_ISSUER=$(az aks show {cluster} --query oidcIssuerProfile.issuerUrl -o tsv)",
    ]
    for identity, namespace, name in aks:
        lines.append(
            command(
                "az identity federated-credential create",
                f"--name {quote(f'{namespace}-{name}')}",
                f"--identity-name {identity.name}",
                '--resource-group "$RESOURCE_GROUP"',
                '--issuer "$AKS_OIDC_ISSUER"',
                f"--subject {quote(f'system:serviceaccount:{namespace}:{name}')}",
                f"--audience {AZURE_TOKEN_EXCHANGE_AUDIENCE}",
            )
        )
    lines.append('echo "CLUSTER_ISSUER_URL=$AKS_OIDC_ISSUER"')
    return lines
