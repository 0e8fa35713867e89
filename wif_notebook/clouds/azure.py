"""Microsoft Entra ID and Azure hosting (managed identity, App Service, AKS workload identity).

The IdP side is ``idp/entra.py``. How Microsoft's hosts map to the kit's URLs (``I`` = the IdP's
origin, ``https://localhost:<port>`` for token endpoints and ``http://localhost:<port>`` for the
metadata endpoints, which are plain http on a real host too):

==================================================================  ==================================
real                                                                 kit
==================================================================  ==================================
``https://login.microsoftonline.com`` (``AZURE_AUTHORITY_HOST``)      ``I`` (Entra at the origin's root:
                                                                     MSAL reads the first path segment
                                                                     as the tenant)
v2 issuer ``https://login.microsoftonline.com/<tenant>/v2.0``         ``I/<tenant>/v2.0``
v1 issuer ``https://sts.windows.net/<tenant>/`` (trailing slash)      ``I/<tenant>/`` (trailing slash)
``…/<tenant>/oauth2/v2.0/token``, ``…/<tenant>/oauth2/token``          ``I/<tenant>/oauth2/v2.0/token``,
                                                                     ``I/<tenant>/oauth2/token``
``…/<tenant>/discovery/v2.0/keys``, ``…/common/discovery/keys``       same paths under ``I``
``…/common/discovery/instance`` (MSAL's instance discovery)           ``I/common/discovery/instance``;
                                                                     the real URL is answered by the
                                                                     IdP's vendor-host proxy
                                                                     (``HTTPS_PROXY``, ``vendor_hosts``)
IMDS ``http://169.254.169.254/metadata/identity/oauth2/token``       ``http://localhost:<port>/…`` via
                                                                     ``AZURE_POD_IDENTITY_AUTHORITY_HOST``
                                                                     (azure-identity and msal honour
                                                                     it), or cloudsim for pymongo
App Service ``IDENTITY_ENDPOINT`` (``http://127.0.0.1:41741/MSI/token``)  ``http://localhost:<port>/MSI/token``
==================================================================  ==================================

mongod trusts both issuers by default: ``azure`` (v2, audience the resource application's id) and
``azure-v1`` (v1, audience ``api://<v1 application id>``), each with roles from ``groups``.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import TokenError
from ..httpclient import DEFAULT_TIMEOUT
from ..idp.issuers import (
    AZURE_GROUPS,
    AZURE_RESOURCE_APP_ID,
    AZURE_TENANT_ID,
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AZURE_V1_RESOURCE_APP_ID,
    Issuer,
)
from . import ClaimsDraft, Cloud, ConnectPlan, EnvContext, MetadataHost, PrincipalKind, ProductionIssuer

if TYPE_CHECKING:
    from ..idp.principals import Principal
    from ..state import StateDir
    from ..tokens import IssuedToken

INSTANCE_DISCOVERY_PATH = "/common/discovery/instance"
# A GUID as Entra writes tenant, application and object ids (a regular expression, unanchored).
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Where the AKS webhook mounts the projected token (AZURE_FEDERATED_TOKEN_FILE) on a real pod.
AKS_TOKEN_FILE_KIND = "aks"


# idp.entra (this platform's IdP side) is imported where it is used: it brings PyJWT and the
# catalog, which the registry's readers (``%load_ext wif_notebook``, cloudsim) must not pay for.
def _idp_handler(idp: Any, req: Any) -> Any:
    from ..idp import entra

    return entra.handle(idp, req)


def _shape_claims(draft: ClaimsDraft) -> None:
    from ..idp import entra

    entra.shape_claims(
        draft.claims,
        draft.principal,
        draft.audience,
        base_url=draft.base_url,
        catalog=draft.catalog(),
        acr=draft.acr,
    )


def v1_issuer(base_url: str) -> str:
    """The kit's stand-in for ``https://sts.windows.net/<tenant>/`` (trailing slash included)."""
    return f"{base_url.rstrip('/')}/{AZURE_TENANT_ID}/"


def extra_issuers(base_url: str) -> dict[str, tuple[str, str]]:
    """Entra's v1 issuer, published next to the ``azure`` (v2) issuer: same tenant, same keys."""
    return {"azure-v1": (v1_issuer(base_url), f"api://{AZURE_V1_RESOURCE_APP_ID}")}


