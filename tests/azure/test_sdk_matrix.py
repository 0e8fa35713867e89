"""azure-identity and msal, unmodified, against the kit: one row per credential and hosting shape.

Each row runs the SDK in its own process with the environment `wif env --principal NAME` exports,
then logs in to the test mongod with the token through pymongo's OIDC_CALLBACK and checks the user
and roles mongod derived. Error rows check the SDK's own exception type and Entra's code.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from wif_notebook.idp.issuers import (
    AZURE_RESOURCE_APP_ID,
    AZURE_TENANT_ID,
    AZURE_TOKEN_EXCHANGE_AUDIENCE,
    AZURE_V1_RESOURCE_APP_ID,
)
from wif_notebook.idp.tokenfiles import token_file_path

from .conftest import VM_RESOURCE_ID, AzureKit

V1_SCOPE = f"api://{AZURE_V1_RESOURCE_APP_ID}/.default"  # a resource app left at v1 tokens
V2_SCOPE = f"api://{AZURE_RESOURCE_APP_ID}/.default"  # accessTokenAcceptedVersion: 2


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _logs_in_as(kit: AzureKit, result: dict[str, Any], name: str) -> dict[str, Any]:
    """The token is ``name``'s, and mongod makes it user <prefix>/<oid> with its groups as roles."""
    assert "token" in result, result
    token = result["token"]
    claims = _claims(token)
    principal = kit.principal(name)
    assert claims["oid"] == principal.subject
    prefix = "azure-v1" if claims["ver"] == "1.0" else "azure"
    info = kit.login(token)
    assert info["authenticatedUsers"] == [{"user": f"{prefix}/{principal.subject}", "db": "$external"}]
    roles = {(r["role"], r["db"]) for r in info["authenticatedUserRoles"]}
    assert roles == {(f"{prefix}/{group}", "admin") for group in principal.groups}
    return claims


# -- managed identity over IMDS and App Service (plain http, as on a real host) ---------------------
def test_managed_identity_credential_system_assigned_on_a_vm_gets_a_v1_token(azure_kit: AzureKit) -> None:
    env = azure_kit.env_of("reports-vm-system")
    # A system-assigned identity needs no id: only the IMDS address (and the kit CA) are exported.
    assert "AZURE_CLIENT_ID" not in env and env["AZURE_POD_IDENTITY_AUTHORITY_HOST"].startswith("http://")
    result = azure_kit.run({"credential": "ManagedIdentityCredential", "scope": V1_SCOPE}, env)
    claims = _logs_in_as(azure_kit, result, "reports-vm-system")
    assert claims["ver"] == "1.0" and claims["aud"] == f"api://{AZURE_V1_RESOURCE_APP_ID}"
    assert claims["appidacr"] == "2" and claims["xms_mirid"] == VM_RESOURCE_ID


@pytest.mark.parametrize(
    "selector",
    [{"client_id": "client_id"}, {"identity_config": "object_id"}, {"identity_config": "resource_id"}],
    ids=["client_id", "object_id", "msi_res_id"],
)
def test_managed_identity_credential_user_assigned_by_each_selector(
    azure_kit: AzureKit, selector: dict[str, str]
) -> None:
    vm = azure_kit.principal("inventory-vm")
    values = {"client_id": vm.client_id, "object_id": vm.subject, "resource_id": vm.claims["xms_mirid"]}
    [(arg, field)] = selector.items()
    kwargs: dict[str, Any] = (
        {"client_id": vm.client_id} if arg == "client_id" else {"identity_config": {field: values[field]}}
    )
    env = {
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": azure_kit.env_of("inventory-vm")[
            "AZURE_POD_IDENTITY_AUTHORITY_HOST"
        ]
    }
    result = azure_kit.run(
        {"credential": "ManagedIdentityCredential", "kwargs": kwargs, "scope": V2_SCOPE}, env
    )
    claims = _logs_in_as(azure_kit, result, "inventory-vm")
    assert claims["ver"] == "2.0" and claims["aud"] == AZURE_RESOURCE_APP_ID and claims["azpacr"] == "2"


def test_managed_identity_credential_on_app_service_user_assigned(azure_kit: AzureKit) -> None:
    env = azure_kit.env_of("checkout-webapp")
    assert env["IDENTITY_ENDPOINT"].startswith("http://localhost:") and env["IDENTITY_HEADER"]
    kwargs = {"client_id": env["AZURE_CLIENT_ID"]}
    result = azure_kit.run(
        {"credential": "ManagedIdentityCredential", "kwargs": kwargs, "scope": V2_SCOPE}, env
    )
    _logs_in_as(azure_kit, result, "checkout-webapp")


