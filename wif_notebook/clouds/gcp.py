"""Google Cloud: service accounts and the metadata server (Compute Engine, GKE, Cloud Run, ...).

The IdP side lives in ``idp/google.py`` (metadata server, ``/oauth2/v1/certs``); this module
declares it to the registry and says where a workload of a given service account finds its
metadata server (``GCE_METADATA_HOST``/``GCE_METADATA_IP``, which google-auth reads).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import Cloud, EnvContext

if TYPE_CHECKING:
    from ..idp.principals import Principal

# The prefixes idp/google.py answers: asked before importing it, so other requests pay nothing.
_PATHS = ("/computeMetadata/", "/gcp/oauth2/v1/")


def _idp_handler(idp: Any, req: Any) -> Any:
    if req.path.startswith(_PATHS) or req.path in ("", "/"):
        from ..idp import google

        return google.handle(idp, req)
    return None


def metadata_env(ctx: EnvContext, instance: str) -> dict[str, str]:
    """The metadata server of workload ``instance`` (a service account, or a GKE pod's Kubernetes
    service account): google-auth takes ``host:port``; the user-info names the instance (see
    ``idp/google.py``; requests sends user-info as Basic credentials only with a ``:``, hence the
    empty password). The ping address has none: any instance answers it."""
    netloc = urlsplit(ctx.idp_http).netloc
    return {"GCE_METADATA_HOST": f"{instance}:@{netloc}", "GCE_METADATA_IP": netloc}


def _workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    return metadata_env(ctx, principal.name)


CLOUD = Cloud(
    id="gcp",
    title="Google Cloud",
    issuer_ids=("gcp",),
    principal_kinds=("service-account",),
    metadata_hosts=frozenset({"metadata", "metadata.google.internal", "169.254.169.254"}),
    connect_environment="gcp",
    idp_handler=_idp_handler,
    workload_env=_workload_env,
    authorization_claim=None,  # no groups in its tokens: $external users
)
