"""Azure IMDS and the GCP metadata server, as pymongo's built-in integrations call them."""

from __future__ import annotations

import http.client
import json

import jwt
import pytest

from wif_notebook.idp.issuers import AZURE_RESOURCE_APP_ID

from .conftest import Idp

IMDS = "/metadata/identity/oauth2/token?api-version=2018-02-01"
GCP = "/computeMetadata/v1/instance/service-accounts/default/identity"


def test_imds_answers_with_string_typed_fields_for_the_default_identity(idp: Idp) -> None:
    # pymongo quotes the resource with urllib.parse.quote, which keeps the '/'.
    reply = idp.get(
        f"{IMDS}&resource=api%3A//{AZURE_RESOURCE_APP_ID}",
        headers={"Metadata": "true", "Accept": "application/json"},
    )
    assert reply.status == 200, reply.body
    doc = reply.json()
    for name in (
        "access_token",
        "refresh_token",
        "expires_in",
        "expires_on",
        "not_before",
        "resource",
        "token_type",
        "client_id",
    ):
        assert isinstance(doc[name], str), name
    assert doc["refresh_token"] == ""
    assert doc["token_type"] == "Bearer"
    assert doc["expires_in"] == "3600"
    assert doc["resource"] == f"api://{AZURE_RESOURCE_APP_ID}"
    vm = idp.catalog_entry("inventory-vm")
    assert doc["client_id"] == vm["client_id"]
    claims = idp.verify(doc["access_token"], "azure", audience=AZURE_RESOURCE_APP_ID)
    assert claims["oid"] == vm["subject"]
    assert claims["azpacr"] == "2"
    assert int(doc["expires_on"]) == claims["exp"]


def test_imds_client_id_selects_the_managed_identity(idp: Idp) -> None:
    other = idp.catalog_entry("orders-identity")
    reply = idp.get(
        f"{IMDS}&resource={AZURE_RESOURCE_APP_ID}&client_id={other['client_id']}",
        headers={"Metadata": "true"},
    )
    assert reply.status == 200
    assert idp.verify(reply.json()["access_token"], "azure")["azp"] == other["client_id"]


@pytest.mark.parametrize(
    ("query", "headers", "status", "error"),
    [
        (f"&resource={AZURE_RESOURCE_APP_ID}", {}, 400, "bad_request_102"),
        (f"&resource={AZURE_RESOURCE_APP_ID}", {"Metadata": "True"}, 400, "bad_request_102"),
        ("", {"Metadata": "true"}, 400, "invalid_request"),
        ("&resource=api://not-in-this-tenant", {"Metadata": "true"}, 400, "invalid_resource"),
        (
            f"&resource={AZURE_RESOURCE_APP_ID}&client_id=00000000-0000-0000-0000-000000000000",
            {"Metadata": "true"},
            400,
            "invalid_request",
        ),
    ],
)
def test_imds_errors_look_like_imds(
    idp: Idp, query: str, headers: dict[str, str], status: int, error: str
) -> None:
    reply = idp.get(IMDS + query, headers=headers)
    assert reply.status == status
    doc = reply.json()
    assert doc["error"] == error
    assert doc["error_description"]


def test_imds_missing_header_message_is_the_real_one(idp: Idp) -> None:
    reply = idp.get(f"{IMDS}&resource={AZURE_RESOURCE_APP_ID}")
    assert reply.json()["error_description"] == "Required metadata header not specified"


def test_unknown_identity_says_identity_not_found(idp: Idp) -> None:
    reply = idp.get(f"{IMDS}&resource={AZURE_RESOURCE_APP_ID}&client_id=nope", headers={"Metadata": "true"})
    assert "Identity not found" in reply.json()["error_description"]


def test_proxy_mode_absolute_uri_request_line_reaches_imds(idp: Idp) -> None:
    # With http_proxy pointing at the IdP, urllib sends the absolute URI of the real endpoint.
    conn = http.client.HTTPConnection("127.0.0.1", idp.port, timeout=5)
    conn.putrequest("GET", f"http://169.254.169.254{IMDS}&resource={AZURE_RESOURCE_APP_ID}", skip_host=True)
    conn.putheader("Host", "169.254.169.254")
    conn.putheader("Metadata", "true")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["token_type"] == "Bearer"
    conn.close()


def test_gcp_identity_is_a_raw_jwt_for_the_default_service_account(idp: Idp) -> None:
    reply = idp.get(f"{GCP}?audience=api://mongodb-kit-gcp", headers={"Metadata-Flavor": "Google"})
    assert reply.status == 200
    assert reply.headers["metadata-flavor"] == "Google"
    token = reply.body.decode()
    assert token.count(".") == 2 and not token.endswith("\n")
    claims = idp.verify(token, "gcp")
    gce = idp.catalog_entry("gce-worker")
    assert claims["sub"] == claims["azp"] == gce["subject"]
    assert claims["sub"].isdigit()
    assert claims["email"] == gce["client_id"] and claims["email_verified"] is True
    assert "google" not in claims, "format=standard has no google block"


def test_gcp_format_full_adds_the_compute_engine_block(idp: Idp) -> None:
    reply = idp.get(f"{GCP}?audience=x&format=full", headers={"Metadata-Flavor": "Google"})
    claims = jwt.decode(reply.body.decode(), options={"verify_signature": False})
    block = claims["google"]["compute_engine"]
    assert {"instance_id", "instance_name", "project_id", "project_number", "zone"} <= set(block)


