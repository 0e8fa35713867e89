"""Microsoft Entra ID and Azure hosting (managed identity, App Service, AKS workload identity)."""

from __future__ import annotations

from . import Cloud

CLOUD = Cloud(
    id="azure",
    title="Microsoft Entra ID / Azure",
    issuer_ids=("azure",),
    principal_kinds=("service-principal", "managed-identity"),
    metadata_hosts=frozenset({"169.254.169.254"}),
    connect_environment="azure",
)
