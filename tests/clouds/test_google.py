"""google-auth, unmodified, against the kit's Google metadata server and certificate endpoints.

Each workload runs in its own process with the environment ``wif env --principal`` gives it
(google-auth reads GCE_METADATA_HOST when it is imported); every ID token it obtains logs in to the
test mongod through pymongo's OIDC_CALLBACK.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from wif_notebook import authorization
from wif_notebook.idp.app import CATALOG_CHECK_SECONDS
from wif_notebook.idp.google import GKE_ANNOTATION
from wif_notebook.idp.principals import find
from wif_notebook.idp.service import idp_record
from wif_notebook.state import StateDir

from .conftest import json_result, run_workload

# A workload's OIDC_CALLBACK: the ID token comes from google-auth (how = argv[2], audience = argv[3]).
LOGIN = """
import json, sys
import google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackResult

uri, how, audience = sys.argv[1:4]

class GoogleCallback(OIDCCallback):
    def fetch(self, context):
        request = google.auth.transport.requests.Request()
        if how == "fetch_id_token":
            token = id_token.fetch_id_token(request, audience)
        else:
            credentials = compute_engine.IDTokenCredentials(
                request, audience, use_metadata_identity_endpoint=True
            )
            credentials.refresh(request)
            token = credentials.token
        return OIDCCallbackResult(access_token=token)

client = MongoClient(uri, authMechanism="MONGODB-OIDC",
                     authMechanismProperties={"OIDC_CALLBACK": GoogleCallback()})
info = client.admin.command("connectionStatus")["authInfo"]
print(json.dumps({"users": info["authenticatedUsers"], "roles": info["authenticatedUserRoles"]}))
"""


def _audience(state: StateDir) -> str:
    record = idp_record(state)
    assert record is not None
    return str(record.extra["issuers"]["gcp"]["audience"])


@pytest.fixture(scope="module")
def authorized(kit: StateDir) -> StateDir:
    """$external users for the Google service accounts the tests log in as (the gcp provider has
    useAuthorizationClaim: false)."""
    authorization.authorize(kit, principal="gce-worker", roles=["read@inventory"])
    authorization.authorize(kit, principal="gke-recommender", roles=["readWrite@recommendations"])
    return kit


@pytest.mark.parametrize("how", ["fetch_id_token", "IDTokenCredentials"])
def test_google_auth_id_token_logs_in_as_the_service_account(
    authorized: StateDir, tmp_path: Path, how: str
) -> None:
    proc = run_workload(authorized, "gce-worker", LOGIN, how, _audience(authorized), home=tmp_path)
    result = json_result(proc)
    sub = find(authorized, "gce-worker").subject
    assert result["users"] == [{"user": f"gcp/{sub}", "db": "$external"}]
    assert result["roles"] == [{"role": "read", "db": "inventory"}]


def test_gke_workload_identity_pod_gets_the_annotated_google_service_account(
    authorized: StateDir, tmp_path: Path
) -> None:
    proc = run_workload(
        authorized, "recommender-ksa", LOGIN, "fetch_id_token", _audience(authorized), home=tmp_path
    )
    result = json_result(proc)
    sub = find(authorized, "gke-recommender").subject
    assert result["users"] == [{"user": f"gcp/{sub}", "db": "$external"}]
    assert result["roles"] == [{"role": "readWrite", "db": "recommendations"}]


CLAIMS = """
import json, sys
import google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token

uri, audience, base = sys.argv[1:4]
request = google.auth.transport.requests.Request()
credentials = compute_engine.IDTokenCredentials(request, audience, use_metadata_identity_endpoint=True)
credentials.refresh(request)
out = {"email": credentials.service_account_email}
out_v1, out_v3 = base + "/gcp/oauth2/v1/certs", base + "/gcp/oauth2/v3/certs"
for name, url in (("v1", out_v1), ("v3", out_v3)):
    out[name] = id_token.verify_token(credentials.token, request, audience=audience, certs_url=url)
try:
    id_token.verify_token(credentials.token, request, audience="someone-else", certs_url=out_v1)
except ValueError as exc:
    out["wrong_audience"] = [type(exc).__module__ + "." + type(exc).__qualname__, str(exc)]
