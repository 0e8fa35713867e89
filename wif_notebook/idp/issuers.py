"""The issuers one mock IdP serves, told apart by the first path segment.

==========  ================================================  =============================================
id          issuer URL (``B`` = ``https://localhost:<port>``) shaped like
==========  ================================================  =============================================
``kit``     ``B/kit``                                         a plain OAuth server for the lessons
``azure``   ``B/<tenant>/v2.0`` (v1: ``B/<tenant>/``)         Microsoft Entra ID (clouds/azure.py)
``gcp``     ``B/gcp``                                         Google (``https://accounts.google.com``)
``k8s``     ``B/k8s``                                         a Kubernetes cluster's service-account issuer
``github``  ``B/github``                                      GitHub Actions (``https://token.actions.githubusercontent.com``)
==========  ================================================  =============================================

Entra ID lives at the root of the origin, because MSAL takes the first path segment of an authority
as the tenant; its paths (v1 and v2 discovery, tokens, keys, instance discovery) are answered by
``idp/entra.py``, and the mapping from Microsoft's hosts to the kit's URLs is in ``clouds/azure.py``.

Two forms of every issuer, on the IdP's one port:

- **https** (the default): ``https://localhost:<port>/...``, the production shape; a real mongod
  refuses any other issuer outside test mode. The certificate chains to the kit CA (``tls.py``),
  which the test mongod and every kit client trust; ``wif env`` tells other clients.
- **http**: ``http://localhost:<port>/...``, the same paths in the clear, for the
  ``enableTestCommands`` path the lessons also teach (a real mongod accepts plain http only for the
  literal host ``localhost``, never ``127.0.0.1``: identity-provider reference, finding 1).

An issuer endpoint (discovery, JWKS, token) answers in the form it was reached by: over TLS its
documents and tokens say ``https://…``, in the clear ``http://…``, so a provider configured with either
form finds matching tokens at its own token endpoint. What no request decides (tokens from the
metadata endpoints, token files, the admin mint, the service record, the generated mongod.conf) uses
the IdP's default form: ``https`` unless it was started with ``--issuer-scheme http`` (``wif up
--issuer-scheme http``, e.g. for a real Enterprise mongod that cannot be told to trust the kit CA).
The service record says which (``issuer_scheme``) and lists both forms per issuer. The issuer is fixed
configuration; it is never derived from a request's Host header.
"""

from __future__ import annotations

from dataclasses import dataclass

ISSUER_SCHEMES = ("https", "http")
DEFAULT_ISSUER_SCHEME = "https"

# A fixed tenant and resource application, so URLs and audiences in lessons stay the same on every
# machine. Both are made-up GUIDs in the shape Entra ID uses.
AZURE_TENANT_ID = "6a0c4b2e-8f1d-4c3a-9e5b-7d2f1a0c3b4e"
AZURE_RESOURCE_APP_ID = "3f9e2d1c-5b4a-4e8d-b7c6-a1f0e9d8c7b6"
# A second resource application left at Entra's default accessTokenAcceptedVersion (null → v1.0
# tokens: issuer ``<B>/<tenant>/``, audience ``api://<app id>``), as MongoDB's own Azure test sets up.
AZURE_V1_RESOURCE_APP_ID = "8b2e6c4a-1d3f-4a5b-9c7e-2f0a1b3c4d5e"
# Entra group object ids of the tenant, fixed so a mongod.conf can map them to roles on any machine
# (authorizationClaim "groups" → role "<authNamePrefix>/<object id>").
AZURE_GROUPS = {
    "inventory-readers": "0f5e4d3c-2b1a-4a9f-8e7d-6c5b4a3f2e1d",
    "reports-readers": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "orders-writers": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
}
# Audience that Azure workload identity (AKS) puts in projected tokens meant for exchange at Entra.
AZURE_TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
# Audience of EKS (IRSA) projected tokens (aws/amazon-eks-pod-identity-webhook default).
EKS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class Issuer:
    """One issuer: where it lives under the server, its endpoints and the audience it defaults to."""

    id: str
    title: str
    route_base: str  # first path segment(s) that select this issuer
    issuer_suffix: str  # the rest of the issuer path after route_base
    jwks_path: str  # relative to route_base
    token_path: str  # relative to route_base
    default_audience: str
    typ: str | None = "JWT"  # Kubernetes service-account tokens carry no typ

    def issuer_url(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.issuer_suffix}"

    def jwks_uri(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.jwks_path}"

    def token_endpoint(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.token_path}"

    def routes(self) -> dict[str, str]:
        """Path (relative to route_base) → endpoint name. The ``/jwks`` and ``/token`` aliases
        under the issuer path make every issuer reachable the same simple way."""
        s = self.issuer_suffix
        return {
            f"{s}/.well-known/openid-configuration": "discovery",
            self.jwks_path: "jwks",
            f"{s}/jwks": "jwks",
            self.token_path: "token",
            f"{s}/token": "token",
        }


ISSUERS: dict[str, Issuer] = {
    "kit": Issuer(
        id="kit",
        title="kit (plain OAuth 2.0 server for the lessons)",
        route_base="/kit",
        issuer_suffix="",
        jwks_path="/jwks",
        token_path="/token",
        default_audience="api://mongodb-kit",
    ),
    "azure": Issuer(
        id="azure",
        title="Microsoft Entra ID tenant (v2.0 tokens; v1.0 per resource application)",
        route_base=f"/{AZURE_TENANT_ID}",
        issuer_suffix="/v2.0",
        jwks_path="/discovery/v2.0/keys",
        token_path="/oauth2/v2.0/token",
        # Entra v2.0 access tokens always carry the resource application's client id as aud.
        default_audience=AZURE_RESOURCE_APP_ID,
    ),
    "gcp": Issuer(
        id="gcp",
        title="Google (service-account ID tokens)",
        route_base="/gcp",
        issuer_suffix="",
        jwks_path="/oauth2/v3/certs",
        token_path="/token",
        default_audience="api://mongodb-kit-gcp",
    ),
    "k8s": Issuer(
        id="k8s",
        title="Kubernetes cluster (projected service-account tokens)",
        route_base="/k8s",
        issuer_suffix="",
        jwks_path="/openid/v1/jwks",
        token_path="/token",
        default_audience="api://mongodb-kit-k8s",
        typ=None,
    ),
    "github": Issuer(
        id="github",
        title="GitHub Actions (workflow ID tokens)",
        route_base="/github",
        issuer_suffix="",
        jwks_path="/.well-known/jwks",
        token_path="/token",  # none in GitHub's discovery: idp/github.py answers every other path
        default_audience="api://mongodb-kit-github",
    ),
}

ISSUER_IDS = tuple(ISSUERS)