def test_managed_identity_credential_on_app_service_system_assigned(azure_kit: AzureKit) -> None:
    # Without a client id the host's system-assigned identity answers, on App Service as on a VM.
    env = {k: v for k, v in azure_kit.env_of("checkout-webapp").items() if k != "AZURE_CLIENT_ID"}
    result = azure_kit.run({"credential": "ManagedIdentityCredential", "scope": V2_SCOPE}, env)
    _logs_in_as(azure_kit, result, "reports-vm-system")


@pytest.mark.parametrize("name", ["inventory-vm", "reports-vm-system", "checkout-webapp"])
def test_default_azure_credential_picks_managed_identity_from_the_hosts_environment(
    azure_kit: AzureKit, name: str
) -> None:
    result = azure_kit.run(
        {"credential": "DefaultAzureCredential", "scope": V2_SCOPE}, azure_kit.env_of(name)
    )
    _logs_in_as(azure_kit, result, name)


@pytest.mark.parametrize("host", ["inventory-vm", "checkout-webapp"])
def test_no_identity_assigned_is_the_sdks_credential_unavailable_error(
    azure_kit: AzureKit, host: str
) -> None:
    env = azure_kit.env_of(host)
    kwargs = {"client_id": "00000000-0000-0000-0000-00000000dead"}
    result = azure_kit.run(
        {"credential": "ManagedIdentityCredential", "kwargs": kwargs, "scope": V2_SCOPE}, env
    )
    assert (result["error"], result["module"]) == ("CredentialUnavailableError", "azure.identity._exceptions")
    assert "Identity not found" in result["message"] or "Managed Identity" in result["message"]


# -- Entra's token endpoint (https only, as azure-identity requires) -------------------------------
def _sp_spec(kit: AzureKit, **change: str) -> dict[str, Any]:
    sp = kit.principal("reports-sp")
    kwargs = {
        "tenant_id": AZURE_TENANT_ID,
        "client_id": sp.client_id,
        "client_secret": sp.client_secret,
        **change,
    }
    return {"credential": "ClientSecretCredential", "kwargs": kwargs, "scope": V2_SCOPE}


INSTANCE_DISCOVERY = "https://login.microsoftonline.com/common/discovery/instance"


def _run_and_log(kit: AzureKit, spec: dict[str, Any], env: dict[str, str]) -> tuple[dict[str, Any], str]:
    """The SDK call's result, and the IdP's request log lines it added."""
    log = kit.state.path / "logs" / "idp.log"
    before = log.stat().st_size
    result = kit.run(spec, env)
    with log.open() as fh:
        fh.seek(before)
        return result, fh.read()


def test_client_secret_credential_asks_instance_discovery_through_the_kits_proxy(
    azure_kit: AzureKit,
) -> None:
    env = azure_kit.env_of("reports-sp")
    assert env["HTTPS_PROXY"] == azure_kit.ctx.extra["vendor_proxy"]
    assert "localhost" in env["NO_PROXY"].split(",")
    result, logged = _run_and_log(azure_kit, _sp_spec(azure_kit), env)
    assert _logs_in_as(azure_kit, result, "reports-sp")["azpacr"] == "1"
    assert f'"path":"{INSTANCE_DISCOVERY}"' in logged


def test_client_secret_credential_with_the_documented_disable_instance_discovery(
    azure_kit: AzureKit,
) -> None:
    # Without the proxy: the argument skips the question to login.microsoftonline.com altogether.
    env = {k: v for k, v in azure_kit.env_of("reports-sp").items() if "proxy" not in k.lower()}
    result, logged = _run_and_log(azure_kit, {**_sp_spec(azure_kit), "disable_instance_discovery": True}, env)
    assert _logs_in_as(azure_kit, result, "reports-sp")["azpacr"] == "1"
    assert "discovery/instance" not in logged


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"client_secret": "wrong"}, "AADSTS7000215"),
        ({"client_id": "00000000-0000-0000-0000-0000000000ff"}, "AADSTS700016"),
    ],
    ids=["wrong-secret", "unknown-client"],
)
def test_client_secret_credential_errors_carry_the_aadsts_code(
    azure_kit: AzureKit, change: dict[str, str], code: str
) -> None:
    result = azure_kit.run(_sp_spec(azure_kit, **change), azure_kit.env_of("reports-sp"))
    assert result["error"] == "ClientAuthenticationError" and code in result["message"]