print(json.dumps(out))
"""


def test_id_tokens_are_shaped_like_googles_and_verify_with_both_https_certificate_endpoints(
    kit: StateDir, tmp_path: Path
) -> None:
    record = idp_record(kit)
    assert record is not None
    audience = "https://orders.example.com"
    result = json_result(
        run_workload(kit, "gce-worker", CLAIMS, audience, record.extra["https_base_url"], home=tmp_path)
    )
    gce = find(kit, "gce-worker")
    assert result["email"] == gce.client_id
    claims = result["v1"]
    assert result["v3"] == claims, "the PEM map and the JWKS verify the same token"
    assert claims["iss"] == record.extra["issuers"]["gcp"]["issuer"]
    assert claims["aud"] == audience
    assert claims["sub"] == claims["azp"] == gce.subject and claims["sub"].isdigit()
    assert claims["email"] == gce.client_id and claims["email_verified"] is True
    assert 0 < claims["exp"] - claims["iat"] <= 3600
    block = claims["google"]["compute_engine"]
    assert block["project_id"] == "wif-kit-demo"
    assert isinstance(block["project_number"], int)
    assert isinstance(block["instance_creation_timestamp"], int)
    assert isinstance(block["instance_id"], str) and block["instance_id"].isdigit()
    assert {"zone", "instance_name"} <= set(block)
    error_type, message = result["wrong_audience"]
    assert error_type.startswith("google.auth.exceptions.") and "audience" in message


DEFAULT = """
import json, sys
import google.auth, google.auth.transport.requests
from google.auth import compute_engine

credentials, project = google.auth.default()
credentials.refresh(google.auth.transport.requests.Request())
print(json.dumps({
    "compute_engine": isinstance(credentials, compute_engine.Credentials),
    "project": project,
    "email": credentials.service_account_email,
    "token_is_opaque": credentials.token.count(".") != 2,
    "valid": credentials.valid,
}))
"""


def test_google_auth_default_picks_compute_engine_with_the_project_and_an_access_token(
    kit: StateDir, tmp_path: Path
) -> None:
    result = json_result(run_workload(kit, "run-checkout", DEFAULT, home=tmp_path))
    assert result == {
        "compute_engine": True,
        "project": "wif-kit-demo",
        "email": find(kit, "run-checkout").client_id,
        "token_is_opaque": True,
        "valid": True,
    }


ERRORS = """
import json, sys
import google.auth.exceptions, google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token

uri, audience = sys.argv[1:3]
request = google.auth.transport.requests.Request()
out = {}
try:
    id_token.fetch_id_token(request, audience)
except google.auth.exceptions.GoogleAuthError as exc:
    out["fetch_id_token"] = [type(exc).__name__, str(exc)]
try:
    compute_engine.IDTokenCredentials(request, audience, use_metadata_identity_endpoint=True)
except google.auth.exceptions.GoogleAuthError as exc:
    out["IDTokenCredentials"] = [type(exc).__name__, str(exc)]
print(json.dumps(out))
"""


def test_a_pod_whose_google_service_account_does_not_exist_gets_google_auths_own_errors(
    kit: StateDir, tmp_path: Path
) -> None:
    ksa = {
        "name": "stale-ksa",
        "kind": "kubernetes-service-account",
        "issuer": "k8s",
        "subject": "system:serviceaccount:ml:stale",
        "annotations": {GKE_ANNOTATION: "deleted@wif-kit-demo.iam.gserviceaccount.com"},
    }
    doc = yaml.safe_load(kit.principals_file.read_text())
    if not any(p["name"] == "stale-ksa" for p in doc["principals"]):
        doc["principals"].append(ksa)
        kit.write_private(kit.principals_file, yaml.safe_dump(doc, sort_keys=False))
    time.sleep(CATALOG_CHECK_SECONDS * 2)  # the IdP rereads a changed catalog within this time
    result = json_result(run_workload(kit, "stale-ksa", ERRORS, "aud", home=tmp_path))
    kind, message = result["fetch_id_token"]
    assert kind == "DefaultCredentialsError" and "Neither metadata server" in message
    kind, message = result["IDTokenCredentials"]
    assert kind == "TransportError" and "404" in message
    assert (
        "deleted@wif-kit-demo.iam.gserviceaccount.com" in message and "which is no service account" in message
    )


def test_an_empty_audience_is_refused_as_the_metadata_server_does(kit: StateDir, tmp_path: Path) -> None:
    script = """
import json, sys
import google.auth.exceptions, google.auth.transport.requests
from google.auth import compute_engine
request = google.auth.transport.requests.Request()
credentials = compute_engine.IDTokenCredentials(request, "", use_metadata_identity_endpoint=True)
try:
    credentials.refresh(request)
except google.auth.exceptions.RefreshError as exc:
    print(json.dumps(["RefreshError", str(exc)]))
