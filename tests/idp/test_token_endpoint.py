"""The token endpoint: client credentials, federated client assertions, token exchange, errors."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

import jwt
import pytest

from wif_notebook.httpclient import Response
from wif_notebook.idp.issuers import AZURE_RESOURCE_APP_ID, AZURE_TOKEN_EXCHANGE_AUDIENCE
from wif_notebook.idp.messages import parse_form

from .conftest import Idp, eventually

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def test_client_credentials_with_basic_auth_returns_a_verifiable_bearer_token(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("kit"), {"grant_type": "client_credentials"}, headers=idp.basic("billing-api")
    )
    assert reply.status == 200, reply.body
    assert reply.headers["cache-control"] == "no-store"
    doc = reply.json()
    assert doc["token_type"] == "Bearer"
    assert isinstance(doc["expires_in"], int) and doc["expires_in"] == 3600
    claims = idp.verify(doc["access_token"], "kit")
    assert claims["sub"] == "billing-api"
    assert claims["groups"] == ["billing-writers", "reports-readers"]
    for name in ("iss", "sub", "aud", "exp", "iat", "nbf", "jti"):
        assert name in claims
    assert jwt.get_unverified_header(doc["access_token"])["typ"] == "JWT"


def test_client_credentials_with_client_secret_post(idp: Idp) -> None:
    entry = idp.catalog_entry("billing-api")
    reply = idp.post_form(
        idp.token_path("kit"),
        {
            "grant_type": "client_credentials",
            "client_id": entry["client_id"],
            "client_secret": entry["client_secret"],
            "audience": "api://reports",
        },
    )
    assert reply.status == 200, reply.body
    assert idp.verify(reply.json()["access_token"], "kit", audience="api://reports")["aud"] == "api://reports"


def test_entra_default_scope_selects_the_resource_application_as_audience(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("azure"),
        {
            "grant_type": "client_credentials",
            "scope": f"api://{AZURE_RESOURCE_APP_ID}/.default",
        },
        headers=idp.basic("reports-sp"),
    )
    assert reply.status == 200, reply.body
    doc = reply.json()
    claims = idp.verify(doc["access_token"], "azure", audience=AZURE_RESOURCE_APP_ID)
    entry = idp.catalog_entry("reports-sp")
    assert claims["ver"] == "2.0" and claims["azp"] == entry["client_id"]
    assert claims["oid"] == claims["sub"] == entry["subject"]
    assert claims["tid"] in claims["iss"]
    assert claims["groups"] == entry["groups"]
    assert doc["ext_expires_in"] == doc["expires_in"]


def test_wrong_secret_is_invalid_client_401_with_a_basic_challenge(idp: Idp) -> None:
    raw = base64.b64encode(b"billing-api:not-the-secret").decode()
    reply = idp.post_form(
        idp.token_path("kit"), {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {raw}"}
    )
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Basic realm=")
    doc = reply.json()
    assert doc["error"] == "invalid_client"
    assert "principals.yaml" in doc["error_description"]


def test_unknown_client_is_invalid_client(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("kit"),
        {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
    )
    assert (reply.status, reply.json()["error"]) == (401, "invalid_client")
    assert "nobody" in reply.json()["error_description"]


def test_a_client_of_another_issuer_is_unknown_here(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("azure"),
        {"grant_type": "client_credentials", "scope": f"api://{AZURE_RESOURCE_APP_ID}/.default"},
        headers=idp.basic("billing-api"),
    )
    # Entra: an application id the tenant does not know is AADSTS700016.
    assert (reply.status, reply.json()["error"]) == (400, "unauthorized_client")
    assert reply.json()["error_codes"] == [700016]


def test_no_client_authentication_is_invalid_client(idp: Idp) -> None:
    reply = idp.post_form(idp.token_path("kit"), {"grant_type": "client_credentials"})
    assert (reply.status, reply.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "a/.default b/.default"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "bad\\scope"}, "invalid_scope"),
        (
            {"grant_type": "client_credentials", "resource": "api://a", "audience": "api://b"},
            "invalid_request",
        ),
    ],
)
def test_bad_requests_get_the_rfc6749_error(idp: Idp, form: dict[str, str], error: str) -> None:
    reply = idp.post_form(idp.token_path("kit"), form, headers=idp.basic("billing-api"))
    assert reply.status == 400
    doc = reply.json()
    assert doc["error"] == error
    assert doc["error_description"]


def test_entra_rejects_a_scope_without_default_suffix(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("azure"),
        {"grant_type": "client_credentials", "scope": "read"},
        headers=idp.basic("reports-sp"),
    )
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_scope"
    assert "/.default" in reply.json()["error_description"]


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        (
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&grant_type=password",
            "'grant_type' appears more than once",
        ),
        ("application/json", b'{"grant_type":"client_credentials"}', "x-www-form-urlencoded"),
    ],
    ids=["repeated parameter", "json body"],
)
def test_repeated_parameter_and_wrong_content_type_are_invalid_request(
    idp: Idp, content_type: str, body: bytes, says: str
) -> None:
    reply = idp.request(
        "POST",
        idp.token_path("kit"),
        body=body,
        headers={"Content-Type": content_type, **idp.basic("billing-api")},
    )
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")
    assert says in reply.json()["error_description"]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "a=1&b=%2B+x",
        "=x",
        "a==b",
        "a=%zz",
        "a=%C3%A9%ff",
        "+=+",
        "a=&b=",
        "a=&b",
        "a",
        "a=1&&b=2",
        "a=1&",
    ],
)
def test_token_forms_read_as_the_standard_library_reads_them(body: str) -> None:
    def read(parse: Any) -> Any:
        try:
            return parse(body)
        except ValueError as exc:
            return str(exc)

    assert read(parse_form) == read(
        lambda text: parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    )


def test_get_on_the_token_endpoint_is_405(idp: Idp) -> None:
    reply = idp.get(idp.token_path("kit"))
    assert reply.status == 405
    assert reply.headers["allow"] == "POST"


def _aks_token(idp: Idp, **extra: object) -> str:
    return str(idp.mint(principal="orders-worker", audience=AZURE_TOKEN_EXCHANGE_AUDIENCE, **extra)["token"])


def _entra_client_assertion(idp: Idp, assertion: str) -> Response:
    """Entra's client-credentials grant for orders-identity, authenticated by a client assertion."""
    return idp.post_form(
        idp.token_path("azure"),
        {
            "grant_type": "client_credentials",
            "client_id": idp.catalog_entry("orders-identity")["client_id"],
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": f"api://{AZURE_RESOURCE_APP_ID}/.default",
        },
    )


