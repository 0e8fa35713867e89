"""Obtaining tokens the ways a workload does, against the real mock IdP over real HTTP."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from _support.logs import json_lines
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook import tokens
from wif_notebook.errors import ConfigError, ServiceError, TokenError
from wif_notebook.idp.principals import find
from wif_notebook.state import ServiceRecord, StateDir


def kit(record: ServiceRecord, what: str = "issuer") -> str:
    return str(record.extra["issuers"]["kit"][what])


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_client_credentials_returns_a_verifiable_token(
    auth: str, idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    issued = tokens.client_credentials("billing-api", auth=auth, state=idp_state)
    assert issued.method == "client_credentials"
    assert issued.principal == "billing-api"
    assert issued.issuer == kit(idp_record)
    assert issued.audience == kit(idp_record, "audience")
    assert issued.source == kit(idp_record) + "/token"
    assert issued.elapsed_ms > 0 and issued.expires_in is not None and issued.expires_in > 3000
    assert issued.claims["groups"] == ["billing-writers", "reports-readers"]
    verified = tokens.verify(issued.token, state=idp_state)
    assert verified.issuer == kit(idp_record) and verified.kid == issued.header["kid"]


def test_client_credentials_can_request_another_audience(idp_state: StateDir) -> None:
    assert tokens.client_credentials("billing-api", audience="api://reports", state=idp_state).audience == (
        "api://reports"
    )


def test_entra_shaped_client_credentials_use_the_default_scope(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    app_id = idp_record.extra["issuers"]["azure"]["audience"]
    issued = tokens.client_credentials("reports-sp", audience=f"api://{app_id}", state=idp_state)
    assert issued.audience == app_id
    assert issued.claims["tid"] and issued.claims["ver"] == "2.0"


def test_a_wrong_client_secret_quotes_the_idps_error(idp_state: StateDir) -> None:
    impostor = dataclasses.replace(find(idp_state, "billing-api"), client_secret="not-the-secret")
    with pytest.raises(TokenError) as info:
        tokens.client_credentials(impostor, state=idp_state)
    assert "HTTP 401" in info.value.what and "invalid_client" in info.value.what
    assert info.value.hint


def test_a_managed_identity_has_no_secret_for_client_credentials(idp_state: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        tokens.client_credentials("inventory-vm", state=idp_state)
    assert "imds" in (info.value.hint or "")


def test_azure_imds_answers_for_the_vms_identity(idp_state: StateDir, idp_record: ServiceRecord) -> None:
    app_id = idp_record.extra["issuers"]["azure"]["audience"]
    default = tokens.azure_imds(f"api://{app_id}", state=idp_state)
    assert (
        default.method == "imds"
        and "/metadata/identity/oauth2/token?api-version=2018-02-01" in default.source
    )
    assert default.audience == app_id
    chosen = tokens.azure_imds(app_id, principal="orders-identity", state=idp_state)
    assert chosen.claims["sub"] == find(idp_state, "orders-identity").subject
    assert "client_id=" in chosen.source


def test_azure_imds_error_is_quoted(idp_state: StateDir) -> None:
    with pytest.raises(TokenError) as info:
        tokens.azure_imds("api://not-registered", state=idp_state)
    assert "HTTP 400" in info.value.what and "invalid_resource" in info.value.what


def test_gcp_metadata_returns_the_raw_jwt_body(idp_state: StateDir, idp_record: ServiceRecord) -> None:
    issued = tokens.gcp_metadata("api://mongodb-kit-gcp", state=idp_state)
    assert issued.method == "gcp" and issued.issuer == idp_record.extra["issuers"]["gcp"]["issuer"]
    assert "google" not in issued.claims
    full = tokens.gcp_metadata("api://x", principal="gce-worker", full=True, state=idp_state)
    assert full.claims["google"]["compute_engine"]["instance_name"]
    assert full.claims["email"].startswith("gce-worker@")
    assert "/service-accounts/gce-worker@" in full.source


def test_kubernetes_token_file_of_a_service_account(idp_state: StateDir) -> None:
    issued = tokens.obtain("orders-worker", state=idp_state)
    assert issued.method == "k8s-file" and issued.principal == "orders-worker"
    assert issued.source.endswith("kubernetes.io/serviceaccount/token")
    assert issued.claims["sub"] == "system:serviceaccount:shop:orders-worker"
    assert "typ" not in issued.header


def _azure(record: ServiceRecord, what: str = "issuer") -> str:
    return str(record.extra["issuers"]["azure"][what])


def test_federated_credential_trades_the_pods_token_for_an_entra_token(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    identity = find(idp_state, "orders-identity")
    issued = tokens.federated("orders-identity", state=idp_state)
    assert (issued.method, issued.principal) == ("federated", "orders-identity")
    assert issued.issuer == _azure(idp_record) and issued.audience == _azure(idp_record, "audience")
    assert issued.source == tokens.discover(_azure(idp_record), state=idp_state)["token_endpoint"]
    assert issued.claims["sub"] == identity.subject and issued.claims["groups"] == identity.groups
    assert tokens.verify(issued.token, state=idp_state).issuer == _azure(idp_record)
    # The IdP's request log: one client-credentials grant at the azure token endpoint, for the
    # identity, authenticated by the pod's token (no secret exists for a managed identity).
    assert not identity.client_secret
    grants = [(r["grant"], r["principal"]) for r in _idp_log(idp_state) if r.get("issuer") == "azure"]
    assert ("client_credentials", "orders-identity") in grants


def _idp_log(state: StateDir) -> list[dict[str, Any]]:
    path = state.logs_dir / "idp.log"
    return json_lines(path)


def test_federated_from_the_workload_side_and_through_obtain(idp_state: StateDir) -> None:
    assert tokens.federated("orders-worker", state=idp_state).principal == "orders-identity"
    via = tokens.obtain("orders-identity", via="federated", state=idp_state)
    assert via.method == "federated" and via.principal == "orders-identity"


def test_federated_with_a_minted_assertion_and_another_audience(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    pod = tokens.mint("orders-worker", audience="api://AzureADTokenExchange", state=idp_state)
    app_id = _azure(idp_record, "audience")
    issued = tokens.federated("orders-identity", assertion=pod, audience=f"api://{app_id}", state=idp_state)
    assert issued.audience == app_id


def test_federated_refuses_a_pod_token_for_another_audience(idp_state: StateDir) -> None:
    # The plain service-account token is for the cluster's own audience, not for Entra's exchange.
    plain = tokens.kit_token_file("orders-worker", kind="serviceaccount", state=idp_state)
    with pytest.raises(TokenError) as info:
        tokens.federated("orders-identity", assertion=plain, state=idp_state)
    # Entra answers a federated credential mismatch with 400 invalid_request AADSTS70021.
    assert "HTTP 400" in info.value.what and "AADSTS70021" in info.value.what
    assert "Trace ID" not in info.value.what
    assert "api://AzureADTokenExchange" in (info.value.hint or "")


def test_federated_needs_a_principal_with_a_federated_credential(idp_state: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        tokens.federated("billing-api", state=idp_state)
    assert "no federated credential" in info.value.what and "orders-identity" in (info.value.hint or "")


def test_obtain_picks_the_method_of_each_kind_of_workload(idp_state: StateDir) -> None:
    assert tokens.obtain("billing-api", state=idp_state).method == "client_credentials"
    assert tokens.obtain("inventory-vm", state=idp_state).method == "imds"
    assert tokens.obtain("gce-worker", state=idp_state).method == "gcp"
    assert tokens.obtain("billing-api", lifetime=120, state=idp_state).method == "mint"


def test_obtain_refuses_a_fault_without_the_mint(idp_state: StateDir) -> None:
    with pytest.raises(ConfigError):
        tokens.obtain("billing-api", via="client_credentials", fault="expired", state=idp_state)


def test_mint_with_a_fault_reports_the_rule_it_breaks(idp_state: StateDir) -> None:
    issued = tokens.mint("billing-api", fault="expired", state=idp_state)
    assert issued.fault is not None and issued.fault["rule"] == "time.exp"
    assert issued.expires_in is not None and issued.expires_in < 0
    assert "fault=expired (breaks time.exp)" in str(issued)


def test_an_unknown_principal_lists_the_known_ones(idp_state: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        tokens.obtain("nobody", state=idp_state)
    assert "billing-api" in (info.value.hint or "")


def test_idp_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(ServiceError) as info:
        tokens.mint("billing-api", state=StateDir(tmp_path / "empty"))
    assert "wif idp start" in (info.value.hint or "") and "wif up" in (info.value.hint or "")


def test_token_file_follows_the_spec_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    azure, aws = tmp_path / "azure", tmp_path / "aws"
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(aws))
    assert tokens.k8s_token_path() == aws
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(azure))
    assert tokens.k8s_token_path() == azure
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE")
    assert str(tokens.k8s_token_path()) == "/var/run/secrets/kubernetes.io/serviceaccount/token"


def test_token_file_reads_the_file_named_by_the_environment(
    idp_state: StateDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwt_text = tokens.mint("billing-api", state=idp_state).token
    path = tmp_path / "token"
    path.write_text(jwt_text)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(path))
    issued = tokens.token_file()
    assert issued.token == jwt_text and issued.source == str(path) and issued.principal == "billing-api"
    monkeypatch.setenv("OIDC_TOKEN_FILE", str(path))
    assert tokens.token_file(environment="test").method == "file"


def test_a_trailing_newline_would_break_pymongos_k8s_reader(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n")
    with pytest.raises(TokenError) as info:
        tokens.token_file(path)
    assert "trailing newline" in (info.value.hint or "")


def test_missing_oidc_token_file_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_TOKEN_FILE", raising=False)
    with pytest.raises(ConfigError) as info:
        tokens.token_file(environment="test")
    assert info.value.what == 'MONGODB-OIDC with an "test" provider requires "OIDC_TOKEN_FILE" to be set'


def test_a_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(TokenError) as info:
        tokens.token_file(tmp_path / "nope")
    assert "does not exist" in info.value.what


def test_callbacks_of_every_shape(idp_state: StateDir) -> None:
    raw = tokens.mint("billing-api", state=idp_state).token

    class Callback(OIDCCallback):
        def __init__(self) -> None:
            self.seen: list[OIDCCallbackContext] = []

        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            self.seen.append(context)
            return OIDCCallbackResult(access_token=raw, expires_in_seconds=3600)

    callback = Callback()
    issued = tokens.from_callback(callback, username="svc")
    assert issued.token == raw and issued.method == "callback" and issued.source.endswith("Callback")
    assert (
        callback.seen[0].version == 1
        and callback.seen[0].timeout_seconds == 60
        and callback.seen[0].username == "svc"
    )
    assert tokens.from_callback(lambda: raw).token == raw
    assert tokens.from_callback(lambda ctx: OIDCCallbackResult(access_token=raw)).issuer == issued.issuer


def test_a_callback_returning_nothing_is_reported() -> None:
    with pytest.raises(TokenError) as info:
        tokens.from_callback(lambda: None)
    assert "returned NoneType" in info.value.what
