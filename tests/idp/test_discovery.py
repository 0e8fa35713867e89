"""Discovery documents, JWKS and the service record, as a MongoDB server reads them."""

from __future__ import annotations

import base64

import pytest

from wif_notebook.idp.issuers import AZURE_TENANT_ID, AZURE_V1_RESOURCE_APP_ID, ISSUERS
from wif_notebook.oidc import endpoint_is_secure, jwk_thumbprint, keyset_for

from .conftest import Idp

ISSUER_IDS = list(ISSUERS)
# Issuers that are OAuth 2.0 servers (a token endpoint); the Kubernetes API server and GitHub
# Actions publish only discovery and keys (tests/clouds checks their documents).
OAUTH_ISSUER_IDS = [i for i in ISSUER_IDS if i not in ("k8s", "github")]
# Entra's discovery documents have Entra's own shape (tests/idp/test_entra.py).
KIT_SHAPED_ISSUER_IDS = [i for i in OAUTH_ISSUER_IDS if i != "azure"]
# What the service record publishes: every issuer, and Entra's v1 issuer (the azure keys).
PUBLISHED_ISSUER_IDS = [*ISSUERS, "azure-v1"]


def _b64len(value: str) -> int:
    return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def test_service_record_names_base_url_and_each_issuer_with_its_audience(idp: Idp) -> None:
    extra = idp.record.extra
    assert extra["base_url"] == f"http://localhost:{idp.port}"
    assert extra["https_base_url"] == f"https://localhost:{idp.port}"
    assert extra["issuer_scheme"] == "https"
    assert set(extra["issuers"]) == {"kit", "azure", "azure-v1", "gcp", "k8s", "github"}
    assert extra["issuers"]["kit"] == {
        "issuer": f"https://localhost:{idp.port}/kit",
        "audience": "api://mongodb-kit",
        "https_issuer": f"https://localhost:{idp.port}/kit",
        "http_issuer": f"http://localhost:{idp.port}/kit",
    }
    # Entra at the root of the origin: v2 issuer <tenant>/v2.0, v1 issuer <tenant>/ with its slash.
    assert extra["issuers"]["azure"]["issuer"] == f"https://localhost:{idp.port}/{AZURE_TENANT_ID}/v2.0"
    assert extra["issuers"]["azure-v1"] == {
        "issuer": f"https://localhost:{idp.port}/{AZURE_TENANT_ID}/",
        "audience": f"api://{AZURE_V1_RESOURCE_APP_ID}",
        "https_issuer": f"https://localhost:{idp.port}/{AZURE_TENANT_ID}/",
        "http_issuer": f"http://localhost:{idp.port}/{AZURE_TENANT_ID}/",
    }


@pytest.mark.parametrize("issuer_id", KIT_SHAPED_ISSUER_IDS)
def test_discovery_document_serves_the_identical_issuer_and_localhost_urls(idp: Idp, issuer_id: str) -> None:
    issuer = idp.issuer(issuer_id)
    reply = idp.get(issuer.removeprefix(idp.base_url) + "/.well-known/openid-configuration")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    doc = reply.json()
    assert doc["issuer"] == issuer
    # Production shape: https on the literal host localhost (the leaf certificate's name).
    for key in ("issuer", "jwks_uri", "token_endpoint"):
        assert doc[key].startswith("https://localhost:"), key
    assert "client_credentials" in doc["grant_types_supported"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in doc["grant_types_supported"]
    assert doc["id_token_signing_alg_values_supported"][0] == "RS256"
    assert {"client_secret_basic", "client_secret_post"} <= set(doc["token_endpoint_auth_methods_supported"])


@pytest.mark.parametrize("issuer_id", PUBLISHED_ISSUER_IDS)
def test_jwks_has_rsa_2048_keys_with_thumbprint_kids(idp: Idp, issuer_id: str) -> None:
    keys = idp.jwks(issuer_id)["keys"]
    assert keys, "an issuer publishes at least its signing key"
    kids = [k["kid"] for k in keys]
    assert len(set(kids)) == len(kids), "a duplicate kid would fail mongod's whole JWKS load"
    first = keys[0]
    assert first["kty"] == "RSA" and first["alg"] == "RS256" and first["use"] == "sig"
    assert _b64len(first["n"]) == 256
    assert first["e"] == "AQAB"
    assert "d" not in first and "p" not in first, "private members must never be published"
    for key in keys:
        assert key["kid"] == jwk_thumbprint(key)  # RFC 7638, computed by the rule book


def test_real_paths_of_each_issuer_are_served(idp: Idp) -> None:
    assert idp.get("/k8s/openid/v1/jwks").status == 200
    assert idp.get("/gcp/oauth2/v3/certs").status == 200
    assert idp.get(f"/{AZURE_TENANT_ID}/discovery/v2.0/keys").status == 200
    assert idp.get("/common/discovery/keys").status == 200


def test_unknown_azure_tenant_is_answered_like_entra(idp: Idp) -> None:
    reply = idp.get("/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration")
    assert reply.status == 400
    assert "AADSTS90002" in reply.json()["error_description"]


def test_unknown_issuer_path_is_404_with_the_list_of_issuers(idp: Idp) -> None:
    reply = idp.get("/nope/.well-known/openid-configuration")
    assert reply.status == 404
    assert idp.issuer("kit") in reply.json()["error_description"]


def test_issuer_ignores_the_host_header(idp: Idp) -> None:
    reply = idp.get("/kit/.well-known/openid-configuration", headers={"Host": "evil.example:1"})
    assert reply.json()["issuer"] == idp.issuer("kit")


@pytest.mark.parametrize("issuer_id", PUBLISHED_ISSUER_IDS)
def test_the_rule_book_discovers_and_loads_every_published_key_over_https(idp: Idp, issuer_id: str) -> None:
    issuer = idp.issuer(issuer_id)
    cache = keyset_for(issuer, state=idp.state, allow_insecure_localhost=False)
    cache.refresh()
    assert cache.discovery is not None
    assert cache.discovery["issuer"] == issuer  # the v1 issuer keeps its trailing slash
    for key in ("issuer", "jwks_uri", "token_endpoint"):
        if key not in cache.discovery and issuer_id not in OAUTH_ISSUER_IDS:
            continue
        # https endpoints: a production mongod (no enableTestCommands) accepts them.
        assert endpoint_is_secure(cache.discovery[key], allow_insecure_localhost=False), key
    assert cache.rejected_keys == {}
    assert set(cache.loaded_keys) == {k["kid"] for k in idp.jwks(issuer_id)["keys"]}


@pytest.mark.parametrize("issuer_id", PUBLISHED_ISSUER_IDS)
def test_the_http_form_of_an_issuer_serves_http_urls_for_enable_test_commands(
    idp: Idp, issuer_id: str
) -> None:
    issuer = idp.record.extra["issuers"][issuer_id]["http_issuer"]
    cache = keyset_for(issuer, state=idp.state, allow_insecure_localhost=True)
    cache.refresh()
    assert cache.discovery is not None and cache.discovery["issuer"] == issuer
    for key in ("issuer", "jwks_uri", "token_endpoint"):
        if key not in cache.discovery and issuer_id not in OAUTH_ISSUER_IDS:
            continue
        assert cache.discovery[key].startswith("http://localhost:"), key
        assert not endpoint_is_secure(cache.discovery[key], allow_insecure_localhost=False), key
    assert set(cache.loaded_keys) == {k["kid"] for k in idp.jwks(issuer_id)["keys"]}