def test_default_azure_credential_picks_the_service_principal_from_the_environment(
    azure_kit: AzureKit,
) -> None:
    env = azure_kit.env_of("reports-sp")
    assert {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST"} <= set(env)
    spec = {"credential": "DefaultAzureCredential", "scope": V2_SCOPE}
    result, logged = _run_and_log(azure_kit, spec, env)
    _logs_in_as(azure_kit, result, "reports-sp")
    assert f'"path":"{INSTANCE_DISCOVERY}"' in logged


def _assertion_spec(kit: AzureKit, shift: int = 0) -> dict[str, Any]:
    app = kit.principal("cert-app")
    return {
        "credential": "ClientAssertionCredential",
        "kwargs": {"tenant_id": AZURE_TENANT_ID, "client_id": app.client_id},
        "scope": V1_SCOPE,
        "client_id": app.client_id,
        "token_endpoint": f"{kit.ctx.idp_https}/{AZURE_TENANT_ID}/oauth2/v2.0/token",
        "key_path": str(kit.key_path),
        "x5t_s256": kit.x5t_s256,
        "assertion_shift": shift,
    }


def test_client_assertion_credential_with_a_certificate_signed_assertion(azure_kit: AzureKit) -> None:
    env = {**azure_kit.common_env(), "AZURE_AUTHORITY_HOST": azure_kit.ctx.idp_https}
    claims = _logs_in_as(azure_kit, azure_kit.run(_assertion_spec(azure_kit), env), "cert-app")
    assert claims["ver"] == "1.0" and claims["appidacr"] == "2"


def test_an_expired_client_assertion_is_aadsts700024(azure_kit: AzureKit) -> None:
    env = {**azure_kit.common_env(), "AZURE_AUTHORITY_HOST": azure_kit.ctx.idp_https}
    result = azure_kit.run(_assertion_spec(azure_kit, shift=-3600), env)
    assert result["error"] == "ClientAuthenticationError" and "AADSTS700024" in result["message"]


def test_aks_workload_identity_credential_exchanges_the_projected_token(azure_kit: AzureKit) -> None:
    env = azure_kit.env_of("orders-identity")
    projected = token_file_path(azure_kit.state, "aks")
    assert env["AZURE_FEDERATED_TOKEN_FILE"] == str(projected)
    # The webhook's projected token is the cluster's own (its issuer, audience
    # api://AzureADTokenExchange): what pymongo's ENVIRONMENT:k8s would send from this same file.
    # WorkloadIdentityCredential instead exchanges it at Entra for an Entra token.
    cluster_token = _claims(projected.read_text())
    assert cluster_token["aud"] == [AZURE_TOKEN_EXCHANGE_AUDIENCE]
    assert cluster_token["iss"] == azure_kit.ctx.extra["issuers"]["k8s"]["issuer"]
    result = azure_kit.run({"credential": "WorkloadIdentityCredential", "scope": V2_SCOPE}, env)
    entra_token = _logs_in_as(azure_kit, result, "orders-identity")
    assert entra_token["azpacr"] == "2" and entra_token["iss"] != cluster_token["iss"]


def test_default_azure_credential_picks_workload_identity_on_aks(azure_kit: AzureKit) -> None:
    result = azure_kit.run(
        {"credential": "DefaultAzureCredential", "scope": V2_SCOPE}, azure_kit.env_of("orders-identity")
    )
    _logs_in_as(azure_kit, result, "orders-identity")


def test_a_token_without_matching_federated_credential_is_aadsts70021(azure_kit: AzureKit) -> None:
    # The cluster's own service-account token (not the exchange audience) does not match.
    other = token_file_path(azure_kit.state, "serviceaccount").read_text()
    spec = {
        "credential": "ClientAssertionCredential",
        "kwargs": {
            "tenant_id": AZURE_TENANT_ID,
            "client_id": azure_kit.principal("orders-identity").client_id,
        },
        "scope": V2_SCOPE,
        "assertion": other,
    }
    result = azure_kit.run(spec, {**azure_kit.common_env(), "AZURE_AUTHORITY_HOST": azure_kit.ctx.idp_https})
    assert result["error"] == "ClientAuthenticationError" and "AADSTS70021" in result["message"]


def test_msal_confidential_client_application(azure_kit: AzureKit) -> None:
    sp = azure_kit.principal("reports-sp")
    spec = {
        "credential": "msal",
        "client_id": sp.client_id,
        "client_secret": sp.client_secret,
        "authority": f"{azure_kit.ctx.idp_https}/{AZURE_TENANT_ID}",
        "scope": V1_SCOPE,
    }
    # msal reads no AZURE_* variable; it gets the kit CA and the proxy from the same exports.
    env = azure_kit.env_of("reports-sp")
    result, logged = _run_and_log(azure_kit, spec, env)
    claims = _logs_in_as(azure_kit, result, "reports-sp")
    assert claims["ver"] == "1.0" and claims["appid"] == sp.client_id
    assert f'"path":"{INSTANCE_DISCOVERY}"' in logged
    unknown = azure_kit.run({**spec, "scope": "api://not-in-the-tenant/.default"}, env)
    assert unknown["result"]["error"] == "invalid_resource" and unknown["result"]["error_codes"] == [500011]
