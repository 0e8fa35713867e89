"""Kubernetes: a cluster's service-account issuer and projected token files (AKS, EKS, any cluster).

The IdP side: ``idp/kubernetes.py`` (the API server's discovery document) and ``idp/tokenfiles.py``
(the token files the kubelet would project, one per audience). ``wif env --principal`` gives a
pod's variables: AKS workload identity's ``AZURE_*`` (token audience ``api://AzureADTokenExchange``),
EKS IRSA's ``AWS_WEB_IDENTITY_TOKEN_FILE``/``AWS_ROLE_ARN`` (``sts.amazonaws.com``),
``OIDC_TOKEN_FILE`` for MongoDB's own audience, and on GKE the metadata server of the Google
service account the Kubernetes service account is annotated with.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..idp.issuers import AZURE_TOKEN_EXCHANGE_AUDIENCE, EKS_AUDIENCE, ISSUERS, path_issuer
from . import Cloud, ConnectFile, ConnectPlan, PrincipalKind, ProductionIssuer, TokenFile, vendor_proxy_env

if TYPE_CHECKING:
    from ..idp.principals import Principal
    from ..state import StateDir
    from ..tokens import IssuedToken
    from . import ClaimsDraft, EnvContext

EKS_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# pymongo's built-in integrations, spec order for k8s (mongodb-oidc reference §13).
TOKEN_VARIABLES = ("AZURE_FEDERATED_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE")
DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def token_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``ENVIRONMENT:k8s`` reads: AZURE_FEDERATED_TOKEN_FILE, AWS_WEB_IDENTITY_TOKEN_FILE,
    default path (``tokens.k8s_token_path``).

    That is the spec's order; pymongo 4.20 lets AWS win when both are set (reference §13).
    """
    env = os.environ if environ is None else environ
    for variable in TOKEN_VARIABLES:
        if env.get(variable):
            return Path(env[variable])
    return Path(DEFAULT_TOKEN_PATH)


def federated_client_for(
    principals: list[Principal], subject_owner: Principal, base_url: str
) -> Principal | None:
    """The Azure principal whose federated credential trusts ``subject_owner``'s AKS token."""
    k8s_url = ISSUERS[subject_owner.issuer_id].issuer_url(base_url)
    for p in principals:
        for cred in p.federated_credentials:
            issuer = ISSUERS[cred.issuer].issuer_url(base_url) if cred.issuer in ISSUERS else cred.issuer
            if (
                issuer == k8s_url
                and cred.subject == subject_owner.subject
                and cred.audience == AZURE_TOKEN_EXCHANGE_AUDIENCE
            ):
                return p
    return None


def _aks_token_file(
    path: Path, owner: Principal, principals: list[Principal], base_url: str
) -> dict[str, str]:
    """What the AKS workload-identity webhook injects for the file's service account."""
    from ..idp.issuers import AZURE_TENANT_ID

    env = {
        "AZURE_FEDERATED_TOKEN_FILE": str(path),
        "AZURE_TENANT_ID": AZURE_TENANT_ID,
        "AZURE_AUTHORITY_HOST": base_url,  # Entra lives at the root of the IdP (clouds/azure.py)
    }
    client = federated_client_for(principals, owner, base_url)
    if client is not None:
        env["AZURE_CLIENT_ID"] = client.client_id
    return env


def _eks_token_file(
    path: Path, owner: Principal, principals: list[Principal], base_url: str
) -> dict[str, str]:
    """What the EKS pod-identity webhook injects for the file's service account."""
    return {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(path),
        "AWS_ROLE_ARN": _eks_role_arn(owner),
    }


def _eks_role_arn(account: Principal) -> str:
    """The IAM role an EKS service account assumes: its annotation's, else one named after the
    account in AWS's documentation account (111122223333)."""
    namespace, sa = account.k8s_namespace_and_name
    return account.annotations.get(EKS_ROLE_ANNOTATION, f"arn:aws:iam::111122223333:role/{namespace}-{sa}")


