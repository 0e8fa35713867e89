"""``wif export k8s``: ServiceAccount and Deployment manifests for the kit's Kubernetes workloads.

One file per platform, each only when the kit has a workload for it:

- ``any-cluster.yaml``: a service account of the catalog (kind ``kubernetes-service-account``) whose
  pod gets a projected token with MongoDB's own audience at the path pymongo's ``ENVIRONMENT:k8s``
  reads by default (the automounted API token is switched off: its audience is the API server's).
- ``aks.yaml``: AKS workload identity for each managed identity with a federated credential for a
  service account: SA annotation ``azure.workload.identity/client-id``, pod label
  ``azure.workload.identity/use: "true"`` (the webhook then projects the
  ``api://AzureADTokenExchange`` token and sets ``AZURE_FEDERATED_TOKEN_FILE``; real-clouds §4).
- ``eks.yaml``: EKS (IRSA) for service accounts with an ``eks`` token file: SA annotation
  ``eks.amazonaws.com/role-arn`` (the webhook projects an ``sts.amazonaws.com`` token; §6).
- ``gke.yaml``: GKE Workload Identity for Google service accounts on GKE: KSA annotation
  ``iam.gke.io/gcp-service-account``; pymongo's ``ENVIRONMENT:gcp`` then gets the Google ID token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import yaml

from ..errors import ConfigError
from ..idp.google import GKE_ANNOTATION
from ..idp.issuers import AZURE_TOKEN_EXCHANGE_AUDIENCE
from ..idp.principals import Principal
from ._kit import KitSnapshot, ProductionProvider, upper_name
from ._model import Export, Placeholder, make_export

TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"  # pymongo ENVIRONMENT:k8s's default file
TOKEN_SECONDS = 3600  # kubelet's default expirationSeconds; it rotates the file before expiry
GKE_NAMESPACE = "default"  # where the GKE service accounts go; the gcp export binds the same one

PLACEHOLDERS = {
    p.name: p
    for p in (
        Placeholder("IMAGE", "your workload's container image", "your registry, e.g. REGISTRY/APP:TAG"),
        Placeholder(
            "MONGODB_HOST",
            "host:port list of your MongoDB deployment (Atlas: use the mongodb+srv string of Connect)",
            "Atlas: atlas clusters connectionStrings describe CLUSTER; Enterprise: your servers",
        ),
    )
}


def gke_service_account(principal: Principal) -> tuple[str, str]:
    """(namespace, name) of the Kubernetes service account a GKE workload of ``principal`` runs as."""
    return GKE_NAMESPACE, principal.name


def is_gke(principal: Principal) -> bool:
    return principal.issuer_id == "gcp" and "Kubernetes Engine" in principal.infrastructure


def aks_identities(snap: KitSnapshot) -> list[tuple[Principal, str, str]]:
    """(managed identity, namespace, service account) for each AKS federated credential."""
    out = []
    for p in snap.principals:
        for cred in p.federated_credentials:
            owner = next((k for k in snap.principals if k.subject == cred.subject), None)
            if cred.audience != AZURE_TOKEN_EXCHANGE_AUDIENCE or owner is None:
                continue
            if owner.kind == "kubernetes-service-account":
                namespace, name = owner.k8s_namespace_and_name
                out.append((p, namespace, name))
    return out


def _uri(properties: str) -> str:
    return f"mongodb://<MONGODB_HOST>/?authMechanism=MONGODB-OIDC&authMechanismProperties={properties}"


def service_account(namespace: str, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def deployment(
    namespace: str,
    name: str,
    *,
    env: dict[str, str],
    pod_labels: dict[str, str] | None = None,
    mongodb_audience: str | None = None,
) -> dict[str, Any]:
    """A one-replica Deployment running as service account ``name``; with ``mongodb_audience``, the
    pod's token at pymongo's default path is a projected token for that audience."""
    labels = {"app": name, **(pod_labels or {})}
    container: dict[str, Any] = {
        "name": name,
        "image": "<IMAGE>",
        "env": [{"name": k, "value": v} for k, v in env.items()],
    }
    pod: dict[str, Any] = {"serviceAccountName": name, "containers": [container]}
    if mongodb_audience is not None:
        pod["automountServiceAccountToken"] = False
        pod["volumes"] = [
            {
                "name": "mongodb-token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": mongodb_audience,
                                "expirationSeconds": TOKEN_SECONDS,
                                "path": "token",
                            }
                        }
                    ]
                },
            }
        ]
        container["volumeMounts"] = [{"name": "mongodb-token", "mountPath": TOKEN_DIR, "readOnly": True}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def _documents(comment: str, docs: list[dict[str, Any]]) -> str:
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=1000) for d in docs)
    return header + body


def build(snap: KitSnapshot) -> Export:
    placeholders: dict[str, Placeholder] = {**snap.placeholders, **PLACEHOLDERS}
    files: dict[str, str] = {}
    notes: list[str] = []
    cluster = snap.of_kind("kubernetes")
    files.update(_any_cluster(snap, cluster, notes))
    files.update(_aks(snap, notes))
    files.update(_eks(snap, placeholders, cluster, notes))
    files.update(_gke(snap, notes))
    if not files:
        raise ConfigError(
            "nothing to export for Kubernetes: the kit has no Kubernetes, AKS or GKE workload",
            hint="add a kubernetes-service-account principal to principals.yaml (`wif idp principals` "
            "lists them) or a Kubernetes provider with %wif_mongod, then export again",
        )
    notes.append("The namespaces must exist (kubectl create namespace NAME) before kubectl apply -f FILE.")
    return make_export(
        "k8s",
        "Kubernetes: service accounts and workloads with their identity tokens",
        files,
        placeholders,
        notes=notes + snap.notes,
        sources=snap.sources,
    )


def _any_cluster(snap: KitSnapshot, cluster: list[ProductionProvider], notes: list[str]) -> dict[str, str]:
    # A service account annotated for GKE Workload Identity logs in as its Google service account
    # (gke.yaml), not with the cluster's own token.
    workloads = [
        p
        for p in snap.principals
        if p.kind == "kubernetes-service-account" and GKE_ANNOTATION not in p.annotations
    ]
    if not workloads:
        return {}
    if not cluster:
        notes.append(
            "No Kubernetes provider is configured in the kit's mongod.conf, so any-cluster.yaml was not "
            "written: add one (%wif_mongod) for the cluster's issuer."
        )
        return {}
    audience = cluster[0].audience
    docs: list[dict[str, Any]] = []
    for p in workloads:
        namespace, name = p.k8s_namespace_and_name
        docs.append(service_account(namespace, name))
        docs.append(
            deployment(
                namespace, name, env={"MONGODB_URI": _uri("ENVIRONMENT:k8s")}, mongodb_audience=audience
            )
        )
    comment = (
        "Any cluster: the pod's projected service-account token, audience "
        f"{audience} (provider {cluster[0].prefix}),\n"
        f"is mounted where pymongo's ENVIRONMENT:k8s reads it ({TOKEN_DIR}/token).\n"
        "automountServiceAccountToken is off: that token's audience is the API server, not MongoDB."
    )
    return {"any-cluster.yaml": _documents(comment, docs)}


def _aks(snap: KitSnapshot, notes: list[str]) -> dict[str, str]:
    found = aks_identities(snap)
    if not found:
        return {}
    docs: list[dict[str, Any]] = []
    for identity, namespace, name in found:
        client_id = snap.sub(identity.client_id)
        docs.append(service_account(namespace, name, {"azure.workload.identity/client-id": client_id}))
        docs.append(
            deployment(
                namespace,
                name,
                env={"MONGODB_URI": _uri("ENVIRONMENT:k8s")},
                pod_labels={"azure.workload.identity/use": "true"},
            )
        )
    comment = (
        "AKS workload identity: the webhook projects a token with audience api://AzureADTokenExchange at\n"
        'AZURE_FEDERATED_TOKEN_FILE for pods labelled azure.workload.identity/use: "true".\n'
        "ENVIRONMENT:k8s sends that token itself (mongod then trusts the cluster issuer for that\n"
        "audience); to log in as the Entra managed identity instead, drop ENVIRONMENT and exchange it\n"
        "with azure-identity's WorkloadIdentityCredential in an OIDC_CALLBACK."
    )
    notes.append(
        "aks.yaml: the federated credential (wif export azure) must name this service account's "
        "namespace and name exactly, and the cluster needs --enable-oidc-issuer --enable-workload-identity."
    )
    return {"aks.yaml": _documents(comment, docs)}


def _eks(
    snap: KitSnapshot,
    placeholders: dict[str, Placeholder],
    cluster: list[ProductionProvider],
    notes: list[str],
) -> dict[str, str]:
    workloads = [p for p in snap.principals if "eks" in p.token_files]
    if not workloads:
        return {}
    docs: list[dict[str, Any]] = []
    for p in workloads:
        namespace, name = p.k8s_namespace_and_name
        arn = Placeholder(
            f"{upper_name(p.name)}_EKS_ROLE_ARN",
            f"ARN of the IAM role the EKS pod identity webhook projects a token for ({p.name})",
            "aws iam get-role --role-name ROLE --query Role.Arn --output text",
        )
        placeholders[arn.name] = arn
        docs.append(service_account(namespace, name, {"eks.amazonaws.com/role-arn": arn.token}))
        docs.append(deployment(namespace, name, env={"MONGODB_URI": _uri("ENVIRONMENT:k8s")}))
    comment = (
        "EKS (IRSA): the webhook projects a token with audience sts.amazonaws.com at\n"
        "AWS_WEB_IDENTITY_TOKEN_FILE, which pymongo's ENVIRONMENT:k8s prefers to every other file."
    )
    if not any(c.audience == "sts.amazonaws.com" for c in cluster):
        notes.append(
            "eks.yaml: pods send the sts.amazonaws.com token, so mongod's entry for the EKS cluster "
            'issuer needs "audience": "sts.amazonaws.com".'
        )
    return {"eks.yaml": _documents(comment, docs)}


def _gke(snap: KitSnapshot, notes: list[str]) -> dict[str, str]:
    workloads = [p for p in snap.principals if is_gke(p)]
    google = snap.of_kind("google")
    if not workloads or not google:
        return {}
    audience = google[0].audience
    docs: list[dict[str, Any]] = []
    for p in workloads:
        namespace, name = gke_service_account(p)
        docs.append(
            service_account(namespace, name, {"iam.gke.io/gcp-service-account": snap.sub(p.client_id)})
        )
        # Percent-encoded: the properties are split on "," and the resource may hold any character.
        resource = quote(audience, safe=":/<>")
        env = {"MONGODB_URI": _uri(f"ENVIRONMENT:gcp,TOKEN_RESOURCE:{resource}")}
        docs.append(deployment(namespace, name, env=env))
    comment = (
        "GKE Workload Identity: pods of this service account get the Google service account's ID token\n"
        "from the metadata server (pymongo ENVIRONMENT:gcp); the binding is in wif export gcp."
    )
    notes.append(
        f"gke.yaml: GKE service accounts go in namespace {GKE_NAMESPACE!r} under the Google service "
        "account's name; change both here and in the gcp export's binding together."
    )
    return {"gke.yaml": _documents(comment, docs)}
