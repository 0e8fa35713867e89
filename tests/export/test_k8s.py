"""`wif export k8s`: every manifest deserializes into the `kubernetes` client's OpenAPI models
(V1ServiceAccount, V1Deployment: required fields enforced) and serializes back unchanged (no field
the API does not know), with the token volume and the annotations each cloud needs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from wif_notebook.export import Export
from wif_notebook.idp.principals import find

from .conftest import values_for

MODELS = {"ServiceAccount": "V1ServiceAccount", "Deployment": "V1Deployment"}


def model(doc: dict[str, Any]) -> Any:
    """The client's model of ``doc``; fails on a missing required field or an unknown one."""
    client = ApiClient()
    obj = client.deserialize(json.dumps(doc), MODELS[doc["kind"]], "application/json")
    assert client.sanitize_for_serialization(obj) == doc, "a field the Kubernetes API does not know"
    return obj


def manifests(result: Export, name: str) -> list[Any]:
    text = result.filled(values_for(result))[name]
    return [model(doc) for doc in yaml.safe_load_all(text)]


def test_every_manifest_is_a_valid_kubernetes_object(exports: dict[str, Export]) -> None:
    result = exports["k8s"]
    assert set(result.files) == {"any-cluster.yaml", "aks.yaml", "eks.yaml", "gke.yaml", "README.md"}
    for name in ("any-cluster.yaml", "aks.yaml", "eks.yaml", "gke.yaml"):
        objects = manifests(result, name)
        assert [type(o).__name__ for o in objects] == ["V1ServiceAccount", "V1Deployment"]
        account, deployment = objects
        pod = deployment.spec.template.spec
        assert pod.service_account_name == account.metadata.name
        assert deployment.metadata.namespace == account.metadata.namespace
        assert (
            deployment.spec.selector.match_labels.items() <= deployment.spec.template.metadata.labels.items()
        )


def test_the_model_check_refuses_a_container_without_a_name() -> None:
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"image": "i"}]}}},
    }
    with pytest.raises(Exception, match="name"):
        model(broken)
    typo = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "anotations": {}}}
    with pytest.raises(AssertionError, match="does not know"):
        model(typo)


def test_any_cluster_pod_gets_a_token_for_mongodbs_audience_where_pymongo_reads_it(
    exports: dict[str, Export],
) -> None:
    _, deployment = manifests(exports["k8s"], "any-cluster.yaml")
    pod = deployment.spec.template.spec
    assert pod.automount_service_account_token is False
    token = pod.volumes[0].projected.sources[0].service_account_token
    assert token.audience == "api://mongodb-kit-k8s"  # the k8s provider's audience in mongod.conf
    assert token.path == "token" and token.expiration_seconds == 3600
    mount = pod.containers[0].volume_mounts[0]
    assert mount.mount_path == "/var/run/secrets/kubernetes.io/serviceaccount" and mount.read_only
    env = {e.name: e.value for e in pod.containers[0].env}
    assert env["MONGODB_URI"].endswith("authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s")


def test_aks_service_account_names_the_managed_identity_and_the_pod_opts_in(
    exports: dict[str, Export], built_kit: Any
) -> None:
    result = exports["k8s"]
    values = values_for(result)
    text = result.filled(values)["aks.yaml"]
    account, deployment = (model(d) for d in yaml.safe_load_all(text))
    assert (account.metadata.namespace, account.metadata.name) == ("shop", "orders-worker")
    assert account.metadata.annotations == {
        "azure.workload.identity/client-id": values["ORDERS_IDENTITY_CLIENT_ID"]
    }
    # The label value is the string "true" (a YAML boolean would not select the pod).
    assert deployment.spec.template.metadata.labels["azure.workload.identity/use"] == "true"
    assert find(built_kit, "orders-identity").client_id not in result.files["aks.yaml"]


def test_eks_and_gke_service_accounts_carry_their_cloud_annotation(exports: dict[str, Export]) -> None:
    result = exports["k8s"]
    values = values_for(result)
    files = result.filled(values)
    eks, _ = (model(d) for d in yaml.safe_load_all(files["eks.yaml"]))
    assert eks.metadata.annotations == {"eks.amazonaws.com/role-arn": values["ORDERS_WORKER_EKS_ROLE_ARN"]}
    gke, deployment = (model(d) for d in yaml.safe_load_all(files["gke.yaml"]))
    assert gke.metadata.annotations == {
        "iam.gke.io/gcp-service-account": f"gke-recommender@{values['PROJECT_ID']}.iam.gserviceaccount.com"
    }
    env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
    assert "ENVIRONMENT:gcp,TOKEN_RESOURCE:api://mongodb-kit-gcp" in env["MONGODB_URI"]
    assert {"IMAGE", "MONGODB_HOST", "ORDERS_WORKER_EKS_ROLE_ARN"} <= {p.name for p in result.placeholders}
