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


# The seeded service accounts: (name, infrastructure, the metadata server's default identity).
_SEED_ACCOUNTS = (
    ("gce-worker", "Compute Engine", True),
    ("gae-std-web", "App Engine standard environment", False),
    ("gae-flex-web", "App Engine flexible environment", False),
    ("fn-thumbnailer", "Cloud Functions", False),
    ("run-checkout", "Cloud Run", False),
    ("gke-recommender", "Google Kubernetes Engine", False),
    ("build-migrations", "Cloud Build", False),
)


def _seed() -> list[tuple[str, dict[str, Any]]]:
    """One service account per infrastructure of MongoDB's built-in authentication table."""
    import secrets

    from ..idp.google import DEFAULT_PROJECT, project_number
    from ..idp.principals import generated_google_id

    project = DEFAULT_PROJECT
    entries: list[tuple[str, dict[str, Any]]] = []
    for name, infra, is_default in _SEED_ACCOUNTS:
        entry: dict[str, Any] = {
            "name": name,
            "kind": "service-account",
            "issuer": "gcp",
            "infrastructure": infra,
            "client_id": f"{name}@{project}.iam.gserviceaccount.com",
            "subject": generated_google_id(),
            # Google ID tokens carry no groups claim (useAuthorizationClaim: false on mongod).
            "groups": [],
            "claims": {"email": f"{name}@{project}.iam.gserviceaccount.com"},
        }
        if is_default:
            entry["default"] = True
        if name == "gce-worker":
            entry["claims"]["google"] = {
                "compute_engine": {
                    "instance_creation_timestamp": 1764400000,
                    "instance_id": "".join(str(secrets.randbelow(10)) for _ in range(19)).lstrip("0"),
                    "instance_name": "gce-worker-1",
                    "project_id": project,
                    "project_number": project_number(project),
                    "zone": "europe-west1-b",
                }
            }
        entries.append(
            (f"Google service account on {infra}: the metadata server's identity endpoint.", entry)
        )
    return entries


CLOUD = Cloud(
    id="gcp",
    title="Google Cloud",
    issuer_ids=("gcp",),
    principal_kinds=("service-account",),
    metadata_hosts=frozenset({"metadata", "metadata.google.internal", "169.254.169.254"}),
    connect_environment="gcp",
    connect_token_source="the GCP metadata server (pymongo built-in)",
    idp_handler=_idp_handler,
    workload_env=_workload_env,
    authorization_claim=None,  # no groups in its tokens: $external users
    seed_principals=_seed,
    token_methods={"service-account": "gcp"},
    # google-auth's verify_oauth2_token (and verify_token by default) reads Google's PEM map here;
    # the v3 JWKS is the one certs_url=... names in Google's docs.
    vendor_hosts={
        "www.googleapis.com": {
            "/oauth2/v1/certs": "/gcp/oauth2/v1/certs",
            "/oauth2/v3/certs": "/gcp/oauth2/v3/certs",
        }
    },
)
