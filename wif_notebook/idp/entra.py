"""Microsoft Entra ID and Azure managed identity as the vendor SDKs see them (the IdP side of
``clouds/azure.py``, which documents how Microsoft's hosts map to the kit's URLs).

Paths answered (``B`` = the IdP's origin; Entra lives at its root because MSAL takes the first
path segment of an authority as the tenant; ``<t>`` = the kit's tenant id or domain):

- ``B/<t>/v2.0/.well-known/openid-configuration`` and ``B/<t>/.well-known/openid-configuration``
  (v1), ``B/<t>/discovery/v2.0/keys``, ``B/<t>/discovery/keys``, ``B/common/discovery/keys``
- ``B/<t>/oauth2/v2.0/token`` (``scope=<resource>/.default``) and ``B/<t>/oauth2/token``
  (``resource=``): client secrets (form or Basic), certificate client assertions and federated
  credentials (RFC 7523, audience ``api://AzureADTokenExchange``)
- ``B/common/discovery/instance`` as MSAL calls it (instance discovery)
- ``GET B/metadata/identity/oauth2/token`` (IMDS) and ``GET B/MSI/token`` (App Service/Functions)

A token's version follows the *resource* application's ``accessTokenAcceptedVersion``, as Entra
does, whichever endpoint issued it: v1 tokens say ``iss B/<tenant>/`` (the trailing slash of
``https://sts.windows.net/<tenant>/``), ``aud`` the requested resource string, ``appid``/``appidacr``;
v2 tokens say ``iss B/<tenant>/v2.0``, ``aud`` the resource's application id, ``azp``/``azpacr``.

Failures answer in Entra's error shape (``error``, ``error_description`` "AADSTSnnnn: …" with trace
id, correlation id and timestamp, ``error_codes``, ``trace_id``, ``correlation_id``, ``timestamp``,
``error_uri``) with Entra's codes, so azure-identity and msal raise their own exceptions carrying
them. IMDS and App Service answer in their own, simpler shapes.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import jwt

from ..clouds.azure import APP_SERVICE_PATH, GUID, IMDS_PATH, v1_issuer
from ..state import FileStamp, StateDir, create_private_once, file_stamp
from .issuers import (
    AZURE_RESOURCE_APP_ID,
    AZURE_TENANT_ID,
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AZURE_V1_RESOURCE_APP_ID,
    ISSUERS,
)
from .keys import b64url
from .messages import NO_STORE, OAuthError, Request, Response, basic_credentials, json_response
from .principals import Principal

if TYPE_CHECKING:
    from .app import IdentityProvider
    from .minting import Minted

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TENANT_DOMAIN = "wifkit.onmicrosoft.com"  # the tenant's initial domain; MSAL may use it as the tenant
# Tenant words that name no tenant: fine for sign-in discovery, refused for app-only tokens.
MULTI_TENANT = ("common", "organizations", "consumers")
APP_SERVICE_API_VERSION = "2019-08-01"
# Microsoft's page that explains each code: real, and useful to a learner reading an error.
ERROR_URI = "https://login.microsoftonline.com/error?code={code}"
_V2_ISSUER = ISSUERS["azure"]  # read once: a registry lookup reads the environment
_GUID = re.compile(rf"^{GUID}$")


# -- the tenant's resource applications ------------------------------------------------------------
@dataclass(frozen=True)
class ResourceApp:
    """An application that tokens can be issued *for* (``aud``): its id, its Application ID URIs
    and the token version its manifest accepts (``accessTokenAcceptedVersion``)."""

    app_id: str
    name: str
    identifier_uris: tuple[str, ...]
    token_version: int

    def names(self) -> tuple[str, ...]:
        return (self.app_id, *self.identifier_uris)


# The kit tenant's own APIs and a few Microsoft resources a workload asks for. Microsoft's first-party
# resources accept v1 tokens (Azure Resource Manager, Storage, Key Vault, Azure Database AAD auth).
BUILTIN_RESOURCES: tuple[ResourceApp, ...] = (
    ResourceApp(AZURE_RESOURCE_APP_ID, "mongodb-api (v2.0 tokens)", (f"api://{AZURE_RESOURCE_APP_ID}",), 2),
    ResourceApp(
        AZURE_V1_RESOURCE_APP_ID, "mongodb-api-v1 (v1.0 tokens)", (f"api://{AZURE_V1_RESOURCE_APP_ID}",), 1
    ),
    ResourceApp(
        "797f4846-ba00-4fd7-ba43-dac1f8f63013",
        "Azure Resource Manager",
        ("https://management.azure.com/", "https://management.core.windows.net/"),
        1,
    ),
    ResourceApp("e406a681-f3d4-42a8-90b6-c2b029497af1", "Azure Storage", ("https://storage.azure.com/",), 1),
    ResourceApp("cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault", ("https://vault.azure.net",), 1),
    ResourceApp(
        "123cd850-d9df-40bd-94d5-c9f07b7fa203",
        "Azure OSSRDBMS Database",
        ("https://ossrdbms-aad.database.windows.net",),
        1,
    ),
    # The token exchange audience is itself a resource an identity may ask for.
    ResourceApp(
        "fb60f99c-7a34-4190-8149-302f77469936", "AAD Token Exchange", (AZURE_TOKEN_EXCHANGE_AUDIENCE,), 1
    ),
)


def resource_apps(catalog: list[Principal]) -> list[ResourceApp]:
    """The built-in resources plus every app registration of the catalog (a service principal is a
    resource by its client id and ``api://<client id>``, with its own token version)."""
    apps = list(BUILTIN_RESOURCES)
    for p in catalog:
        if p.issuer_id == "azure" and p.kind == "service-principal":
            apps.append(ResourceApp(p.client_id, p.name, (f"api://{p.client_id}",), p.access_token_version))
    return apps


def _resource_key(name: str) -> str:
    # Entra ignores the case of URIs and one trailing slash (``https://management.azure.com`` works).
    return name.rstrip("/").lower()


# The resource index of the last catalog snapshot asked about: the IdP keeps one catalog list until
# principals.yaml changes, so a token request looks its resource up in a dict instead of building
# every app of the tenant and comparing each of its names (twice per token).
_index: tuple[list[Principal], dict[str, ResourceApp]] | None = None


def find_resource(catalog: list[Principal], requested: str) -> ResourceApp | None:
    """The resource application a requested ``resource`` (or scope without ``/.default``) names
    (the first one, in ``resource_apps`` order, with that name)."""
    global _index
    cached = _index
    if cached is not None and cached[0] is catalog:
        index = cached[1]
    else:
        index = {}
        for app in resource_apps(catalog):
            for name in app.names():
                index.setdefault(_resource_key(name), app)
        _index = (catalog, index)
    return index.get(_resource_key(requested))


def v2_issuer(base_url: str) -> str:
    """The kit's stand-in for ``https://login.microsoftonline.com/<tenant>/v2.0``."""
    return _V2_ISSUER.issuer_url(base_url.rstrip("/"))


def shape_claims(
    claims: dict[str, Any],
    principal: Principal,
    requested: str,
    *,
    base_url: str,
    catalog: list[Principal],
    acr: str | None = None,
) -> None:
    """Turn the common claims into an Entra access token's for ``requested`` (a resource string),
    v1 or v2 as the resource application says. Unknown resources get v2 with ``aud`` as asked (the
    token endpoint refuses them before minting; the admin mint lets a lesson make odd tokens)."""
    app = find_resource(catalog, requested)
    version = app.token_version if app else 2
    # 1 = client secret, 2 = certificate, client assertion or managed identity (Entra docs).
    acr = acr or ("1" if principal.client_secret else "2")
    fresh = secrets.token_bytes(58)  # aio, rh and uti: one read of the system's random source
    common = {
        "aio": b64url(fresh[:24]),
        "idp": v1_issuer(base_url),  # app-only tokens name the tenant's v1 issuer as idp
        "idtyp": "app",
        "oid": principal.subject,
        "rh": "0." + b64url(fresh[24:42]) + ".",
        "tid": AZURE_TENANT_ID,
        "uti": b64url(fresh[42:]),
    }
    if version == 1:
        claims.update(iss=v1_issuer(base_url), aud=requested, appid=principal.client_id, appidacr=acr)
        common["ver"] = "1.0"
    else:
        claims.update(
            iss=v2_issuer(base_url),
            aud=app.app_id if app else requested,
            azp=principal.client_id,
            azpacr=acr,
        )
        common["ver"] = "2.0"
    claims.update(common)
    claims.pop("jti", None)  # Entra writes uti, not jti
    if principal.groups:
        claims["groups"] = list(principal.groups)
    if principal.roles:
        claims["roles"] = list(principal.roles)


def token_version(claims: dict[str, Any]) -> int:
    return 1 if claims.get("ver") == "1.0" else 2


# -- errors ----------------------------------------------------------------------------------------
class EntraError(Exception):
    """An error Entra ID answers with: its HTTP status, OAuth ``error`` and AADSTS code."""

    def __init__(self, status: int, error: str, code: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message
        self.hint = hint

    def text(self) -> str:
        """``AADSTSnnnn: message`` and the kit's next step, as error descriptions carry it."""
        text = f"AADSTS{self.code}: {self.message}"
        return f"{text} (wif-notebook: {self.hint})" if self.hint else text


def entra_error_doc(exc: EntraError, correlation_id: str | None = None) -> dict[str, Any]:
    """Entra's error body; the kit's next step goes after the message, before the trace lines."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    correlation = correlation_id if correlation_id and _GUID.match(correlation_id) else str(uuid.uuid4())
    text = exc.text()
    return {
        "error": exc.error,
        "error_description": (
            f"{text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}"
        ),
        "error_codes": [exc.code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": ERROR_URI.format(code=exc.code),
    }


def _unknown_resource(resource: str) -> EntraError:
    """AADSTS500011, as the token endpoints and the managed-identity endpoints answer a resource
    that is not an application of the tenant."""
    return EntraError(
        400,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named {AZURE_TENANT_ID}. "
        "This can happen if the application has not been installed by the administrator of the tenant "
        "or consented to by any user in the tenant. You might have sent your authentication request to "
        "the wrong tenant.",
        hint=f"ask for the resource your MongoDB server's audience names, e.g. api://{AZURE_RESOURCE_APP_ID}",
    )


def _missing(name: str) -> EntraError:
    return EntraError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


# -- dispatch --------------------------------------------------------------------------------------
def handle(idp: IdentityProvider, req: Request) -> Response | None:
    """Answer Entra's and Azure's paths; None for any other path."""
    path = req.path
    if path == IMDS_PATH:
        return imds(idp, req)
    if path.rstrip("/") == APP_SERVICE_PATH:
        return app_service(idp, req)
    parts = path.strip("/").split("/")
    tenant = parts[0]
    rest = "/" + "/".join(parts[1:])
    if not _is_tenant_word(tenant):
        return None
    if rest == "/discovery/instance" and tenant == "common":
        return _json(idp, req, lambda: instance_discovery(idp, req))
    if rest in ("/discovery/keys", "/discovery/v2.0/keys"):
        return _json(idp, req, lambda: _keys(idp, tenant), method="GET")
    if rest in ("/v2.0/.well-known/openid-configuration", "/.well-known/openid-configuration"):
        version = 2 if rest.startswith("/v2.0") else 1
        return _json(idp, req, lambda: discovery(idp.base_for(req), tenant, version), method="GET")
    if rest in ("/oauth2/v2.0/token", "/oauth2/token"):
        return token_endpoint(idp, req, tenant, 2 if "/v2.0/" in rest else 1)
    return None


def _is_tenant_word(segment: str) -> bool:
    """Would Entra read this first path segment as a tenant (GUID, domain or common word)?"""
    return (
        bool(_GUID.match(segment)) or segment in MULTI_TENANT or segment.lower().endswith(".onmicrosoft.com")
    )


def _check_tenant(tenant: str) -> None:
    if tenant.lower() in (AZURE_TENANT_ID, TENANT_DOMAIN) or tenant in MULTI_TENANT:
        return
    raise EntraError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
        hint=f"the kit's tenant is {AZURE_TENANT_ID} (AZURE_TENANT_ID)",
    )


def _json(idp: IdentityProvider, req: Request, build: Any, *, method: str | None = None) -> Response:
    try:
        if method and req.method != method:
            raise EntraError(
                400,
                "invalid_request",
                900561,
                f"The endpoint only accepts {method} requests. Received a {req.method} request.",
            )
        return json_response(200, build(), issuer="azure")
    except EntraError as exc:
        return json_response(
            exc.status,
            entra_error_doc(exc, req.headers.get("client-request-id")),
            issuer="azure",
            error=exc.error,
            code=exc.code,
        )


# -- discovery -------------------------------------------------------------------------------------
def _keys(idp: IdentityProvider, tenant: str) -> dict[str, Any]:
    _check_tenant(tenant)
    # v1 and v2 tokens are signed by the same keys, as in Entra.
    return idp.keys.issuer("azure").jwks()


def discovery(base: str, tenant: str, version: int) -> dict[str, Any]:
    """The tenant's OpenID configuration, v1 or v2, shaped as Entra's (the fields MSAL and mongod
    read), with URLs under ``base`` (the form the request arrived in: https, or http for tests)."""
    _check_tenant(tenant)
    # For common/organizations Entra writes the issuer with a literal "{tenantid}" placeholder.
    named = tenant if tenant in MULTI_TENANT else AZURE_TENANT_ID
    if version == 2:
        issuer = v2_issuer(base) if named == AZURE_TENANT_ID else f"{base}/{{tenantid}}/v2.0"
        oauth = f"{base}/{named}/oauth2/v2.0"
        jwks = f"{base}/{named}/discovery/v2.0/keys"
    else:
        issuer = v1_issuer(base) if named == AZURE_TENANT_ID else f"{base}/{{tenantid}}/"
        oauth = f"{base}/{named}/oauth2"
        jwks = f"{base}/common/discovery/keys"
    return {
        "token_endpoint": f"{oauth}/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": jwks,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{oauth}/authorize",
        "device_authorization_endpoint": f"{oauth}/devicecode",
        "end_session_endpoint": f"{oauth}/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "oid",
            "tid",
            "ver",
            "roles",
            "groups",
        ],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }


# Hosts MSAL knows as Microsoft's public cloud; a request for them (through the kit's proxy) is
# answered with this IdP's own endpoints.
_MICROSOFT_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
)


def instance_discovery(idp: IdentityProvider, req: Request) -> dict[str, Any]:
    """``GET /common/discovery/instance?authorization_endpoint=…&api-version=1.0|1.1``: where the
    tenant's discovery document is, and the host's aliases. An unknown host is AADSTS50049."""
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    if not query.get("api-version"):
        raise EntraError(
            400, "invalid_request", 900144, "The request must contain the 'api-version' parameter."
        )
    endpoint = query.get("authorization_endpoint", "")
    parts = urlsplit(endpoint)
    own = urlsplit(idp.base_url)
    # MSAL sends its "instance", the authority's host name without the port: a loopback host with
    # no port or with this IdP's port is this IdP, and the answer names this IdP's own origin.
    ours = parts.hostname in ("localhost", "127.0.0.1") and parts.port in (None, own.port)
    if not endpoint or parts.scheme != "https" or not (ours or parts.hostname in _MICROSOFT_HOSTS):
        raise EntraError(
            400,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
            hint=f"the kit's authority host is https://localhost:{own.port} (AZURE_AUTHORITY_HOST)",
        )
    tenant = parts.path.strip("/").split("/")[0] or "common"
    host = f"localhost:{own.port}" if ours else parts.netloc
    aliases = [host, "localhost"] if ours else [host]
    return {
        "tenant_discovery_endpoint": f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": aliases}],
    }


# -- token endpoint --------------------------------------------------------------------------------
@dataclass
class _Client:
    principal: Principal
    acr: str  # "1" secret, "2" certificate / federated assertion


def token_endpoint(idp: IdentityProvider, req: Request, tenant: str, version: int) -> Response:
    log: dict[str, Any] = {"issuer": "azure", "grant": None, "endpoint": f"v{version}"}
    try:
        doc = _token(idp, req, tenant, version, log)
    except EntraError as exc:
        log.update(error=exc.error, code=exc.code)
        return json_response(
            exc.status, entra_error_doc(exc, req.headers.get("client-request-id")), headers=NO_STORE, **log
        )
    return json_response(200, doc, headers=NO_STORE, **log)


def _token(
    idp: IdentityProvider, req: Request, tenant: str, version: int, log: dict[str, Any]
) -> dict[str, Any]:
    if req.method != "POST":
        raise EntraError(
            400,
            "invalid_request",
            900561,
            f"The endpoint only accepts POST, OPTIONS requests. Received a {req.method} request.",
        )
    _check_tenant(tenant)
    try:
        form = idp._form(req)
    except OAuthError as exc:
        raise EntraError(400, "invalid_request", 900144, exc.description) from exc
    grant = form.get("grant_type", "")
    log["grant"] = grant or None
    if not grant:
        raise _missing("grant_type")
    if grant != "client_credentials":
        raise EntraError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
            hint="workloads use grant_type=client_credentials",
        )
    if tenant in MULTI_TENANT:
        raise EntraError(
            400,
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided "
            "credentials.",
            hint=f"app-only tokens need the tenant in the URL: /{AZURE_TENANT_ID}/oauth2/…",
        )
    requested = _requested_resource(form, version)
    catalog = idp.principals()  # one snapshot for the whole request
    client = _authenticate(idp, req, form, catalog, tenant)
    log["principal"] = client.principal.name
    if find_resource(catalog, requested) is None:
        raise _unknown_resource(requested)
    # The token's issuer is in the form the request arrived in (https, or http for test mode).
    minted = idp.minter_for(req).mint(client.principal, audience=requested, acr=client.acr)
    exp, nbf, iat = (int(minted.claims[k]) for k in ("exp", "nbf", "iat"))
    log["token_version"] = token_version(minted.claims)
    if version == 1:
        # The v1 endpoint answers every number as a string.
        return {
            "token_type": "Bearer",
            "expires_in": str(exp - iat),
            "ext_expires_in": str(exp - iat),
            "expires_on": str(exp),
            "not_before": str(nbf),
            "resource": requested,
            "access_token": minted.token,
        }
    return {
        "token_type": "Bearer",
        "expires_in": exp - iat,
        "ext_expires_in": exp - iat,
        "access_token": minted.token,
    }


def _requested_resource(form: dict[str, str], version: int) -> str:
    if version == 1:
        resource = form.get("resource", "")
        if not resource:
            raise _missing("resource")
        return resource
    scope = form.get("scope", "")
    if not scope:
        raise _missing("scope")
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise EntraError(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
            hint=f"ask for one scope such as api://{AZURE_RESOURCE_APP_ID}/.default",
        )
    return scopes[0].removesuffix("/.default")


def _no_client_credential(hint: str = "") -> EntraError:
    """AADSTS7000216: a client_credentials request with neither a secret nor an assertion."""
    return EntraError(
        401,
        "invalid_client",
        7000216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' "
        "grant type.",
        hint=hint,
    )


def _basic(req: Request) -> tuple[str, str] | None:
    try:
        return basic_credentials(req)
    except ValueError as exc:  # another scheme, or credentials that do not decode
        raise _no_client_credential(
            hint="send Authorization: Basic base64(client_id:client_secret), or the secret in the form"
        ) from exc


def _authenticate(
    idp: IdentityProvider, req: Request, form: dict[str, str], catalog: list[Principal], tenant: str
) -> _Client:
    basic = _basic(req)
    client_id = basic[0] if basic else form.get("client_id", "")
    if not client_id:
        raise _missing("client_id")
    principal = next((p for p in catalog if p.issuer_id == "azure" and p.client_id == client_id), None)
    if principal is None:
        raise EntraError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{TENANT_DOMAIN}'. "
            "This can happen if the application has not been installed by the administrator of the tenant or "
            "consented to by any user in the tenant. You may have sent your authentication request to the "
            "wrong tenant.",
            hint="`wif idp principals` lists the tenant's applications and their client ids",
        )
    if "client_assertion" in form or "client_assertion_type" in form:
        return _Client(_check_assertion(idp, form, principal, catalog), "2")
    secret = basic[1] if basic else form.get("client_secret")
    if secret is None:
        raise _no_client_credential()
    if not principal.client_secret or not hmac.compare_digest(
        principal.client_secret.encode(), secret.encode()
    ):
        raise EntraError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
            hint=f"use the client_secret of {principal.name!r} (`wif env --principal {principal.name}`)"
            if principal.client_secret
            else f"{principal.name!r} is a {principal.kind} and has no secret",
        )
    return _Client(principal, "1")


def _time_range_error(claims: dict[str, Any], now: int) -> EntraError:
    def fmt(value: Any) -> str:
        try:
            return datetime.fromtimestamp(int(value), timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
        except (TypeError, ValueError):
            return "(none)"

    return EntraError(
        401,
        "invalid_client",
        700024,
        f"Client assertion is not within its valid time range. Current time: {fmt(now)}, assertion "
        f"valid from {fmt(claims.get('nbf', claims.get('iat')))}, expiry time of assertion "
        f"{fmt(claims.get('exp'))}.",
        hint="get a fresh assertion (a projected token file is rewritten before it expires)",
    )


def _check_assertion(
    idp: IdentityProvider, form: dict[str, str], principal: Principal, catalog: list[Principal]
) -> Principal:
    """RFC 7523 client authentication: a JWT signed by one of the app's certificates (``iss`` =
    ``sub`` = client id, ``aud`` = the token endpoint), or a federated credential's token."""
    assertion = form.get("client_assertion", "")
    if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise EntraError(
            400,
            "invalid_request",
            900144,
            f"The request body must contain the following parameter: 'client_assertion_type' "
            f"({JWT_BEARER_ASSERTION}).",
        )
    if not assertion:
        raise _missing("client_assertion")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise EntraError(
            400,
            "invalid_request",
            50027,
            f"JWT token is invalid or malformed ({exc}).",
            hint="the client_assertion must be a signed JWT",
        ) from exc
    now = int(time.time())
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    # Entra allows five minutes of clock skew on assertions (UNCONFIRMED amount; the usual default).
    if (
        not isinstance(exp, int | float)
        or exp + 300 < now
        or (isinstance(nbf, int | float) and nbf - 300 > now)
    ):
        raise _time_range_error(claims, now)
    if claims.get("iss") == principal.client_id and claims.get("sub") == principal.client_id:
        _check_certificate_assertion(idp, assertion, header, principal)
        return principal
    try:
        verified, _ = idp.verify_jwt(assertion, "client_assertion")
    except ValueError as exc:
        raise EntraError(
            401,
            "invalid_client",
            700027,
            f"Client assertion failed signature validation. {exc}",
            hint="the assertion must come from an issuer the kit runs (`wif env --principal NAME`)",
        ) from exc
    if not idp._credential_matches(principal, verified):
        raise EntraError(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion. Assertion Issuer: "
            f"'{verified.get('iss')}'. Assertion Subject: '{verified.get('sub')}'. Assertion Audience: "
            f"'{_aud_text(verified.get('aud'))}'.",
            hint=f"add a federated_credentials entry with this issuer, subject and audience "
            f"({AZURE_TOKEN_EXCHANGE_AUDIENCE}) to {principal.name!r} in principals.yaml",
        )
    return principal


def _aud_text(aud: Any) -> str:
    return ",".join(aud) if isinstance(aud, list) else str(aud)


def _check_certificate_assertion(
    idp: IdentityProvider, assertion: str, header: dict[str, Any], principal: Principal
) -> None:
    presented = header.get("x5t#S256") or header.get("x5t") or header.get("kid")
    key = principal.certificate_keys.get(str(presented))
    if key is None:
        raise EntraError(
            401,
            "invalid_client",
            700027,
            "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of "
            f"key used by client: '{presented}']",
            hint=f"add the certificate (PEM) to {principal.name!r}'s certificates in principals.yaml",
        )
    audiences = {
        f"{base}/{tenant}/oauth2/{path}"
        for base in (idp.https_base_url, idp.http_base_url)
        for tenant in (AZURE_TENANT_ID, TENANT_DOMAIN)
        for path in ("v2.0/token", "token")
    }
    try:
        jwt.decode(
            assertion,
            key,
            algorithms=["RS256", "PS256", "ES256"],
            audience=sorted(audiences),
            options={"verify_exp": False, "verify_nbf": False},
        )
    except jwt.InvalidAudienceError as exc:
        raise EntraError(
            401,
            "invalid_client",
            700212,
            "No matching federated identity record found for presented assertion audience.",
            hint=f"a certificate assertion's aud is the token endpoint, {sorted(audiences)[0]}",
        ) from exc
    except jwt.PyJWTError as exc:
        raise EntraError(
            401, "invalid_client", 700027, f"Client assertion failed signature validation. ({exc})"
        ) from exc


# -- managed identity: IMDS and App Service --------------------------------------------------------
# Selector names: IMDS documents msi_res_id, App Service mi_res_id and principal_id; msal sends
# msi_res_id to IMDS and mi_res_id to App Service. Both hosts accept every spelling here (that IMDS
# also takes mi_res_id is UNCONFIRMED).
_SELECTORS = {
    "client_id": "client_id",
    "object_id": "object_id",
    "principal_id": "object_id",
    "msi_res_id": "resource_id",
    "mi_res_id": "resource_id",
}


class IdentityNotFound(Exception):
    """No managed identity of this host matches the request (the SDKs report it as unavailable)."""


def host_identity(idp: IdentityProvider, catalog: list[Principal], query: dict[str, str]) -> Principal:
    """The managed identity a metadata request on this host names: by one selector, else the
    system-assigned identity (or the one chosen with `/_wif/metadata-default`), else the only one."""
    identities = [p for p in catalog if p.kind == "managed-identity"]
    selectors = [(k, query[k]) for k in _SELECTORS if query.get(k)]
    if len(selectors) > 1:
        raise IdentityNotFound("name the identity by one of client_id, object_id or msi_res_id, not several")
    if selectors:
        key, value = selectors[0]
        kind = _SELECTORS[key]

        def selects(p: Principal) -> bool:
            if kind == "client_id":
                return p.client_id.lower() == value.lower()
            if kind == "object_id":
                return p.subject.lower() == value.lower()
            return not p.system_assigned and str(p.claims.get("xms_mirid", "")).lower() == value.lower()

        found = next((p for p in identities if selects(p)), None)
        if found is None:
            raise IdentityNotFound(
                f"Identity not found (no managed identity with {key} {value!r} is assigned to this host; "
                "`wif idp principals` lists them)"
            )
        return found
    if (
        len(identities) > 1
        and "azure" not in idp.metadata_default_names()
        and not any(p.system_assigned or p.default for p in identities)
    ):
        raise IdentityNotFound(
            "Multiple user assigned identities exist, please specify the clientId / resourceId of the "
            "identity in the token request"
        )
    chosen = idp.metadata_default_principal("azure", identities)
    if chosen is None:
        raise IdentityNotFound(
            "Identity not found (no managed identity is assigned to this host; add one of kind "
            "managed-identity to principals.yaml)"
        )
    return chosen


def _host_token(idp: IdentityProvider, query: dict[str, str], resource: str) -> tuple[Principal, Minted]:
    """The token both managed-identity endpoints (IMDS, App Service) answer with: for the identity
    the query names (IdentityNotFound) and a resource of the tenant (EntraError AADSTS500011)."""
    catalog = idp.principals()  # one snapshot for the whole request
    principal = host_identity(idp, catalog, query)
    audience = resource.removesuffix("/.default")
    if find_resource(catalog, audience) is None:
        raise _unknown_resource(resource)
    return principal, idp.minter.mint(principal, audience=audience, acr="2")


def imds(idp: IdentityProvider, req: Request) -> Response:
    """``GET /metadata/identity/oauth2/token`` with ``Metadata: true``, as the Azure IMDS answers."""

    def error(status: int, code: str, description: str) -> Response:
        return json_response(
            status,
            {"error": code, "error_description": description},
            issuer="azure",
            grant="imds",
            error=code,
        )

    if req.method != "GET":
        return error(405, "invalid_request", "IMDS answers GET requests only")
    # Real IMDS wants exactly `Metadata: true` (lower case value); azure-identity's probe sends no
    # header and reads any answer as "IMDS is here".
    if req.headers.get("metadata") != "true":
        return error(400, "bad_request_102", "Required metadata header not specified")
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    if not query.get("api-version"):
        return error(
            400,
            "invalid_request",
            "Required query variable 'api-version' is missing; add api-version=2018-02-01",
        )
    resource = query.get("resource", "")
    if not resource:
        return error(
            400,
            "invalid_request",
            "Required query variable 'resource' is missing; add resource=<the audience your MongoDB "
            f"server expects, e.g. api://{AZURE_RESOURCE_APP_ID}>",
        )
    try:
        principal, minted = _host_token(idp, query, resource)
    except IdentityNotFound as exc:
        return error(400, "invalid_request", str(exc))
    except EntraError as exc:
        return error(exc.status, exc.error, exc.text())
    exp, nbf, iat = (int(minted.claims[k]) for k in ("exp", "nbf", "iat"))
    # Every value is a JSON string, as the real IMDS sends them.
    doc = {
        "access_token": minted.token,
        "refresh_token": "",
        "expires_in": str(exp - iat),
        "expires_on": str(exp),
        "ext_expires_in": str(exp - iat),
        "not_before": str(nbf),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": principal.client_id,
    }
    return json_response(200, doc, issuer="azure", grant="imds", principal=principal.name)


# The value of each state directory's IDENTITY_HEADER file, with the file's stamp when read: an App
# Service request compares with it after a stat, and reads the file again only once it changed
# (another kit process created it, or it was deleted and created anew).
_identity_headers: dict[Path, tuple[FileStamp, str]] = {}


def identity_header(state: StateDir) -> str:
    """The value of ``IDENTITY_HEADER`` for this state directory (created once, 0600); the IdP
    checks it and `wif env --principal` exports it, as App Service gives it to its workloads."""
    path = state.subdir("azure") / "identity-header"
    try:
        known = _identity_headers.get(path)
        if known is not None and known[0] == file_stamp(path.stat()):
            return known[1]
    except FileNotFoundError:
        pass
    # Created once: the IdP and `wif env` may create it at the same moment, and each must end up
    # with the value the file holds (the first one), or an exported header would be refused. The
    # value is cached under the stamp of the file it was read from, never a later stat's: a file
    # replaced in between would leave the old value cached as the new file's.
    read = create_private_once(path, lambda: secrets.token_hex(16))
    if not read.text.strip():  # emptied by hand: a header App Service never gives, so make a new one
        state.write_private(path, secrets.token_hex(16))
        read = create_private_once(path, lambda: secrets.token_hex(16))  # what it holds now
    value = read.text.strip()
    _identity_headers[path] = (read.stamp, value)
    return value


def app_service(idp: IdentityProvider, req: Request) -> Response:
    """``GET /MSI/token?resource=…&api-version=2019-08-01`` with ``X-IDENTITY-HEADER``, as the
    App Service / Functions identity endpoint answers (errors: ``statusCode`` and ``message``;
    their exact status codes are UNCONFIRMED, msal reads only the body)."""

    def error(status: int, message: str) -> Response:
        return json_response(
            status,
            {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())},
            issuer="azure",
            grant="app-service",
            error=str(status),
        )

    if req.method != "GET":
        return error(405, "The identity endpoint answers GET requests only")
    presented = req.headers.get("x-identity-header", "")
    if not presented or not hmac.compare_digest(presented.encode(), identity_header(idp.state).encode()):
        return error(401, "The X-IDENTITY-HEADER is missing or wrong: send the value of IDENTITY_HEADER")
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    if query.get("api-version") != APP_SERVICE_API_VERSION:
        return error(400, f"api-version must be {APP_SERVICE_API_VERSION}")
    resource = query.get("resource", "")
    if not resource:
        return error(400, "The resource parameter is missing")
    try:
        principal, minted = _host_token(idp, query, resource)
    except IdentityNotFound as exc:
        return error(400, f"Unable to load the proper Managed Identity. {exc}")
    except EntraError as exc:
        return error(exc.status, exc.text())
    doc = {
        "access_token": minted.token,
        "expires_on": str(int(minted.claims["exp"])),
        "not_before": str(int(minted.claims["nbf"])),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": principal.client_id,
    }
    return json_response(200, doc, issuer="azure", grant="app-service", principal=principal.name)
