"""Entra ID at the root of the IdP's origin: discovery (v1, v2, instance), tokens v1 and v2 chosen by
the resource application, Entra's error shape and codes, IMDS selectors and App Service."""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest

from wif_notebook.idp.entra import identity_header
from wif_notebook.idp.issuers import (
    AZURE_RESOURCE_APP_ID,
    AZURE_TENANT_ID,
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AZURE_V1_RESOURCE_APP_ID,
)
from wif_notebook.state import StateDir

from .conftest import Idp

T = AZURE_TENANT_ID
V1_RESOURCE = f"api://{AZURE_V1_RESOURCE_APP_ID}"
V2_RESOURCE = f"api://{AZURE_RESOURCE_APP_ID}"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
IMDS = "/metadata/identity/oauth2/token?api-version=2018-02-01"


def _sp(idp: Idp) -> dict[str, Any]:
    return idp.catalog_entry("reports-sp")


def _secret_form(idp: Idp, **extra: str) -> dict[str, str]:
    sp = _sp(idp)
    return {
        "grant_type": "client_credentials",
        "client_id": sp["client_id"],
        "client_secret": sp["client_secret"],
        **extra,
    }


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_v2_discovery_names_the_v2_issuer_and_tenant_endpoints(idp: Idp) -> None:
    doc = idp.get(f"/{T}/v2.0/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{idp.base_url}/{T}/v2.0"
    assert doc["token_endpoint"] == f"{idp.base_url}/{T}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{idp.base_url}/{T}/discovery/v2.0/keys"
    # MSAL reads both; an Entra discovery document without authorization_endpoint fails it.
    assert doc["authorization_endpoint"] == f"{idp.base_url}/{T}/oauth2/v2.0/authorize"


def test_v1_discovery_names_the_issuer_with_its_trailing_slash(idp: Idp) -> None:
    doc = idp.get(f"/{T}/.well-known/openid-configuration").json()
    assert doc["issuer"] == f"{idp.base_url}/{T}/"
    assert doc["token_endpoint"] == f"{idp.base_url}/{T}/oauth2/token"
    assert doc["jwks_uri"] == f"{idp.base_url}/common/discovery/keys"


def test_the_tenant_domain_and_common_are_tenants_too(idp: Idp) -> None:
    assert idp.get("/wifkit.onmicrosoft.com/v2.0/.well-known/openid-configuration").status == 200
    common = idp.get("/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{idp.base_url}/{{tenantid}}/v2.0"


def test_instance_discovery_answers_for_the_kits_own_authority_as_msal_asks(idp: Idp) -> None:
    endpoint = f"https://localhost:{idp.port}/{T}/oauth2/v2.0/authorize"
    reply = idp.get(f"/common/discovery/instance?api-version=1.0&authorization_endpoint={quote(endpoint)}")
    doc = reply.json()
    assert doc["tenant_discovery_endpoint"] == (
        f"https://localhost:{idp.port}/{T}/v2.0/.well-known/openid-configuration"
    )
    assert doc["metadata"][0]["aliases"] == [f"localhost:{idp.port}", "localhost"]


def test_instance_discovery_reads_msals_port_less_instance_as_this_idp(idp: Idp) -> None:
    # MSAL builds the authorization endpoint from the authority's host name, without its port.
    endpoint = quote(f"https://localhost/{T}/oauth2/v2.0/authorize")
    doc = idp.get(f"/common/discovery/instance?api-version=1.0&authorization_endpoint={endpoint}").json()
    assert doc["tenant_discovery_endpoint"].startswith(f"https://localhost:{idp.port}/{T}/v2.0/")


def test_instance_discovery_refuses_an_unknown_host_with_aadsts50049(idp: Idp) -> None:
    endpoint = quote("https://login.example.org/x/oauth2/v2.0/authorize")
    reply = idp.get(f"/common/discovery/instance?api-version=1.1&authorization_endpoint={endpoint}")
    assert (reply.status, reply.json()["error"], reply.json()["error_codes"]) == (
        400,
        "invalid_instance",
        [50049],
    )


def test_a_v2_resource_gets_a_v2_token_from_the_v2_endpoint(idp: Idp) -> None:
    reply = idp.post_form(f"/{T}/oauth2/v2.0/token", _secret_form(idp, scope=f"{V2_RESOURCE}/.default"))
    doc = reply.json()
    assert reply.status == 200, doc
    assert isinstance(doc["expires_in"], int) and isinstance(doc["ext_expires_in"], int)
    claims = idp.verify(doc["access_token"], "azure", audience=AZURE_RESOURCE_APP_ID)
    sp = _sp(idp)
    assert claims["ver"] == "2.0" and claims["azp"] == sp["client_id"] and claims["azpacr"] == "1"
    assert "appid" not in claims and "jti" not in claims
    assert claims["oid"] == claims["sub"] == sp["subject"] and claims["tid"] == T
    assert claims["idtyp"] == "app" and {"uti", "aio", "rh"} <= set(claims)
    assert "x5t" not in jwt.get_unverified_header(doc["access_token"])


def test_the_tenant_has_only_entras_paths_not_the_kits_token_and_jwks_aliases(idp: Idp) -> None:
    # Real Entra has no /<tenant>/v2.0/token or /<tenant>/v2.0/jwks: a client pointed there must
    # fail as it would against login.microsoftonline.com, not get a token for any audience it names.
    form = _secret_form(idp, scope="api://whatever/.default")
    assert idp.post_form(f"/{T}/v2.0/token", form).status == 404
    assert idp.get(f"/{T}/v2.0/jwks").status == 404
    assert idp.get(f"/{T}/discovery/v2.0/keys").json()["keys"]
    assert idp.post_form(f"/{T}/oauth2/v2.0/token", form).status == 400  # Entra's unknown resource


def test_a_v1_resource_gets_a_v1_token_even_from_the_v2_endpoint(idp: Idp) -> None:
    reply = idp.post_form(f"/{T}/oauth2/v2.0/token", _secret_form(idp, scope=f"{V1_RESOURCE}/.default"))
    token = reply.json()["access_token"]
    claims = idp.verify(token, "azure-v1", audience=V1_RESOURCE)
    assert claims["iss"] == f"{idp.base_url}/{T}/" and claims["ver"] == "1.0"
    assert claims["appid"] == _sp(idp)["client_id"] and claims["appidacr"] == "1"
    assert "azp" not in claims
    header = jwt.get_unverified_header(token)
    assert header["x5t"] == header["kid"]


def test_the_v1_endpoint_takes_resource_and_answers_numbers_as_strings(idp: Idp) -> None:
    reply = idp.post_form(f"/{T}/oauth2/token", _secret_form(idp, resource=V1_RESOURCE))
    doc = reply.json()
    assert reply.status == 200, doc
    assert doc["resource"] == V1_RESOURCE
    for key in ("expires_in", "ext_expires_in", "expires_on", "not_before"):
        assert isinstance(doc[key], str) and doc[key].isdigit(), key
    assert _claims(doc["access_token"])["aud"] == V1_RESOURCE


def test_an_app_registration_with_access_token_version_2_is_a_v2_resource(idp: Idp) -> None:
    # reports-sp is also a resource application; without access_token_version it takes v1 tokens.
    sp = _sp(idp)
    reply = idp.post_form(
        f"/{T}/oauth2/v2.0/token", _secret_form(idp, scope=f"api://{sp['client_id']}/.default")
    )
    claims = _claims(reply.json()["access_token"])
    assert claims["ver"] == "1.0" and claims["aud"] == f"api://{sp['client_id']}"


def _error(reply: Any) -> dict[str, Any]:
    doc: dict[str, Any] = reply.json()
    assert set(doc) >= {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    }
    first, *trace = doc["error_description"].split("\r\n")
    assert first.startswith(f"AADSTS{doc['error_codes'][0]}: ")
    assert [line.split(":")[0] for line in trace] == ["Trace ID", "Correlation ID", "Timestamp"]
    assert doc["error_uri"].endswith(f"?code={doc['error_codes'][0]}")
    return doc


@pytest.mark.parametrize(
    ("change", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_id": "00000000-0000-0000-0000-000000000001"}, 400, "unauthorized_client", 700016),
        ({"scope": "api://nobody/.default"}, 400, "invalid_resource", 500011),
        ({"scope": "User.Read"}, 400, "invalid_scope", 1002012),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ],
)
def test_token_errors_have_entras_shape_and_codes(
    idp: Idp, change: dict[str, str], status: int, error: str, code: int
) -> None:
    form = {**_secret_form(idp, scope=f"{V2_RESOURCE}/.default"), **change}
    reply = idp.post_form(f"/{T}/oauth2/v2.0/token", form)
    assert reply.status == status
    doc = _error(reply)
    assert (doc["error"], doc["error_codes"]) == (error, [code])


def test_the_correlation_id_msal_sends_comes_back(idp: Idp) -> None:
    cid = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    reply = idp.post_form(
        f"/{T}/oauth2/v2.0/token",
        {**_secret_form(idp, scope=f"{V2_RESOURCE}/.default"), "client_secret": "wrong"},
        headers={"client-request-id": cid},
    )
    assert _error(reply)["correlation_id"] == cid


def test_app_only_tokens_need_a_tenant_not_common(idp: Idp) -> None:
    reply = idp.post_form("/common/oauth2/v2.0/token", _secret_form(idp, scope=f"{V2_RESOURCE}/.default"))
    assert _error(reply)["error_codes"] == [50059]


def test_an_expired_federated_assertion_is_aadsts700024(idp: Idp) -> None:
    assertion = idp.mint(principal="orders-worker", audience=AZURE_TOKEN_EXCHANGE_AUDIENCE, fault="expired")
    reply = idp.post_form(
        f"/{T}/oauth2/v2.0/token",
        {
            "grant_type": "client_credentials",
            "client_id": idp.catalog_entry("orders-identity")["client_id"],
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion["token"],
            "scope": f"{V2_RESOURCE}/.default",
        },
    )
    assert (reply.status, _error(reply)["error_codes"]) == (401, [700024])


def test_a_federated_assertion_gives_azpacr_2(idp: Idp) -> None:
    assertion = idp.mint(principal="orders-worker", audience=AZURE_TOKEN_EXCHANGE_AUDIENCE)["token"]
    reply = idp.post_form(
        f"/{T}/oauth2/v2.0/token",
        {
            "grant_type": "client_credentials",
            "client_id": idp.catalog_entry("orders-identity")["client_id"],
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
            "scope": f"{V2_RESOURCE}/.default",
        },
    )
    assert _claims(reply.json()["access_token"])["azpacr"] == "2"


# -- managed identity -----------------------------------------------------------------------------
def test_imds_probe_without_metadata_header_is_answered_400(idp: Idp) -> None:
    # azure-identity's probe sends no Metadata header and takes any answer as "IMDS is here".
    reply = idp.get(f"{IMDS}&resource={V1_RESOURCE}")
    assert (reply.status, reply.json()["error"]) == (400, "bad_request_102")


@pytest.mark.parametrize("selector", ["client_id", "object_id", "msi_res_id", "mi_res_id"])
def test_imds_selects_a_user_assigned_identity_by_every_selector(idp: Idp, selector: str) -> None:
    vm = idp.catalog_entry("inventory-vm")
    value = {
        "client_id": vm["client_id"],
        "object_id": vm["subject"],
        "msi_res_id": vm["claims"]["xms_mirid"],
        "mi_res_id": vm["claims"]["xms_mirid"],
    }[selector]
    reply = idp.get(f"{IMDS}&resource={V1_RESOURCE}&{selector}={quote(value)}", headers={"Metadata": "true"})
    claims = _claims(reply.json()["access_token"])
    assert claims["oid"] == vm["subject"] and claims["appid"] == vm["client_id"]
    assert claims["appidacr"] == "2" and claims["xms_mirid"] == vm["claims"]["xms_mirid"]


def test_app_service_endpoint_needs_its_identity_header(idp: Idp) -> None:
    path = f"/MSI/token?api-version=2019-08-01&resource={V2_RESOURCE}"
    refused = idp.get(path, headers={"X-IDENTITY-HEADER": "guess"}).json()
    assert refused["statusCode"] == 401 and "IDENTITY_HEADER" in refused["message"]
    doc = idp.get(path, headers={"X-IDENTITY-HEADER": identity_header(idp.state)}).json()
    # App Service answers expires_on (a string) and no expires_in.
    assert "expires_in" not in doc and int(doc["expires_on"]) > time.time()
    assert doc["resource"] == V2_RESOURCE and doc["token_type"] == "Bearer"
    assert _claims(doc["access_token"])["aud"] == AZURE_RESOURCE_APP_ID


def test_app_service_checks_the_identity_header_the_state_directory_holds_now(idp: Idp) -> None:
    # The IdP keeps the value between requests, but a value written over it (the file deleted and
    # created anew by another kit process, say) is the one it checks from then on.
    path = f"/MSI/token?api-version=2019-08-01&resource={V2_RESOURCE}"
    old = identity_header(idp.state)
    assert idp.get(path, headers={"X-IDENTITY-HEADER": old}).status == 200
    new = secrets.token_hex(16)
    idp.state.write_private(idp.state.path / "azure" / "identity-header", new)
    assert identity_header(idp.state) == new
    assert idp.get(path, headers={"X-IDENTITY-HEADER": new}).status == 200
    assert idp.get(path, headers={"X-IDENTITY-HEADER": old}).status == 401


@pytest.mark.parametrize("endpoint", ["imds", "app-service"])
def test_managed_identity_endpoints_name_an_unknown_resource_as_entra_does(idp: Idp, endpoint: str) -> None:
    resource = "api://not-in-this-tenant"
    if endpoint == "imds":
        doc = idp.get(f"{IMDS}&resource={resource}", headers={"Metadata": "true"}).json()
        message = doc["error_description"]
        assert doc["error"] == "invalid_resource"
    else:
        path = f"/MSI/token?api-version=2019-08-01&resource={resource}"
        doc = idp.get(path, headers={"X-IDENTITY-HEADER": identity_header(idp.state)}).json()
        message = doc["message"]
        assert doc["statusCode"] == 400
    token_endpoint = idp.post_form(f"/{T}/oauth2/v2.0/token", _secret_form(idp, scope=f"{resource}/.default"))
    # The same AADSTS500011 text as the token endpoint's, with what to ask for instead.
    assert message == token_endpoint.json()["error_description"].split("\r\n")[0]
    assert message.startswith(f"AADSTS500011: The resource principal named {resource} was not found")
    assert f"e.g. {V2_RESOURCE}" in message


def test_an_identity_header_created_by_several_creators_at_once_is_the_one_each_hands_out(
    tmp_path: Path,
) -> None:
    # The IdP's first App Service request and `wif env --principal checkout-webapp` can create the
    # file at the same moment: each must hand out the value the file ends up holding.
    state = StateDir(tmp_path / "state")
    start = threading.Barrier(8)

    def create() -> str:
        start.wait()
        return identity_header(state)

    with ThreadPoolExecutor(8) as pool:
        values = set(pool.map(lambda _: create(), range(8)))
    assert values == {(state.path / "azure" / "identity-header").read_text()}


def test_an_identity_header_replaced_while_it_is_read_is_reread_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another kit process replaces the file just after this one opened it to read it: the value read
    # must not be remembered as the new file's, or App Service requests carrying the header the file
    # holds would be refused (401).
    state = StateDir(tmp_path / "state")
    path = state.subdir("azure") / "identity-header"
    state.write_private(path, "first-value")
    real_stat = os.stat
    moment = {"armed": True, "opened": False}

    def note_open(event: str, args: tuple[Any, ...]) -> None:
        if moment["armed"] and event == "open" and isinstance(args[0], str | Path) and Path(args[0]) == path:
            moment["opened"] = True

    def stat_after_another_process_wrote(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        # The other process's write lands between this process's open of the file and its next stat.
        if moment["opened"] and Path(target) == path:
            moment.update(armed=False, opened=False)
            state.write_private(path, "second-value")
        return real_stat(target, *args, **kwargs)

    sys.addaudithook(note_open)  # audit hooks stay for the process: disarmed below
    monkeypatch.setattr(os, "stat", stat_after_another_process_wrote)
    try:
        identity_header(state)
        assert identity_header(state) == "second-value"
        assert moment == {"armed": False, "opened": False}  # the other process did write
    finally:
        moment["armed"] = False
