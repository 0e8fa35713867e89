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

Each platform's module in ``clouds/`` declares its issuers (``Cloud.issuers``); this module keeps
what every issuer shares (``Issuer``, ``path_issuer``) and ``ISSUERS``, the registry's issuers by id.

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

from collections.abc import Mapping
from dataclasses import dataclass

from .. import clouds
from ..clouds import RegistryView

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
    # The token endpoint takes the resource as ``scope=<resource>/.default`` (Entra), not ``audience``.
    audience_as_scope: bool = False
    # Values of a token's ``ver`` claim for which its header repeats the key id as ``x5t`` (Entra v1.0).
    x5t_for_versions: tuple[str, ...] = ()
    # Its platform's IdP handler answers every endpoint of this issuer (Entra's tenant paths), so the
    # IdP routes none of the generic endpoints to it: the kit's ``/jwks`` and ``/token`` aliases would
    # be paths the real service does not have.
    served_by_platform: bool = False

    def issuer_url(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.issuer_suffix}"

    def jwks_uri(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.jwks_path}"

    def token_endpoint(self, base_url: str) -> str:
        return f"{base_url}{self.route_base}{self.token_path}"

    def routes(self) -> dict[str, str]:
        """Path (relative to route_base) → endpoint name. The ``/jwks`` and ``/token`` aliases
        under the issuer path make every kit issuer reachable the same simple way; an issuer its
        platform serves whole (Entra) has only its own paths, as the real one."""
        s = self.issuer_suffix
        own = {
            f"{s}/.well-known/openid-configuration": "discovery",
            self.jwks_path: "jwks",
            self.token_path: "token",
        }
        if self.served_by_platform:
            return own
        return {**own, f"{s}/jwks": "jwks", f"{s}/token": "token"}


def path_issuer(
    issuer_id: str, title: str, jwks_path: str, default_audience: str, *, typ: str | None = "JWT"
) -> Issuer:
    """An issuer at ``B/<id>`` with its token endpoint at ``B/<id>/token``: the shape of every kit
    issuer but Entra's (which lives at the origin's root, under its tenant)."""
    return Issuer(
        id=issuer_id,
        title=title,
        route_base=f"/{issuer_id}",
        issuer_suffix="",
        jwks_path=jwks_path,
        token_path="/token",
        default_audience=default_audience,
        typ=typ,
    )


# Every platform's issuers by id, in registry order, as the cloud modules declare them.
ISSUERS: Mapping[str, Issuer] = RegistryView(clouds.issuers)


def issuer_table(base_url: str) -> dict[str, tuple[str, str]]:
    """Every issuer the IdP publishes at ``base_url``: id → (issuer URL, default audience), the
    registry's issuers and then each platform's extra ones (Entra's v1 ``azure-v1``)."""
    table = {i: (iss.issuer_url(base_url), iss.default_audience) for i, iss in ISSUERS.items()}
    for cloud in clouds.clouds():
        table.update(cloud.extra_issuers(base_url))
    return table