def _service_account_subject(subject: str) -> tuple[str, str] | None:
    from ..idp.principals import SERVICE_ACCOUNT_SUBJECT

    if SERVICE_ACCOUNT_SUBJECT.match(subject):
        return None
    return (
        f"{subject!r} is not a service-account subject",
        "write `subject: system:serviceaccount:<namespace>:<name>`",
    )


def _token_file_method(state: StateDir, principal: Principal, audience: str | None) -> IssuedToken:
    from ..tokens import kit_token_file

    if audience is not None:
        raise ConfigError(
            "a projected token file has a fixed audience",
            hint="drop --audience, or use --via mint for another audience",
        )
    return kit_token_file(principal, state=state)


def _idp_handler(idp: Any, req: Any) -> Any:
    if req.path.startswith("/k8s/.well-known/"):
        from ..idp import kubernetes

        return kubernetes.handle(idp, req)
    return None


def _stable_uid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "wif-notebook:" + ":".join(parts)))


def _shape_claims(draft: ClaimsDraft) -> None:
    """A projected service-account token: ``aud`` a list, the ``kubernetes.io`` block with the pod's
    and the service account's uids (stable per subject, as a running pod's are)."""
    claims, principal = draft.claims, draft.principal
    namespace, sa = principal.k8s_namespace_and_name
    pod_hash = hashlib.sha256(principal.subject.encode()).hexdigest()
    claims["aud"] = [draft.audience]
    claims["kubernetes.io"] = {
        "namespace": namespace,
        "node": {"name": "kit-node-1", "uid": _stable_uid("node", "kit-node-1")},
        "pod": {
            "name": f"{sa}-{pod_hash[:10]}-{pod_hash[10:15]}",
            "uid": _stable_uid("pod", principal.subject),
        },
        "serviceaccount": {"name": sa, "uid": _stable_uid("sa", principal.subject)},
    }
    if principal.groups:
        claims["groups"] = list(principal.groups)


def _workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    """A pod's variables. pymongo's ``ENVIRONMENT:k8s`` lets AWS_WEB_IDENTITY_TOKEN_FILE win over
    AZURE_FEDERATED_TOKEN_FILE, and a pod runs on one cluster: the AKS variables when the account
    has an AKS token file, else EKS's when it has an EKS one (``wif env --platform eks`` gives the
    EKS variables of the catalog's EKS token file)."""
    from ..idp.google import GKE_ANNOTATION
    from ..idp.issuers import AZURE_TENANT_ID
    from ..idp.principals import load_catalog
    from ..idp.tokenfiles import token_file_path
    from .gcp import metadata_env

    state = ctx.state
    env: dict[str, str] = {}
    files = principal.token_files
    if "oidc" in files:
        env["OIDC_TOKEN_FILE"] = str(token_file_path(state, "oidc"))
    if "aks" in files:
        # What the AKS workload-identity webhook injects into the pod.
        env["AZURE_FEDERATED_TOKEN_FILE"] = str(token_file_path(state, "aks"))
        env["AZURE_TENANT_ID"] = AZURE_TENANT_ID
        # The webhook writes the authority host with a trailing slash; Entra is at the IdP's root.
        env["AZURE_AUTHORITY_HOST"] = f"{ctx.idp_https}/"
        client = federated_client_for(load_catalog(state), principal, ctx.idp_http)
        if client is not None:
            env["AZURE_CLIENT_ID"] = client.client_id
    elif "eks" in files:
        # What the EKS pod-identity webhook injects (role from the account's annotation).
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = str(token_file_path(state, "eks"))
        env["AWS_ROLE_ARN"] = _eks_role_arn(principal)
    if GKE_ANNOTATION in principal.annotations:
        env.update(metadata_env(ctx, principal.name))
    if GKE_ANNOTATION in principal.annotations or "aks" in files:
        # The pod's Google or Microsoft SDK calls their vendor hosts as it does on any of their hosts.
        env.update(vendor_proxy_env(ctx))
    return env


