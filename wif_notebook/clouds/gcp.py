"""Google Cloud: service accounts and the metadata server (Compute Engine, GKE, Cloud Run, ...)."""

from __future__ import annotations

from . import Cloud

CLOUD = Cloud(
    id="gcp",
    title="Google Cloud",
    issuer_ids=("gcp",),
    principal_kinds=("service-account",),
    metadata_hosts=frozenset({"metadata", "metadata.google.internal", "169.254.169.254"}),
    connect_environment="gcp",
)