def test_gcp_service_account_by_email(idp: Idp) -> None:
    email = idp.catalog_entry("run-checkout")["client_id"]
    path = f"/computeMetadata/v1/instance/service-accounts/{email}/identity?audience=a"
    reply = idp.get(path, headers={"Metadata-Flavor": "Google"})
    assert reply.status == 200
    assert jwt.decode(reply.body.decode(), options={"verify_signature": False})["email"] == email


@pytest.mark.parametrize(
    ("path", "headers", "status", "text"),
    [
        (f"{GCP}?audience=a", {}, 403, "Metadata-Flavor"),
        (f"{GCP}?audience=a", {"Metadata-Flavor": "google"}, 403, "Metadata-Flavor"),
        (GCP, {"Metadata-Flavor": "Google"}, 400, "non-empty audience parameter required"),
        (f"{GCP}?audience=a&format=weird", {"Metadata-Flavor": "Google"}, 400, "format"),
        (
            "/computeMetadata/v1/instance/service-accounts/nobody@x/identity?audience=a",
            {"Metadata-Flavor": "Google"},
            404,
            "nobody@x",
        ),
        (f"{GCP}?audience=a", {"Metadata-Flavor": "Google", "X-Forwarded-For": "1.2.3.4"}, 403, "Forwarded"),
    ],
)
def test_gcp_metadata_errors(idp: Idp, path: str, headers: dict[str, str], status: int, text: str) -> None:
    reply = idp.get(path, headers=headers)
    assert reply.status == status
    assert text in reply.body.decode()


def test_switching_the_instance_identity_changes_what_default_answers(idp: Idp) -> None:
    reply = idp.post_json("/_wif/metadata-default", {"cloud": "gcp", "principal": "run-checkout"})
    assert reply.status == 200
    try:
        token = idp.get(f"{GCP}?audience=a", headers={"Metadata-Flavor": "Google"}).body.decode()
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["email"] == idp.catalog_entry("run-checkout")["client_id"]
    finally:
        idp.post_json("/_wif/metadata-default", {"cloud": "gcp", "principal": "gce-worker"})


def test_pymongo_style_urllib_call_through_http_proxy(idp: Idp, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{idp.port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler())
    req = urllib.request.Request(
        "http://metadata/computeMetadata/v1/instance/service-accounts/default/identity"
        "?audience=api%3A//mongodb-kit-gcp",
        headers={"Metadata-Flavor": "Google"},
    )
    with opener.open(req, timeout=5) as resp:
        token = resp.read().decode()
    assert idp.verify(token, "gcp")["aud"] == "api://mongodb-kit-gcp"


FLAVOR = {"Metadata-Flavor": "Google"}
SA = "/computeMetadata/v1/instance/service-accounts/default"


def test_gcp_ping_answers_with_the_flavor_header(idp: Idp) -> None:
    reply = idp.get("/", headers=FLAVOR)
    assert reply.status == 200
    assert reply.headers["metadata-flavor"] == "Google"


def test_gcp_recursive_service_account_info_is_json(idp: Idp) -> None:
    reply = idp.get(f"{SA}/?recursive=true", headers=FLAVOR)
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["metadata-flavor"] == "Google"
    info = reply.json()
    assert info["email"] == idp.catalog_entry("gce-worker")["client_id"]
    assert info["aliases"] == ["default"] and info["scopes"]


def test_gcp_access_token_has_a_numeric_expires_in(idp: Idp) -> None:
    doc = idp.get(f"{SA}/token", headers=FLAVOR).json()
    assert doc["token_type"] == "Bearer"
    assert isinstance(doc["expires_in"], int) and 0 < doc["expires_in"] <= 3600
    assert doc["access_token"].startswith("ya29.")


def test_gcp_project_ids_agree_with_the_instance_identity_block(idp: Idp) -> None:
    project = idp.get("/computeMetadata/v1/project/project-id", headers=FLAVOR).body.decode()
    number = idp.get("/computeMetadata/v1/project/numeric-project-id", headers=FLAVOR).body.decode()
    token = idp.get(f"{GCP}?audience=a&format=full&licenses=TRUE", headers=FLAVOR).body.decode()
    block = jwt.decode(token, options={"verify_signature": False})["google"]["compute_engine"]
    assert (project, int(number)) == (block["project_id"], block["project_number"])
    assert isinstance(block["project_number"], int) and isinstance(block["instance_creation_timestamp"], int)
    assert isinstance(block["instance_id"], str)
    assert block["license_id"], "licenses=TRUE adds the image's license codes"


def test_gcp_v1_certs_map_every_published_kid_to_a_certificate_of_its_key(idp: Idp) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    certs = idp.get("/gcp/oauth2/v1/certs").json()
    jwks = {k["kid"]: k for k in idp.jwks("gcp")["keys"]}
    assert set(certs) == set(jwks)
    for kid, pem in certs.items():
        public = x509.load_pem_x509_certificate(pem.encode()).public_key()
        expected = jwt.PyJWK(jwks[kid]).key
        assert public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == expected.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def test_gcp_instance_named_in_the_metadata_host_answers_for_its_own_account(idp: Idp) -> None:
    import base64

    basic = "Basic " + base64.b64encode(b"run-checkout:").decode()
    email = idp.get(f"{SA}/email", headers={**FLAVOR, "Authorization": basic}).body.decode()
    assert email == idp.catalog_entry("run-checkout")["client_id"]
    other = idp.catalog_entry("gce-worker")["client_id"]
    reply = idp.get(
        f"/computeMetadata/v1/instance/service-accounts/{other}/email",
        headers={**FLAVOR, "Authorization": basic},
    )
    assert reply.status == 404 and "run-checkout" in reply.body.decode()