def _seed() -> list[tuple[str, dict[str, Any]]]:
    from ..idp.google import DEFAULT_PROJECT, GKE_ANNOTATION

    return [
        (
            "Kubernetes service account shop/orders-worker: projected token files for plain "
            "Kubernetes, AKS (AZURE_FEDERATED_TOKEN_FILE) and EKS (AWS_WEB_IDENTITY_TOKEN_FILE).",
            {
                "name": "orders-worker",
                "kind": "kubernetes-service-account",
                "issuer": "k8s",
                "infrastructure": "Kubernetes (AKS, EKS or any cluster)",
                "client_id": "orders-worker",
                "subject": "system:serviceaccount:shop:orders-worker",
                # Real service-account tokens carry no groups claim: a mongod trusting this issuer
                # uses useAuthorizationClaim: false and a $external user per service account.
                "groups": [],
                "token_files": ["serviceaccount", "aks", "eks"],
            },
        ),
        (
            "Kubernetes service account default/gke-recommender on GKE with Workload Identity: the "
            "metadata server gives its pods the tokens of the Google service account its annotation "
            "names (wif export k8s/gcp write the same account and binding).",
            {
                "name": "recommender-ksa",
                "kind": "kubernetes-service-account",
                "issuer": "k8s",
                "infrastructure": "Google Kubernetes Engine (Workload Identity)",
                "client_id": "recommender-ksa",
                "subject": "system:serviceaccount:default:gke-recommender",
                "groups": [],
                "annotations": {GKE_ANNOTATION: f"gke-recommender@{DEFAULT_PROJECT}.iam.gserviceaccount.com"},
            },
        ),
    ]


CLOUD = Cloud(
    id="k8s",
    title="Kubernetes (projected service-account tokens)",
    issuers=(
        path_issuer(
            "k8s",
            "Kubernetes cluster (projected service-account tokens)",
            "/openid/v1/jwks",
            "api://mongodb-kit-k8s",
            typ=None,  # Kubernetes service-account tokens carry no typ
        ),
    ),
    production_issuers=(
        ProductionIssuer(
            "kubernetes",
            "<CLUSTER_ISSUER_URL>",
            "a Kubernetes cluster's service-account issuer",
            kit_name=lambda name: name in ("k8s", "kubernetes", "aks", "eks", "gke"),
            meaning="your Kubernetes cluster's service-account issuer URL (the `iss` of its projected "
            "tokens)",
            how_to_find="AKS: az aks show -g RESOURCE_GROUP -n CLUSTER --query oidcIssuerProfile.issuerUrl "
            "-o tsv; EKS: aws eks describe-cluster --name CLUSTER --query cluster.identity.oidc.issuer; "
            "any cluster: kubectl get --raw /.well-known/openid-configuration (field issuer)",
        ),
    ),
    # projected token files
    principal_kinds={
        "kubernetes-service-account": PrincipalKind("k8s", check_subject=_service_account_subject)
    },
    token_files={
        "serviceaccount": TokenFile("kubernetes.io/serviceaccount/token"),
        "aks": TokenFile(
            "azure/tokens/azure-identity-token",
            AZURE_TOKEN_EXCHANGE_AUDIENCE,
            exports=_aks_token_file,
            platform=True,
        ),
        "eks": TokenFile(
            "eks.amazonaws.com/serviceaccount/token", EKS_AUDIENCE, exports=_eks_token_file, platform=True
        ),
    },
    token_methods={"k8s-file": _token_file_method},
    default_token_methods={"kubernetes-service-account": "k8s-file"},
    connect=ConnectPlan(
        "k8s",
        "AZURE_FEDERATED_TOKEN_FILE / AWS_WEB_IDENTITY_TOKEN_FILE / the service-account token "
        "(pymongo built-in)",
        principal="orders-worker",
        # pymongo lets AWS_WEB_IDENTITY_TOKEN_FILE win over the Azure variable (reference §13).
        file=ConnectFile(
            "serviceaccount", "AZURE_FEDERATED_TOKEN_FILE", cleared=("AWS_WEB_IDENTITY_TOKEN_FILE",)
        ),
        token_path=token_path,
        verbatim=True,  # pymongo's k8s reader does not strip
        file_method="k8s-file",
    ),
    idp_handler=_idp_handler,
    shape_claims=_shape_claims,
    workload_env=_workload_env,
    authorization_claim=None,  # no groups in its tokens: $external users
    seed_principals=_seed,
)
