"""The kit's Kubernetes issuer as the API server serves it, and the token files a pod has per cloud."""

from __future__ import annotations

import jwt
import pytest
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook import authorization, stack
from wif_notebook.idp.issuers import AZURE_TENANT_ID, AZURE_TOKEN_EXCHANGE_AUDIENCE, EKS_AUDIENCE
from wif_notebook.idp.principals import find
from wif_notebook.idp.service import idp_record
from wif_notebook.idp.tokenfiles import token_file_path
from wif_notebook.state import StateDir

from .conftest import get_json, jwks_client, workload_env


def _record(state: StateDir) -> dict[str, object]:
    record = idp_record(state)
    assert record is not None
    return record.extra


def test_discovery_is_the_api_servers_document(kit: StateDir) -> None:
    issuer = _record(kit)["issuers"]["k8s"]["issuer"]  # type: ignore[index]
    client = jwks_client(kit, f"{issuer}/openid/v1/jwks")
    doc = get_json(kit, f"{issuer}/.well-known/openid-configuration")
    assert doc == {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    assert client.get_jwk_set().keys


def test_service_account_token_carries_the_kubernetes_io_block(kit: StateDir) -> None:
    extra = _record(kit)
    issuer = extra["issuers"]["k8s"]  # type: ignore[index]
    token = token_file_path(kit, "serviceaccount").read_text()
    signing_key = jwks_client(kit, f"{issuer['issuer']}/openid/v1/jwks").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=issuer["audience"])
    assert claims["aud"] == [issuer["audience"]], "Kubernetes writes aud as an array"
    assert claims["sub"] == "system:serviceaccount:shop:orders-worker"
    assert claims["jti"] and claims["nbf"] <= claims["iat"] < claims["exp"]
    block = claims["kubernetes.io"]
    assert block["namespace"] == "shop"
    assert block["serviceaccount"]["name"] == "orders-worker"
    for part in ("pod", "serviceaccount", "node"):
        assert set(block[part]) == {"name", "uid"}, part
        assert len(block[part]["uid"]) == 36, "uids are UUIDs"


class _FileCallback(OIDCCallback):
    """What ENVIRONMENT:k8s does, as a callback: the token file, read at each login."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        with open(self.path) as f:
            return OIDCCallbackResult(access_token=f.read())


def test_the_service_account_token_logs_in_as_its_external_user(kit: StateDir) -> None:
    authorization.authorize(kit, principal="orders-worker", roles=["readWrite@shop"])
    path = token_file_path(kit, "serviceaccount")
    client: MongoClient[dict[str, object]] = MongoClient(
        stack.status(kit)["mongodb_uri"],
        authMechanismProperties={"OIDC_CALLBACK": _FileCallback(str(path))},
    )
    try:
        info = client.admin.command("connectionStatus")["authInfo"]
    finally:
        client.close()
    assert info["authenticatedUsers"] == [
        {"user": "k8s/system:serviceaccount:shop:orders-worker", "db": "$external"}
    ]
    assert info["authenticatedUserRoles"] == [{"role": "readWrite", "db": "shop"}]


def test_an_aks_pod_has_the_webhooks_variables_and_an_exchange_audience_token(kit: StateDir) -> None:
    env = workload_env(kit, "orders-worker")
    assert env["AZURE_TENANT_ID"] == AZURE_TENANT_ID
    assert env["AZURE_CLIENT_ID"] == find(kit, "orders-identity").client_id
    assert env["AZURE_AUTHORITY_HOST"].endswith("/")
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in env, "pymongo would prefer it over the Azure file"
    token = open(env["AZURE_FEDERATED_TOKEN_FILE"]).read()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == [AZURE_TOKEN_EXCHANGE_AUDIENCE]
    assert claims["sub"] == "system:serviceaccount:shop:orders-worker"


def test_an_eks_pod_has_the_irsa_variables_and_an_sts_audience_token(kit: StateDir) -> None:
    from dataclasses import replace

    from wif_notebook import clouds

    ctx = clouds.env_context(kit)
    # The same service account on an EKS cluster: only the EKS token file is projected.
    on_eks = replace(find(kit, "orders-worker"), token_files=["eks"])
    env = clouds.get("k8s").workload_env(ctx, on_eks)
    assert "AZURE_FEDERATED_TOKEN_FILE" not in env
    assert env["AWS_ROLE_ARN"] == "arn:aws:iam::111122223333:role/shop-orders-worker"
    claims = jwt.decode(open(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read(), options={"verify_signature": False})
    assert claims["aud"] == [EKS_AUDIENCE]
    # The role its eks.amazonaws.com/role-arn annotation names, as the pod-identity webhook injects.
    annotated = replace(
        on_eks, annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::444455556666:role/orders"}
    )
    assert (
        clouds.get("k8s").workload_env(ctx, annotated)["AWS_ROLE_ARN"]
        == "arn:aws:iam::444455556666:role/orders"
    )


def test_a_gke_pod_sees_the_metadata_server_of_its_google_service_account(kit: StateDir) -> None:
    env = workload_env(kit, "recommender-ksa")
    assert env["GCE_METADATA_HOST"].startswith("recommender-ksa:@")
    assert env["GCE_METADATA_IP"] == env["GCE_METADATA_HOST"].split("@", 1)[1]


@pytest.mark.parametrize("name", ["gce-worker", "run-checkout"])
def test_a_google_workload_has_its_own_metadata_host(kit: StateDir, name: str) -> None:
    env = workload_env(kit, name)
    assert env["GCE_METADATA_HOST"].startswith(f"{name}:@localhost:")
