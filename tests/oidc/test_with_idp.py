"""The rule book against the kit's real mock IdP process: discovery, JWKS and every fault preset."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook.idp.faults import FAULTS
from wif_notebook.idp.service import start_idp, stop_idp
from wif_notebook.oidc import (
    ProviderConfig,
    RuleFailure,
    explain_token,
    first_failure,
    keyset_for,
    parse_oidc_identity_providers,
    select_provider_for_token,
    validate_token,
)
from wif_notebook.state import ServiceRecord, StateDir


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StateDir, ServiceRecord]]:
    state = StateDir(Path(tmp_path_factory.mktemp("idp")) / "state")
    record = start_idp(state)
    try:
        yield state, record
    finally:
        stop_idp(state)


def mint(record: ServiceRecord, principal: str, **fields: Any) -> dict[str, Any]:
    body = json.dumps({"principal": principal, **fields}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{record.port}/_wif/mint",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def kit_provider(record: ServiceRecord) -> ProviderConfig:
    kit = record.extra["issuers"]["kit"]
    [provider] = parse_oidc_identity_providers(
        [
            {
                "issuer": kit["issuer"],
                "audience": kit["audience"],
                "authNamePrefix": "kit",
                "authorizationClaim": "groups",
                "supportsHumanFlows": False,
            }
        ],
        enable_test_commands=True,
    )
    return provider


def test_every_issuer_publishes_keys_the_server_can_load(idp: tuple[StateDir, ServiceRecord]) -> None:
    state, record = idp
    for issuer_id, info in record.extra["issuers"].items():
        # https issuers: what a production mongod (no enableTestCommands) accepts.
        cache = keyset_for(info["issuer"], state=state, allow_insecure_localhost=False)
        cache.refresh()
        assert cache.loaded_keys, f"{issuer_id} publishes no loadable key"
        assert cache.jwks_uri and cache.jwks_uri.startswith("https://localhost:")


def test_a_good_kit_token_passes_every_rule(idp: tuple[StateDir, ServiceRecord]) -> None:
    state, record = idp
    provider = kit_provider(record)
    keys = keyset_for(provider.issuer, state=state, allow_insecure_localhost=True)
    token = mint(record, "billing-api")["token"]
    result = validate_token(token, provider, keys)
    assert result.user == "kit/billing-api"
    assert result.roles == ["kit/billing-writers", "kit/reports-readers"]
    assert all(r.passed for r in explain_token(token, provider, keys))


def test_the_http_form_of_the_kit_issuer_is_refused_without_test_commands(
    idp: tuple[StateDir, ServiceRecord],
) -> None:
    state, record = idp
    keys = keyset_for(
        record.extra["issuers"]["kit"]["http_issuer"], state=state, allow_insecure_localhost=False
    )
    with pytest.raises(RuleFailure) as info:
        keys.refresh()
    assert "insecure endpoint" in info.value.message


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_every_fault_preset_breaks_the_rule_it_declares(
    name: str, idp: tuple[StateDir, ServiceRecord]
) -> None:
    state, record = idp
    provider = kit_provider(record)
    keys = keyset_for(provider.issuer, state=state, allow_insecure_localhost=True)
    answer = mint(record, "billing-api", fault=name)
    assert answer["fault"]["name"] == name and answer["fault"]["rule"] == FAULTS[name].rule
    token = answer["token"]
    with pytest.raises(RuleFailure) as info:
        if FAULTS[name].rule == "provider":
            # Only a one-step login looks a provider up by the token's iss and aud.
            select_provider_for_token([provider], token)
        else:
            validate_token(token, provider, keys)
    assert info.value.rule == FAULTS[name].rule, info.value.message
    explained = first_failure(explain_token(token, None, keys, providers=[provider]))
    assert explained is not None
