"""Which production issuer each kit issuer stands for: by the URL's shape (Entra v1.0 vs v2.0, the
trailing slash), by the mock IdP's id for it, and real issuers kept exactly as configured."""

from __future__ import annotations

import pytest

from wif_notebook.export._kit import PRODUCTION_ISSUERS, classify_issuer, production_providers
from wif_notebook.idp.issuers import AZURE_TENANT_ID
from wif_notebook.oidc import ProviderConfig

T = AZURE_TENANT_ID


@pytest.mark.parametrize(
    ("issuer", "issuer_id", "kind"),
    [
        (f"http://localhost:8123/azure/{T}/v2.0", "azure", "entra-v2"),
        (f"https://localhost:8443/{T}/v2.0", None, "entra-v2"),  # Entra at the root of its own origin
        (f"http://localhost:8123/azure/{T}/", None, "entra-v1"),
        (f"https://127.0.0.1:8443/{T}/", None, "entra-v1"),
        (f"http://localhost:8123/azure/{T}", None, "idp"),  # neither v1.0 (no slash) nor v2.0
        ("http://localhost:8123/gcp", "gcp", "google"),
        ("https://localhost:8443/k8s", None, "kubernetes"),
        ("http://localhost:8123/kit", "kit", "idp"),
        ("http://localhost:8123/github-actions", None, "github"),
        (f"https://sts.windows.net/{T}/", None, "entra-v1"),
        ("https://accounts.google.com", None, "google"),
        ("https://idp.example.com/", None, "production"),
        ("urn:example:issuer", None, "production"),  # no host: a real issuer kept as configured
    ],
)
def test_issuer_kind_comes_from_its_shape(issuer: str, issuer_id: str | None, kind: str) -> None:
    assert classify_issuer(issuer, issuer_id) == kind


def _provider(issuer: str, prefix: str) -> ProviderConfig:
    return ProviderConfig(issuer=issuer, audience="aud", auth_name_prefix=prefix, supports_human_flows=False)


def test_kit_issuers_become_production_ones_and_real_ones_are_kept() -> None:
    mapped = production_providers(
        [
            _provider(f"http://localhost:8123/azure/{T}/", "v1"),
            _provider(f"https://login.microsoftonline.com/{T}/v2.0", "real"),
            _provider("http://localhost:8123/k8s", "k8s"),
        ],
        {},
        lambda text: text,
    )
    assert [m.issuer for m in mapped] == [
        "https://sts.windows.net/<TENANT_ID>/",
        f"https://login.microsoftonline.com/{T}/v2.0",
        "<CLUSTER_ISSUER_URL>",
    ]
    assert PRODUCTION_ISSUERS["entra-v1"].endswith("/")


def test_two_clusters_get_a_placeholder_each() -> None:
    mapped = production_providers(
        [_provider("http://localhost:8123/k8s", "shop"), _provider("http://localhost:9000/k8s", "billing")],
        {},
        lambda text: text,
    )
    assert [m.issuer for m in mapped] == ["<CLUSTER_ISSUER_URL_SHOP>", "<CLUSTER_ISSUER_URL_BILLING>"]
