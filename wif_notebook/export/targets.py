"""The export targets: one module each, and ``export(state, target)`` that runs one."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import ConfigError
from ..state import StateDir
from ._kit import KitSnapshot, snapshot
from ._model import Export

# target → (module that builds it, one line for `wif export --help`)
TARGETS: dict[str, tuple[str, str]] = {
    "enterprise": (
        "wif_notebook.export.enterprise",
        "MongoDB Enterprise: mongod.conf (https issuers), the --setParameter form, mongosh roles/users",
    ),
    "atlas": ("wif_notebook.export.atlas", "MongoDB Atlas: Atlas CLI script and Admin API request bodies"),
    "azure": (
        "wif_notebook.export.azure",
        "Microsoft Azure: az CLI script (app registration, managed identity, federated credential)",
    ),
    "gcp": (
        "wif_notebook.export.gcp",
        "Google Cloud: gcloud script (service accounts, GKE Workload Identity binding)",
    ),
    "k8s": (
        "wif_notebook.export.k8s",
        "Kubernetes: ServiceAccount and Deployment manifests (AKS, EKS, GKE, any cluster)",
    ),
}

Builder = Callable[[KitSnapshot], Export]


def export(state: StateDir, target: str) -> Export:
    """Production artifacts for ``target`` (a key of ``TARGETS``) from the kit's state."""
    if target not in TARGETS:
        raise ConfigError(
            f"unknown export target {target!r}",
            hint=f"use one of: {', '.join(TARGETS)} (e.g. `wif export enterprise`)",
        )
    module = importlib.import_module(TARGETS[target][0])
    build: Builder = module.build
    return build(snapshot(state))
