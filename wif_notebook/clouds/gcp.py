"""Google Cloud: service accounts and the metadata server (Compute Engine, GKE, Cloud Run, ...).

The IdP side lives in ``idp/google.py`` (metadata server, ``/oauth2/v1/certs``); this module
declares it to the registry and says where a workload of a given service account finds its
metadata server (``GCE_METADATA_HOST``/``GCE_METADATA_IP``, which google-auth reads).
"""

from __future__ import annotations

import time
import urllib.parse
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..httpclient import DEFAULT_TIMEOUT
from ..idp.issuers import path_issuer
from . import ClaimsDraft, Cloud, ConnectPlan, EnvContext, MetadataHost, PrincipalKind, ProductionIssuer

if TYPE_CHECKING:
    from ..idp.principals import Principal
    from ..state import StateDir
    from ..tokens import IssuedToken

# The prefixes idp/google.py answers: asked before importing it, so other requests pay nothing.
_PATHS = ("/computeMetadata/", "/gcp/oauth2/v1/")


def _idp_handler(idp: Any, req: Any) -> Any:
    if req.path.startswith(_PATHS) or req.path in ("", "/"):
        from ..idp import google

        return google.handle(idp, req)
    return None


def _shape_claims(draft: ClaimsDraft) -> None:
    """A Google ID token: ``azp``, ``email`` (``email_verified``), no ``nbf`` or ``jti``, and the
    ``google.compute_engine`` block only when ``format=full`` asked for it."""
    claims, extra, principal = draft.claims, draft.extra, draft.principal
    email = str(extra.pop("email", principal.client_id))
    extra.pop("google", None)  # the instance's facts: only in format=full tokens
    # Google's ID tokens carry neither nbf nor jti (a fault preset may still set nbf).
    del claims["nbf"], claims["jti"]
    claims.update({"azp": principal.subject, "email": email, "email_verified": True})
    if draft.gcp_full:
        from ..idp.google import compute_engine_block

        claims["google"] = {"compute_engine": compute_engine_block(principal)}
    if principal.groups:
        claims["groups"] = list(principal.groups)


def metadata_env(ctx: EnvContext, instance: str) -> dict[str, str]:
    """The metadata server of workload ``instance`` (a service account, or a GKE pod's Kubernetes
    service account): google-auth takes ``host:port``; the user-info names the instance (see
    ``idp/google.py``; requests sends user-info as Basic credentials only with a ``:``, hence the
    empty password). The ping address has none: any instance answers it."""
    netloc = urlsplit(ctx.idp_http).netloc
    return {"GCE_METADATA_HOST": f"{instance}:@{netloc}", "GCE_METADATA_IP": netloc}


def _workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    return metadata_env(ctx, principal.name)


IDENTITY_PATH = "/computeMetadata/v1/instance/service-accounts/{account}/identity"


def metadata_token(
    audience: str,
    *,
    principal: str | Principal | None = None,
    full: bool = False,
    state: StateDir | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IssuedToken:
    """A Google service-account ID token from the metadata server, as ``ENVIRONMENT:gcp`` asks for
    it (``tokens.gcp_metadata``).

    The body is the raw JWT. ``principal`` names a service account (default: the instance's);
    ``full`` adds ``format=full`` (the ``google.compute_engine`` block; pymongo does not send it).
    """
    from .. import tokens

    started = time.perf_counter()
    state, _record = tokens.running_idp(state)
    account, name = "default", None
    if principal is not None:
        who = tokens.resolve_principal(state, principal)
        account, name = who.claims.get("email") or who.client_id, who.name
    query = f"audience={urllib.parse.quote(audience)}" + ("&format=full" if full else "")
    path = IDENTITY_PATH.format(account=urllib.parse.quote(account, safe="@"))
    url, response = tokens.ask_host(
        "GCP metadata identity request",
        f"{path}?{query}",
        {"Metadata-Flavor": "Google"},
        state=state,
        timeout=timeout,
    )
    return tokens.IssuedToken.build(
        response.body.decode("utf-8"), method="gcp", source=url, started=started, principal=name
    )


def _metadata_method(state: StateDir, principal: Principal, audience: str | None) -> IssuedToken:
    return metadata_token(audience or principal.default_audience, principal=principal, state=state)


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


def _export_values(principals: list[Principal]) -> list[tuple[str | None, Any]]:
    """The project and each service account's unique id, as ``wif export``'s placeholders."""
    from ..export._kit import upper_name
    from ..export._model import Placeholder

    values: list[tuple[str | None, Any]] = [
        (None, Placeholder("PROJECT_ID", "your Google Cloud project id", "gcloud config get-value project"))
    ]
    for p in principals:
        if p.issuer_id != "gcp":
            continue
        values.append(
            (
                p.subject,
                Placeholder(
                    f"{upper_name(p.name)}_UNIQUE_ID",
                    f"unique id of the Google service account {p.name}: its ID tokens' sub",
                    f"gcloud iam service-accounts describe {p.name}@PROJECT_ID.iam.gserviceaccount.com "
                    "--format='value(uniqueId)'",
                ),
            )
        )
        _local, _, domain = p.client_id.partition("@")
        project = domain.removesuffix(".iam.gserviceaccount.com")
        if project and project != domain:
            values.append((f"@{project}.iam.gserviceaccount.com", "@<PROJECT_ID>.iam.gserviceaccount.com"))
            values.append((f"{project}.svc.id.goog", "<PROJECT_ID>.svc.id.goog"))
    return values


CLOUD = Cloud(
    id="gcp",
    title="Google Cloud",
    issuers=(
        path_issuer("gcp", "Google (service-account ID tokens)", "/oauth2/v3/certs", "api://mongodb-kit-gcp"),
    ),
    production_issuers=(
        ProductionIssuer(
            "google",
            "https://accounts.google.com",
            "Google",
            public_host="accounts.google.com",
            kit_name=lambda name: name in ("gcp", "google"),
        ),
    ),
    principal_kinds={"service-account": PrincipalKind("gcp")},  # Google service account: the metadata server
    metadata=MetadataHost(
        frozenset({"metadata", "metadata.google.internal", "169.254.169.254"}),
        "/computeMetadata/",
        "gcp-metadata",
        "GET GCP metadata identity",
        "service-account",
        "Google service account",
        "GCP metadata server (host 'metadata')",
    ),
    connect=ConnectPlan("gcp", "the GCP metadata server (pymongo built-in)", token_resource=True),
    idp_handler=_idp_handler,
    shape_claims=_shape_claims,
    workload_env=_workload_env,
    authorization_claim=None,  # no groups in its tokens: $external users
    seed_principals=_seed,
    token_methods={"gcp": _metadata_method},
    default_token_methods={"service-account": "gcp"},
    export_values=_export_values,
    # google-auth's verify_oauth2_token (and verify_token by default) reads Google's PEM map here;
    # the v3 JWKS is the one certs_url=... names in Google's docs.
    vendor_hosts={
        "www.googleapis.com": {
            "/oauth2/v1/certs": "/gcp/oauth2/v1/certs",
            "/oauth2/v3/certs": "/gcp/oauth2/v3/certs",
        }
    },
)