def _hosted_on_app_service(principal: Principal) -> bool:
    where = principal.infrastructure.lower()
    return "app service" in where or "functions" in where


def _aks_federated(principal: Principal) -> bool:
    return any(
        c.audience == AZURE_TOKEN_EXCHANGE_AUDIENCE and c.issuer == "k8s"
        for c in principal.federated_credentials
    )


def workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    """What the principal's real host puts in a workload's environment (azure-identity reads it):

    - service principal: the EnvironmentCredential variables, secret included (asked for by name);
    - managed identity with a federated credential for a Kubernetes service account: what the AKS
      workload-identity webhook injects (client id, tenant, authority host, token file);
    - managed identity on App Service / Functions: ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``;
    - managed identity on a VM: the IMDS override ``AZURE_POD_IDENTITY_AUTHORITY_HOST``.

    A user-assigned identity also gets ``AZURE_CLIENT_ID``, as Azure's docs tell its users to set
    for ``DefaultAzureCredential``; a system-assigned one needs no id.
    """
    from ..idp.entra import identity_header
    from ..idp.tokenfiles import token_file_path

    env: dict[str, str] = {}
    if principal.kind == "service-principal":
        env.update(
            AZURE_CLIENT_ID=principal.client_id,
            AZURE_TENANT_ID=AZURE_TENANT_ID,
            AZURE_AUTHORITY_HOST=ctx.idp_https,
        )
        if principal.client_secret:
            env["AZURE_CLIENT_SECRET"] = principal.client_secret
        return env
    if principal.kind != "managed-identity":
        return env
    if _aks_federated(principal):
        return {
            "AZURE_CLIENT_ID": principal.client_id,
            "AZURE_TENANT_ID": AZURE_TENANT_ID,
            # As the webhook writes it (https://login.microsoftonline.com/): with a trailing slash.
            "AZURE_AUTHORITY_HOST": f"{ctx.idp_https}/",
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file_path(ctx.state, AKS_TOKEN_FILE_KIND)),
        }
    if _hosted_on_app_service(principal):
        env["IDENTITY_ENDPOINT"] = f"{ctx.idp_http}{APP_SERVICE_PATH}"
        env["IDENTITY_HEADER"] = identity_header(ctx.state)
    else:
        env["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = ctx.idp_http
    if not principal.system_assigned:
        env["AZURE_CLIENT_ID"] = principal.client_id
    return env


IMDS_PATH = "/metadata/identity/oauth2/token"  # on 169.254.169.254; idp.entra answers it
APP_SERVICE_PATH = "/MSI/token"  # IDENTITY_ENDPOINT's path on App Service; idp.entra answers it


def imds_token(
    resource: str,
    *,
    principal: str | Principal | None = None,
    state: StateDir | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IssuedToken:
    """An Azure managed-identity token, requested exactly as pymongo's ``ENVIRONMENT:azure`` does
    (``tokens.azure_imds``).

    ``principal`` picks a user-assigned identity by its client id (the connection-string username
    in pymongo); without it the VM's default identity answers.
    """
    from .. import tokens

    started = time.perf_counter()
    state, _record = tokens.running_idp(state)
    query = f"api-version=2018-02-01&resource={urllib.parse.quote(resource)}"
    name = None
    if principal is not None:
        who = tokens.resolve_principal(state, principal)
        name = who.name
        query += f"&client_id={urllib.parse.quote(who.client_id)}"
    url, response = tokens.ask_host(
        "Azure IMDS token request",
        f"{IMDS_PATH}?{query}",
        {"Accept": "application/json", "Metadata": "true"},
        state=state,
        timeout=timeout,
    )
    try:
        doc = response.json()
    except ValueError as exc:
        raise TokenError(f"Azure IMDS at {url} did not return JSON", hint="check the IdP's log") from exc
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if not token or not doc.get("expires_in"):
        # pymongo raises the same way (ValueError "Azure IMDS response must contain ...").
        raise TokenError("Azure IMDS response must contain access_token and expires_in", hint="check the IdP")
    return tokens.IssuedToken.build(str(token), method="imds", source=url, started=started, principal=name)


def _imds_method(state: StateDir, principal: Principal, audience: str | None) -> IssuedToken:
    return imds_token(audience or principal.default_audience, principal=principal, state=state)


def _seed() -> list[tuple[str, dict[str, Any]]]:
    """A VM's managed identity (IMDS), a service principal with a secret and an AKS workload
    identity. Entra puts group object ids (GUIDs) in ``groups``; the kit's tenant has fixed ones."""
    from ..idp.principals import generated_guid, generated_secret

    return [
        (
            "Azure user-assigned managed identity of a VM: the Azure IMDS endpoint answers for it. "
            f"Group {AZURE_GROUPS['inventory-readers']} is inventory-readers.",
            {
                "name": "inventory-vm",
                "kind": "managed-identity",
                "issuer": "azure",
                "infrastructure": "Azure VM",
                "client_id": generated_guid(),
                "subject": generated_guid(),
                "groups": [AZURE_GROUPS["inventory-readers"]],
                "claims": {
                    "xms_mirid": f"/subscriptions/{generated_guid()}/resourcegroups/wif-kit/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/inventory-vm"
                },
                "default": True,
            },
        ),
        (
            f"Azure service principal (app registration) with a client secret. "
            f"Group {AZURE_GROUPS['reports-readers']} is reports-readers.",
            {
                "name": "reports-sp",
                "kind": "service-principal",
                "issuer": "azure",
                "infrastructure": "any host (Entra app registration)",
                "client_id": generated_guid(),
                "client_secret": generated_secret(),
                "subject": generated_guid(),
                "groups": [AZURE_GROUPS["reports-readers"]],
            },
        ),
        (
            "Azure managed identity used by AKS workload identity: a federated credential trusts "
            "the k8s service account shop/orders-worker. "
            f"Group {AZURE_GROUPS['orders-writers']} is orders-writers.",
            {
                "name": "orders-identity",
                "kind": "managed-identity",
                "issuer": "azure",
                "infrastructure": "Azure Kubernetes Service (workload identity)",
                "client_id": generated_guid(),
                "subject": generated_guid(),
                "groups": [AZURE_GROUPS["orders-writers"]],
                "federated_credentials": [
                    {
                        "issuer": "k8s",
                        "subject": "system:serviceaccount:shop:orders-worker",
                        "audience": AZURE_TOKEN_EXCHANGE_AUDIENCE,
                    }
                ],
            },
        ),
    ]


def _seed_later() -> list[tuple[str, dict[str, Any]]]:
    """Azure hosting shapes the catalog's older entries do not show: an App Service / Functions app
    with a user-assigned identity (IDENTITY_ENDPOINT + IDENTITY_HEADER, `wif env --principal`)."""
    import uuid

    subscription = str(uuid.uuid4())
    return [
        (
            "Azure App Service app with a user-assigned managed identity: the App Service identity "
            "endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER) answers for it. Group "
            f"{AZURE_GROUPS['orders-writers']} is orders-writers.",
            {
                "name": "checkout-webapp",
                "kind": "managed-identity",
                "issuer": "azure",
                "infrastructure": "Azure App Service",
                "client_id": str(uuid.uuid4()),
                "subject": str(uuid.uuid4()),
                "groups": [AZURE_GROUPS["orders-writers"]],
                "claims": {
                    "xms_mirid": f"/subscriptions/{subscription}/resourcegroups/wif-kit/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/checkout-webapp"
                },
            },
        )
    ]


# -- explaining Entra issuer mistakes (for `wif claims` and the doctor) ----------------------------
# v1: https://sts.windows.net/<tenant>/ (kit: <origin>/<tenant>/); v2: …/<tenant>/v2.0
_ENTRA_ISSUER = re.compile(rf"^(?P<origin>https?://[^/]+)/(?P<tenant>{GUID})(?P<rest>/v2\.0|/)?/?$")


@dataclass(frozen=True)
class _EntraIssuer:
    url: str
    tenant: str
    version: int | None  # None: the tenant URL without the v1 slash or v2.0 suffix


def _entra_issuer(url: str) -> _EntraIssuer | None:
    match = _ENTRA_ISSUER.match(url)
    if match is None:
        return None
    rest = match.group("rest")
    version = 2 if rest == "/v2.0" else 1 if url.endswith("/") and rest == "/" else None
    return _EntraIssuer(url, match.group("tenant").lower(), version)


def explain_issuer_mixup(token_iss: str, token_aud: Any, configured: list[tuple[str, str]]) -> str | None:
    """Plain words for an Entra token that no configured ``(issuer, audience)`` accepts because of
    a v1/v2 mix-up, or which of Entra's issuers ends with a slash when the configured one differs
    only by it (the rule book says that it does: ``oidc.issuer_slash_words``); None when that is not
    the mistake.

    mongod compares ``iss`` and ``aud`` character for character. Entra v1 tokens say
    ``https://sts.windows.net/<tenant>/`` (with the slash) and carry the requested resource as
    ``aud`` (``api://<app id>``); v2 tokens say ``https://login.microsoftonline.com/<tenant>/v2.0``
    and carry the application id. Which one a workload gets is the *resource* application's choice
    (``accessTokenAcceptedVersion``), not the endpoint it called.
    """
    from ..oidc import slash_twin

    auds = token_aud if isinstance(token_aud, list) else [token_aud]
    mine = _entra_issuer(token_iss)
    if mine is None or mine.version is None:
        return None
    if slash_twin(token_iss, [issuer for issuer, _ in configured]) is not None:
        return (
            f"This is an Entra v{mine.version}.0 token: v1.0 issuers end with a slash "
            "(https://sts.windows.net/<tenant>/), v2.0 issuers do not "
            "(https://login.microsoftonline.com/<tenant>/v2.0)."
        )
    for issuer, audience in configured:
        theirs = _entra_issuer(issuer)
        if theirs is None or theirs.tenant != mine.tenant or theirs.version in (None, mine.version):
            continue
        token_kind = f"an Entra v{mine.version}.0 token"
        wanted = f"v{theirs.version}.0 tokens"
        aud = auds[0] if auds else "(none)"
        return (
            f"This is {token_kind} (issuer {token_iss!r}), but the server trusts the {wanted} issuer "
            f"{issuer!r} of the same tenant. Entra chooses the version from the resource application's "
            "accessTokenAcceptedVersion (null or 1: v1.0 with issuer https://sts.windows.net/<tenant>/ and "
            "aud the Application ID URI such as api://<app id>; 2: v2.0 with issuer "
            "https://login.microsoftonline.com/<tenant>/v2.0 and aud the application id), whichever "
            f"endpoint the workload called. Either configure issuer {token_iss!r} with audience {aud!r}, "
            f"or set accessTokenAcceptedVersion to {theirs.version} in the API's app manifest "
            f"(the server expects audience {audience!r})."
        )
    return None


def _export_values(principals: list[Principal]) -> list[tuple[str | None, Any]]:
    """The kit's tenant, resource application, group object ids and each principal's ids, as the
    placeholders ``wif export`` writes for them (with where to find the real ones)."""
    from ..export._kit import upper_name
    from ..export._model import Placeholder

    values: list[tuple[str | None, Any]] = [
        (
            AZURE_TENANT_ID,
            Placeholder(
                "TENANT_ID",
                "your Microsoft Entra tenant (directory) id",
                "az account show --query tenantId -o tsv",
            ),
        ),
        (
            AZURE_RESOURCE_APP_ID,
            Placeholder(
                "API_APP_CLIENT_ID",
                "application (client) id of the Entra app registration that stands for your MongoDB "
                "deployment: the audience of its tokens",
                "printed by the script of wif export azure (az ad app create ... --query appId)",
            ),
        ),
    ]
    for group, object_id in AZURE_GROUPS.items():
        values.append(
            (
                object_id,
                Placeholder(
                    f"{upper_name(group)}_GROUP_ID",
                    f"object id of the Entra security group {group}",
                    f"az ad group show --group {group} --query id -o tsv",
                ),
            )
        )
    for p in principals:
        stem = upper_name(p.name)
        if p.issuer_id == "azure" and p.kind == "managed-identity":
            values.append(
                (
                    p.client_id,
                    Placeholder(
                        f"{stem}_CLIENT_ID",
                        f"client id of the managed identity {p.name}",
                        f"az identity show -g RESOURCE_GROUP -n {p.name} --query clientId -o tsv",
                    ),
                )
            )
            values.append(
                (
                    p.subject,
                    Placeholder(
                        f"{stem}_PRINCIPAL_ID",
                        f"object (principal) id of the managed identity {p.name}: its tokens' sub and oid",
                        f"az identity show -g RESOURCE_GROUP -n {p.name} --query principalId -o tsv",
                    ),
                )
            )
        elif p.issuer_id == "azure":
            values.append(
                (
                    p.client_id,
                    Placeholder(
                        f"{stem}_CLIENT_ID",
                        f"application (client) id of the app registration {p.name}",
                        f"az ad app list --display-name {p.name} --query [0].appId -o tsv",
                    ),
                )
            )
            values.append(
                (
                    p.subject,
                    Placeholder(
                        f"{stem}_OBJECT_ID",
                        f"object id of the service principal of {p.name}: its tokens' sub and oid",
                        f"az ad sp show --id {stem}_CLIENT_ID --query id -o tsv",
                    ),
                )
            )
    return values


CLOUD = Cloud(
    id="azure",
    title="Microsoft Entra ID / Azure",
    issuers=(
        Issuer(
            id="azure",
            title="Microsoft Entra ID tenant (v2.0 tokens; v1.0 per resource application)",
            route_base=f"/{AZURE_TENANT_ID}",
            issuer_suffix="/v2.0",
            jwks_path="/discovery/v2.0/keys",
            token_path="/oauth2/v2.0/token",
            # Entra v2.0 access tokens always carry the resource application's client id as aud.
            default_audience=AZURE_RESOURCE_APP_ID,
            audience_as_scope=True,
            x5t_for_versions=("1.0",),  # v1.0 tokens repeat the key id as x5t (Entra docs)
            served_by_platform=True,  # idp/entra.py answers the tenant's discovery, keys and token paths
        ),
    ),
    # Entra v1.0 issuers END WITH A SLASH: mongod compares `iss` exactly, so dropping it fails every login.
    production_issuers=(
        ProductionIssuer(
            "entra-v2",
            "https://login.microsoftonline.com/<TENANT_ID>/v2.0",
            "Microsoft Entra ID, v2.0 tokens",
            public_host="login.microsoftonline.com",
            public_path_suffix="/v2.0",  # without it: not the v2.0 issuer (kept as configured)
            kit_path=rf"/{GUID}/v2\.0/?$",
        ),
        ProductionIssuer(
            "entra-v1",
            "https://sts.windows.net/<TENANT_ID>/",
            "Microsoft Entra ID, v1.0 tokens",
            public_host="sts.windows.net",
            kit_path=rf"/{GUID}/$",
        ),
    ),
    principal_kinds={
        # Entra app registration with a client secret
        "service-principal": PrincipalKind("azure", client_secret=True),
        # Azure managed identity: IMDS, or federated credentials (AKS)
        "managed-identity": PrincipalKind("azure"),
    },
    metadata=MetadataHost(
        frozenset({"169.254.169.254"}),
        IMDS_PATH,
        "imds",
        "GET Azure IMDS token",
        "managed-identity",
        "Azure managed identity",
        "Azure IMDS 169.254.169.254",
        others={"app-service": APP_SERVICE_PATH},
    ),
    connect=ConnectPlan(
        "azure",
        "Azure IMDS at 169.254.169.254 (pymongo built-in)",
        token_resource=True,
        username_is_client_id=True,
    ),
    idp_handler=_idp_handler,
    shape_claims=_shape_claims,
    workload_env=workload_env,
    group_ids=AZURE_GROUPS,
    group_ids_words="Entra puts group object ids in 'groups'",
    extra_issuers=extra_issuers,
    explain_issuer=explain_issuer_mixup,
    export_values=_export_values,
    seed_principals=_seed,
    token_methods={"imds": _imds_method},
    default_token_methods={"managed-identity": "imds"},
    seed_principals_later=_seed_later,
    # MSAL asks the public cloud's instance discovery about an authority host it does not know
    # (the kit's https://localhost:<port>); the IdP's own endpoint answers it.
    vendor_hosts={"login.microsoftonline.com": {INSTANCE_DISCOVERY_PATH: INSTANCE_DISCOVERY_PATH}},
)