"""
    kind, message = json_result(run_workload(kit, "gce-worker", script, home=tmp_path))
    assert kind == "RefreshError" and "non-empty audience parameter required" in message


def test_wif_env_points_google_auth_at_the_metadata_server_of_the_principal(
    kit: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    from wif_notebook.cli import main

    assert main(["env", "--principal", "run-checkout", "--state-dir", str(kit.path)]) == 0
    out = capsys.readouterr().out
    assert "export GCE_METADATA_HOST=run-checkout:@localhost:" in out
    assert "export GCE_METADATA_IP=localhost:" in out
    assert "export REQUESTS_CA_BUNDLE=" in out


# Google's own verifiers with their fixed certificate URLs on www.googleapis.com, which the kit's
# vendor-host proxy answers (HTTPS_PROXY from `wif env --principal`).
VENDOR_CERTS = """
import json, sys
import google.auth.exceptions, google.auth.transport.requests
from google.auth import compute_engine
from google.oauth2 import id_token

uri, audience = sys.argv[1:3]
request = google.auth.transport.requests.Request()
credentials = compute_engine.IDTokenCredentials(request, audience, use_metadata_identity_endpoint=True)
credentials.refresh(request)
out = {
    "verify_token": id_token.verify_token(credentials.token, request, audience=audience),
    "verify_token_v3": id_token.verify_token(
        credentials.token, request, audience=audience, certs_url="https://www.googleapis.com/oauth2/v3/certs"
    ),
}
try:
    out["verify_oauth2_token"] = id_token.verify_oauth2_token(credentials.token, request, audience=audience)
except google.auth.exceptions.GoogleAuthError as exc:
    out["verify_oauth2_token"] = [type(exc).__module__ + "." + type(exc).__qualname__, str(exc)]
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("workload", "account"),
    [("gce-worker", "gce-worker"), ("recommender-ksa", "gke-recommender")],
    ids=["on a Compute Engine VM", "in a GKE pod mapped to a Google service account"],
)
def test_google_auths_verifiers_read_the_certificates_at_googles_own_url_through_the_kits_proxy(
    kit: StateDir, tmp_path: Path, workload: str, account: str
) -> None:
    log = kit.path / "logs" / "idp.log"
    before = log.stat().st_size
    audience = "https://orders.example.com"
    result = json_result(run_workload(kit, workload, VENDOR_CERTS, audience, home=tmp_path))
    with log.open() as fh:
        fh.seek(before)
        logged = fh.read()
    # verify_token's default certs_url is https://www.googleapis.com/oauth2/v1/certs: the kit's
    # PEM map answered there, and the signature and audience check passed.
    claims = result["verify_token"]
    assert claims["aud"] == audience and claims["sub"] == find(kit, account).subject
    assert result["verify_token_v3"] == claims
    assert (
        '"path":"https://www.googleapis.com/oauth2/v1/certs","query":null,"issuer":"gcp","status":200'
        in logged
    )
    # verify_oauth2_token then insists on Google's own issuer (accounts.google.com). The kit's
    # tokens name the kit's issuer, the URL a MongoDB server fetches their keys from, so Google's
    # verifier refuses them with its own wrong-issuer error, after the signature check passed.
    kind, message = result["verify_oauth2_token"]
    assert kind == "google.auth.exceptions.GoogleAuthError"
    assert message.startswith("Wrong issuer") and "accounts.google.com" in message
    record = idp_record(kit)
    assert record is not None and claims["iss"] == record.extra["issuers"]["gcp"]["issuer"]


HTTP_CLIENTS = """
import json, os, urllib.request
import httpx, requests

vendor = "https://www.googleapis.com/oauth2/v1/certs"  # through the kit's proxy (HTTPS_PROXY)
kit = "https://" + os.environ["GCE_METADATA_IP"] + "/gcp/oauth2/v1/certs"  # the IdP itself (NO_PROXY)

def seen_by(get):
    try:
        other = "reached: " + str(get("https://pypi.org/simple/"))[:40]
    except Exception as exc:
        other = str(exc)
    return {"vendor": get(vendor), "kit": get(kit), "other": other}

print(json.dumps({
    "requests": seen_by(lambda url: requests.get(url, timeout=10).json()),
    "httpx": seen_by(lambda url: httpx.get(url, timeout=10).json()),
    "urllib": seen_by(lambda url: json.load(urllib.request.urlopen(url, timeout=10))),
}))
"""


def test_requests_httpx_and_urllib_take_the_vendor_host_through_the_proxy_and_nothing_else(
    kit: StateDir, tmp_path: Path
) -> None:
    result = json_result(run_workload(kit, "gce-worker", HTTP_CLIENTS, home=tmp_path))
    assert set(result) == {"requests", "httpx", "urllib"}
    for client, seen in result.items():
        # The kit's certificates at Google's URL, the tunnel verified against the kit CA; the IdP
        # itself reached directly; any other host refused by the proxy.
        assert seen["kit"] and seen["vendor"] == seen["kit"], client
        assert "403" in seen["other"], (client, seen["other"])
