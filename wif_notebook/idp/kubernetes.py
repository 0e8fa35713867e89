"""A Kubernetes cluster's service-account issuer as the API server serves it.

``GET <issuer>/.well-known/openid-configuration`` answers exactly the fields kube-apiserver
publishes (``issuer``, ``jwks_uri`` → ``<issuer>/openid/v1/jwks``, ``response_types_supported
["id_token"]``, ``subject_types_supported ["public"]``, ``id_token_signing_alg_values_supported``):
no token endpoint, since a cluster issues its tokens through the kubelet (token files, see
``tokenfiles.py``), not over OAuth. The JWKS is served with the other issuers' (``app.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .issuers import ISSUERS
from .messages import Request, Response, json_response

if TYPE_CHECKING:
    from .app import IdentityProvider

ISSUER_ID = "k8s"
_ISSUER = ISSUERS[ISSUER_ID]
DISCOVERY_PATH = f"{_ISSUER.route_base}{_ISSUER.issuer_suffix}/.well-known/openid-configuration"


def handle(idp: IdentityProvider, req: Request) -> Response | None:
    """The registry's ``idp_handler`` for Kubernetes: the discovery document, nothing else."""
    if req.path != DISCOVERY_PATH or req.method != "GET":
        return None
    keys = idp.keys.issuer(ISSUER_ID)
    # The API server lists the algorithms of the keys it verifies with (RS256 unless rotated to ES256).
    algs = sorted({k.alg for kid in keys.published_kids() if (k := keys.find(kid)) is not None})
    base = idp.base_for(req)  # the form the request came in (https, or http for enableTestCommands)
    doc = {
        "issuer": _ISSUER.issuer_url(base),
        "jwks_uri": _ISSUER.jwks_uri(base),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs or ["RS256"],
    }
    return json_response(200, doc, issuer=ISSUER_ID)
