"""The cloud registry: every kit issuer and principal kind has exactly one platform."""

import pytest

from wif_notebook import clouds
from wif_notebook.connect import connect
from wif_notebook.errors import ConfigError
from wif_notebook.idp.issuers import ISSUERS
from wif_notebook.tokens import methods


def test_every_kit_issuer_belongs_to_exactly_one_cloud() -> None:
    for issuer_id in ISSUERS:
        owners = [c.id for c in clouds.clouds() if issuer_id in c.issuer_ids]
        assert len(owners) == 1, (issuer_id, owners)


def test_every_principal_kind_belongs_to_exactly_one_cloud() -> None:
    for kind in clouds.principal_kinds():
        owners = [c.id for c in clouds.clouds() if kind in c.principal_kinds]
        assert len(owners) == 1, (kind, owners)


def test_unknown_cloud_names_the_known_ones() -> None:
    try:
        clouds.get("aws-lambda")
    except Exception as exc:  # ConfigError
        assert "azure" in str(exc.hint)  # type: ignore[attr-defined]
    else:
        raise AssertionError("an unknown cloud must be refused")


def test_connect_accepts_the_environments_the_clouds_declare() -> None:
    environments = clouds.connect_environments()
    assert list(environments) == ["test", "azure", "gcp", "k8s"]  # pymongo's built-in ENVIRONMENTs
    assert {env: c.issuer_ids[0] for env, c in environments.items()} == {
        "test": "kit",
        "azure": "azure",
        "gcp": "gcp",
        "k8s": "k8s",
    }
    with pytest.raises(ConfigError) as info:
        connect(env="aws")  # refused before any server or IdP is needed
    assert info.value.hint == "use one of test, azure, gcp, k8s"


def test_default_token_methods_are_obtain_methods_for_the_clouds_own_kinds() -> None:
    declared = {kind: m for c in clouds.clouds() for kind, m in c.default_token_methods.items()}
    assert declared == {
        "managed-identity": "imds",
        "service-account": "gcp",
        "kubernetes-service-account": "k8s-file",
    }
    for cloud in clouds.clouds():
        assert set(cloud.default_token_methods) <= set(cloud.principal_kinds), cloud.id
        assert set(cloud.default_token_methods.values()) <= set(cloud.token_methods), cloud.id
    assert methods() == ("client_credentials", "imds", "gcp", "k8s-file", "federated", "mint")


def test_every_connect_environment_says_where_pymongo_reads_its_token() -> None:
    sources = {env: c.connect.token_source for env, c in clouds.connect_environments().items() if c.connect}
    assert "OIDC_TOKEN_FILE" in sources["test"]
    assert "169.254.169.254" in sources["azure"]
    assert "metadata server" in sources["gcp"]
    assert "AZURE_FEDERATED_TOKEN_FILE" in sources["k8s"]
    assert all(source.endswith("(pymongo built-in)") for source in sources.values())
