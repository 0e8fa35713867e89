"""Kubernetes: a cluster's service-account issuer and projected token files (AKS, EKS, any cluster)."""

from __future__ import annotations

from . import Cloud

CLOUD = Cloud(
    id="k8s",
    title="Kubernetes (projected service-account tokens)",
    issuer_ids=("k8s",),
    principal_kinds=("kubernetes-service-account",),
    connect_environment="k8s",
)