def _token_exchange(idp: Idp, issuer_id: str, subject_token: str) -> Response:
    """An RFC 8693 token exchange of a JWT subject token at one issuer's token endpoint."""
    return idp.post_form(
        idp.token_path(issuer_id),
        {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": JWT_TYPE},
    )


def test_kubernetes_token_is_exchanged_for_an_entra_token_by_client_assertion(idp: Idp) -> None:
    entry = idp.catalog_entry("orders-identity")
    reply = _entra_client_assertion(idp, _aks_token(idp))
    assert reply.status == 200, reply.body
    claims = idp.verify(reply.json()["access_token"], "azure", audience=AZURE_RESOURCE_APP_ID)
    assert claims["azp"] == entry["client_id"]
    assert claims["sub"] == entry["subject"]


@pytest.mark.parametrize(
    ("fault", "code"), [("bad-signature", 700027), ("unknown-kid", 700027), ("expired", 700024)]
)
def test_a_client_assertion_that_does_not_verify_is_invalid_client(idp: Idp, fault: str, code: int) -> None:
    reply = _entra_client_assertion(idp, _aks_token(idp, fault=fault))
    assert reply.status == 401
    assert reply.json()["error"] == "invalid_client"
    assert reply.json()["error_codes"] == [code]


def test_a_client_assertion_without_matching_federated_credential_is_refused(idp: Idp) -> None:
    # The service account's default audience is not api://AzureADTokenExchange.
    assertion = idp.mint(principal="orders-worker")["token"]
    reply = _entra_client_assertion(idp, assertion)
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")
    assert reply.json()["error_description"].startswith("AADSTS70021: No matching federated identity record")


def test_a_garbage_assertion_is_a_malformed_jwt(idp: Idp) -> None:
    reply = _entra_client_assertion(idp, "not.a.jwt")
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")
    assert reply.json()["error_codes"] == [50027]


def test_entra_has_no_rfc8693_token_exchange(idp: Idp) -> None:
    reply = _token_exchange(idp, "azure", _aks_token(idp))
    assert (reply.status, reply.json()["error"]) == (400, "unsupported_grant_type")
    assert reply.json()["error_codes"] == [70003]


_EXCHANGE_APP = """
  - name: exchange-app
    kind: client-credentials
    issuer: kit
    client_id: exchange-app
    client_secret: exchange-secret
    subject: exchange-app
    federated_credentials:
      - {issuer: k8s, subject: "system:serviceaccount:shop:orders-worker", audience: api://AzureADTokenExchange}
"""


@pytest.fixture(scope="module")
def exchange_app(idp: Idp) -> str:
    """A kit client that trusts the cluster's orders-worker tokens (RFC 8693 happens at the kit
    issuer; Entra has no token exchange grant)."""
    with idp.state.principals_file.open("a") as fh:
        fh.write(_EXCHANGE_APP)
    eventually(
        lambda: any(p["name"] == "exchange-app" for p in idp.get("/_wif/principals").json()["principals"])
    )
    return "exchange-app"


def test_token_exchange_issues_a_token_for_the_principal_that_trusts_the_subject_token(
    idp: Idp, exchange_app: str
) -> None:
    reply = _token_exchange(idp, "kit", _aks_token(idp))
    assert reply.status == 200, reply.body
    doc = reply.json()
    assert doc["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    claims = idp.verify(doc["access_token"], "kit")
    assert claims["sub"] == exchange_app


def test_token_exchange_with_a_forged_subject_token_is_invalid_grant(idp: Idp, exchange_app: str) -> None:
    reply = _token_exchange(idp, "kit", _aks_token(idp, fault="bad-signature"))
    assert (reply.status, reply.json()["error"]) == (400, "invalid_grant")
    assert "does not verify" in reply.json()["error_description"]


def test_token_exchange_without_subject_token_type_is_invalid_request(idp: Idp, exchange_app: str) -> None:
    reply = idp.post_form(idp.token_path("kit"), {"grant_type": EXCHANGE, "subject_token": _aks_token(idp)})
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")


def test_kubernetes_tokens_have_no_typ_and_an_audience_array(idp: Idp) -> None:
    token = idp.mint(principal="orders-worker")["token"]
    assert "typ" not in jwt.get_unverified_header(token)
    claims = idp.verify(token, "k8s")
    assert claims["aud"] == [idp.audience("k8s")]
    assert claims["sub"] == "system:serviceaccount:shop:orders-worker"
    assert claims["kubernetes.io"]["namespace"] == "shop"
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "orders-worker"


def test_a_kit_client_assertion_no_principal_trusts_says_what_to_add_in_the_kits_words(idp: Idp) -> None:
    # RFC 7523 at a kit issuer: no AADSTS code (that is Entra's endpoint's), the same words as a
    # token exchange nobody trusts.
    assertion = _aks_token(idp)
    reply = idp.post_form(
        idp.token_path("gcp"),
        {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        },
    )
    assert (reply.status, reply.json()["error"]) == (401, "invalid_client")
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert reply.json()["error_description"] == (
        f"no principal of issuer 'gcp' trusts tokens of {claims['iss']!r} for subject {claims['sub']!r} "
        f"with audience {claims['aud']!r}; add a federated_credentials entry with this issuer, subject "
        "and audience to the principal in principals.yaml"
    )
    exchanged = _token_exchange(idp, "gcp", assertion)
    assert (exchanged.status, exchanged.json()["error"]) == (400, "invalid_grant")
    assert exchanged.json()["error_description"] == reply.json()["error_description"]


def test_a_default_scope_with_other_scopes_at_a_kit_issuer_names_no_entra_code(idp: Idp) -> None:
    reply = idp.post_form(
        idp.token_path("kit"),
        {"grant_type": "client_credentials", "scope": "api://reports/.default openid"},
        headers=idp.basic("billing-api"),
    )
    assert (reply.status, reply.json()["error"]) == (400, "invalid_scope")
    assert reply.json()["error_description"] == (
        "a '<resource>/.default' scope cannot be combined with other scopes; send only the '/.default' scope"
    )
