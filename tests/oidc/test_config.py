"""oidcIdentityProviders: defaults, the mongod field names, and every validation message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wif_notebook.errors import ConfigError
from wif_notebook.oidc import ProviderConfig, parse_oidc_identity_providers

WORKLOAD = {
    "issuer": "https://idp.example/kit",
    "audience": "api://mongodb-kit",
    "authNamePrefix": "kit",
    "authorizationClaim": "groups",
    "supportsHumanFlows": False,
}
HUMAN = {
    "issuer": "https://login.example",
    "audience": "mongodb",
    "authNamePrefix": "corp",
    "clientId": "kit-client",
    "authorizationClaim": "groups",
}


def entry(base: dict[str, Any] = WORKLOAD, **changes: Any) -> dict[str, Any]:
    doc = dict(base)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def error_of(value: Any, *, tests: bool = False) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_oidc_identity_providers(value, enable_test_commands=tests)
    assert info.value.hint, "every configuration error says how to fix it"
    return info.value


def test_a_workload_entry_gets_the_servers_defaults() -> None:
    [cfg] = parse_oidc_identity_providers(json.dumps([WORKLOAD]), enable_test_commands=False)
    assert cfg == ProviderConfig(
        issuer="https://idp.example/kit",
        audience="api://mongodb-kit",
        auth_name_prefix="kit",
        authorization_claim="groups",
        supports_human_flows=False,
    )
    assert cfg.principal_name == "sub"
    assert cfg.use_authorization_claim is True
    assert cfg.log_claims == ("iss", "sub")
    assert cfg.jwks_poll_secs == 0
    assert cfg.client_id is None and cfg.match_pattern is None and cfg.request_scopes is None


def test_human_flows_are_the_default() -> None:
    [cfg] = parse_oidc_identity_providers([HUMAN], enable_test_commands=False)
    assert cfg.supports_human_flows is True
    assert cfg.client_id == "kit-client"


def test_to_document_uses_mongod_field_names_and_round_trips() -> None:
    full = entry(
        HUMAN,
        matchPattern="@example.com$",
        requestScopes=["groups"],
        principalName="email",
        logClaims=["sub", "aud"],
        JWKSPollSecs=86400,
    )
    [cfg] = parse_oidc_identity_providers([full], enable_test_commands=False)
    doc = cfg.to_document()
    assert doc["authNamePrefix"] == "corp"
    assert doc["JWKSPollSecs"] == 86400
    assert doc["requestScopes"] == ["groups"]
    assert doc["supportsHumanFlows"] is True
    assert "auth_name_prefix" not in doc
    assert parse_oidc_identity_providers([doc], enable_test_commands=False) == [cfg]


def test_an_empty_array_configures_no_providers() -> None:
    assert parse_oidc_identity_providers("[]", enable_test_commands=False) == []


def test_invalid_json_is_reported_like_mongod() -> None:
    err = error_of('[{"issuer": "https://a", }]')
    assert err.what.startswith("Failed parsing OIDC parameters from JSON :: caused by :: ")


def test_a_single_object_is_not_an_array() -> None:
    assert error_of(json.dumps(WORKLOAD)).what == "OIDC configuration must be an array"


def test_elements_must_be_objects() -> None:
    assert error_of('["https://idp.example"]').what == "OIDC configuration must be an array of objects"


@pytest.mark.parametrize("field", ["issuer", "audience", "authNamePrefix"])
def test_required_fields_are_named_when_missing(field: str) -> None:
    err = error_of([entry(WORKLOAD, **{field: None})])
    assert err.what == f"BSON field 'IDPConfiguration.{field}' is missing but a required field"


def test_wrong_field_type_is_reported_with_bson_type_names() -> None:
    err = error_of([entry(audience=42)])
    assert (
        err.what == "BSON field 'IDPConfiguration.audience' is the wrong type 'int', expected type 'string'"
    )
    err = error_of([entry(supportsHumanFlows="false")])
    assert err.what == (
        "BSON field 'IDPConfiguration.supportsHumanFlows' is the wrong type 'string', expected type 'bool'"
    )


def test_unknown_fields_are_rejected_so_typos_do_not_pass_silently() -> None:
    err = error_of([entry(authorisationClaim="groups")])
    assert err.what == "BSON field 'IDPConfiguration.authorisationClaim' is an unknown field."
    assert "authorizationClaim" in (err.hint or "")


def test_http_issuer_needs_enable_test_commands() -> None:
    http = entry(issuer="http://localhost:8123/kit")
    err = error_of([http])
    assert err.what == "Field 'issuer' for issuer 'http://localhost:8123/kit' must be an https:// URL"
    assert "enableTestCommands" in (err.hint or "")
    [cfg] = parse_oidc_identity_providers([http], enable_test_commands=True)
    assert cfg.issuer == "http://localhost:8123/kit"


def test_configuration_accepts_any_http_host_with_test_commands() -> None:
    # Only fetching insists on exactly http://localhost (endpoint_is_secure), as in mongod.
    [cfg] = parse_oidc_identity_providers([entry(issuer="http://127.0.0.1:1/kit")], enable_test_commands=True)
    assert cfg.issuer == "http://127.0.0.1:1/kit"


def test_empty_strings_are_refused() -> None:
    assert error_of([entry(audience="")]).what == (
        "Field 'audience' for issuer 'https://idp.example/kit' must be non-empty"
    )
    assert error_of([entry(issuer="")]).what == "Field 'issuer' for issuer '' must be non-empty"


def test_authorization_claim_is_required_with_use_authorization_claim() -> None:
    err = error_of([entry(authorizationClaim=None)])
    assert err.what == "Missing required field 'authorizationClaim' for issuer 'https://idp.example/kit'"
    [cfg] = parse_oidc_identity_providers(
        [entry(authorizationClaim=None, useAuthorizationClaim=False)], enable_test_commands=False
    )
    assert cfg.use_authorization_claim is False and cfg.authorization_claim is None


def test_client_id_is_required_exactly_when_human_flows_are_supported() -> None:
    err = error_of([entry(HUMAN, clientId=None)])
    assert err.what == "Missing required field 'clientId' for issuer 'https://login.example'"
    assert "supportsHumanFlows" in (err.hint or "")
    [cfg] = parse_oidc_identity_providers([WORKLOAD], enable_test_commands=False)
    assert cfg.client_id is None


@pytest.mark.parametrize("prefix,bad", [("kit/prod", "/"), ("kit prod", " "), ("kït", "ï")])
def test_auth_name_prefix_allows_only_alphanumerics_hyphens_underscores(prefix: str, bad: str) -> None:
    err = error_of([entry(authNamePrefix=prefix)])
    assert err.what == (
        "Field 'authNamePrefix' for issuer 'https://idp.example/kit' must contain only alphanumerics, "
        f"hyphens, and/or underscores. Encountered '{bad}'"
    )


def test_auth_name_prefix_with_hyphen_and_underscore_is_fine() -> None:
    [cfg] = parse_oidc_identity_providers([entry(authNamePrefix="azure-prod_1")], enable_test_commands=False)
    assert cfg.auth_name_prefix == "azure-prod_1"


def test_two_human_providers_need_match_patterns() -> None:
    second = entry(HUMAN, issuer="https://other.example", authNamePrefix="other")
    err = error_of([HUMAN, second])
    assert err.what == "Required matchValue"
    # Every human-flow entry needs one when there are several, even the last.
    assert error_of([entry(HUMAN, matchPattern="@corp$"), second]).what == "Required matchValue"
    ok = [entry(HUMAN, matchPattern="@corp$"), entry(second, matchPattern="@other$")]
    assert len(parse_oidc_identity_providers(ok, enable_test_commands=False)) == 2


def test_entries_without_match_pattern_must_come_last() -> None:
    err = error_of([WORKLOAD, entry(HUMAN, matchPattern="@corp$")])
    assert err.what == "All IdPs without matchPatterns must be listed after those with matchPatterns"


def test_a_machine_provider_may_sit_beside_one_human_provider_without_patterns() -> None:
    configs = parse_oidc_identity_providers([HUMAN, WORKLOAD], enable_test_commands=False)
    assert [c.supports_human_flows for c in configs] == [True, False]


def test_match_pattern_must_compile() -> None:
    err = error_of([entry(HUMAN, matchPattern="(unclosed")])
    assert err.what.startswith(
        "Field 'matchPattern' for issuer 'https://login.example' is not a valid regular"
    )


def test_request_scopes_must_be_non_empty_strings() -> None:
    assert error_of([entry(requestScopes=["groups", ""])]).what == (
        "Field 'requestScopes' for issuer 'https://idp.example/kit' must be non-empty"
    )
    assert "wrong type" in error_of([entry(requestScopes=["a", 1])]).what


def test_log_claims_must_be_non_empty_strings() -> None:
    assert "logClaims" in error_of([entry(logClaims=[""])]).what


@pytest.mark.parametrize("secs", [1, 9, -5])
def test_jwks_poll_secs_below_ten_is_refused(secs: int) -> None:
    err = error_of([entry(JWKSPollSecs=secs)])
    assert err.what == f"Invalid refresh period {secs}s, must be greater than 10s, or exactly 0"


@pytest.mark.parametrize("secs", [0, 10, 86400])
def test_jwks_poll_secs_zero_or_at_least_ten_is_accepted(secs: int) -> None:
    [cfg] = parse_oidc_identity_providers([entry(JWKSPollSecs=secs)], enable_test_commands=False)
    assert cfg.jwks_poll_secs == secs


def test_one_issuer_may_serve_several_audiences() -> None:
    configs = parse_oidc_identity_providers(
        [WORKLOAD, entry(audience="api://reporting", authNamePrefix="rep")], enable_test_commands=False
    )
    assert [c.audience for c in configs] == ["api://mongodb-kit", "api://reporting"]


def test_duplicate_issuer_audience_pair_is_refused() -> None:
    err = error_of([WORKLOAD, entry(authNamePrefix="again")])
    assert err.what == (
        "Duplicate configuration for issuer-audience pair ('https://idp.example/kit', 'api://mongodb-kit')"
    )


def test_entries_sharing_an_issuer_need_the_same_jwks_poll_secs() -> None:
    err = error_of([entry(JWKSPollSecs=60), entry(audience="api://other", JWKSPollSecs=61)])
    assert err.what == (
        "IDP configurations with issuer 'https://idp.example/kit' must have the same JWKSPollSecs value"
    )
