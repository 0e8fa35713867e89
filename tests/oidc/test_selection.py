"""Which oidcIdentityProviders entry a login uses (mongodb-oidc reference §8), and naming."""

from __future__ import annotations

import pytest

from wif_notebook.oidc import (
    ProviderConfig,
    RuleFailure,
    check_principal_matches_hint,
    check_token_for_hinted_provider,
    role_names,
    select_provider_for_hint,
    select_provider_for_token,
    user_name,
)

from .helpers import make_token, provider_for, rsa_key

KEY = rsa_key()


def human_provider(name: str, client_id: str, match_pattern: str) -> ProviderConfig:
    """A human-flow entry for https://<name>.example, with prefix <name> and this matchPattern."""
    return provider_for(
        f"https://{name}.example",
        audience="mongodb",
        auth_name_prefix=name,
        client_id=client_id,
        match_pattern=match_pattern,
        supports_human_flows=True,
    )


CORP = human_provider("corp", "cid", "@corp\\.example$")
PARTNER = human_provider("partner", "cid2", "@partner")
MACHINE = provider_for("https://machines.example")


def test_without_hint_the_single_human_provider_is_chosen() -> None:
    assert select_provider_for_hint([CORP, MACHINE], None) is CORP


def test_without_hint_several_human_providers_are_ambiguous() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_hint([CORP, PARTNER, MACHINE], None)
    assert info.value.rule == "provider"
    assert info.value.message == (
        "BadValue: Unable to determine identity provider, because multiple providers are known"
    )


def test_without_hint_and_no_human_provider_the_server_cannot_answer() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_hint([MACHINE], None)
    assert info.value.message == (
        "BadValue: Unable to determine identity provider, no provider supported human flows"
    )


def test_hint_picks_the_first_entry_whose_pattern_matches_anywhere() -> None:
    providers = [CORP, PARTNER, MACHINE]
    assert select_provider_for_hint(providers, "alice@corp.example") is CORP
    # unanchored search: "@partner" matches in the middle
    assert select_provider_for_hint(providers, "bob@partner.example.org") is PARTNER


def test_hint_falls_through_to_an_entry_without_pattern_even_a_machine_one() -> None:
    # This is why prose human test 1.8 receives IdpInfo without clientId.
    assert select_provider_for_hint([CORP, PARTNER, MACHINE], "svc@elsewhere") is MACHINE


def test_hint_matching_nothing_is_refused() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_hint([CORP, PARTNER], "eve@elsewhere")
    assert (
        info.value.message == "BadValue: No identity provider found using the hint 'eve@elsewhere' provided"
    )


def test_no_providers_at_all() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_hint([], "x")
    assert info.value.message == "BadValue: No identity providers registered"


def _token(iss: str, aud: object) -> str:
    return make_token(
        {"iss": iss, "sub": "s", "aud": aud, "exp": 2_000_000_000}, KEY, header={"alg": "RS256"}
    )


def test_one_step_login_selects_by_issuer_and_audience() -> None:
    other_aud = ProviderConfig(**{**CORP.__dict__, "audience": "reporting", "auth_name_prefix": "rep"})
    providers = [CORP, other_aud, MACHINE]
    assert select_provider_for_token(providers, _token("https://corp.example", "reporting")) is other_aud
    assert select_provider_for_token(providers, _token("https://corp.example", ["mongodb"])) is CORP


def test_one_step_login_with_unknown_issuer() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_token([CORP], _token("https://evil.example", "mongodb"))
    assert info.value.rule == "provider"
    assert info.value.message == "NoSuchKey: Unknown Identity Provider 'https://evil.example'"


def test_one_step_login_for_an_issuer_configured_with_a_trailing_slash_says_so() -> None:
    slashed = provider_for("https://accounts.google.com/", audience="mongodb")
    with pytest.raises(RuleFailure) as info:
        select_provider_for_token([CORP, slashed], _token("https://accounts.google.com", "mongodb"))
    assert info.value.rule == "provider"
    assert info.value.hint is not None
    assert "differ only by the trailing slash: the configured issuer ends with '/'" in info.value.hint
    assert "Entra" not in info.value.hint  # the rule is every issuer's, not one cloud's


def test_one_step_login_with_unknown_audience() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_token([CORP], _token("https://corp.example", "other"))
    assert info.value.message == (
        "NoSuchKey: Unknown audience name 'other' for Identity Provider 'https://corp.example'"
    )


def test_one_step_login_with_two_audiences_fails_before_selection() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_token([CORP], _token("https://corp.example", ["mongodb", "other"]))
    assert (info.value.rule, info.value.message) == (
        "audience",
        "BadValue: OIDC token must contain exactly one audience",
    )


def test_one_step_login_with_a_malformed_token_fails_on_format() -> None:
    with pytest.raises(RuleFailure) as info:
        select_provider_for_token([CORP], "not-a-jwt")
    assert info.value.rule == "format"


def test_user_and_role_names_carry_the_prefix() -> None:
    assert user_name(CORP, "alice@corp.example") == "corp/alice@corp.example"
    assert role_names(CORP, {"groups": ["writers", "readers", "readers"]}) == ["corp/readers", "corp/writers"]
    assert role_names(CORP, {"groups": []}) == []


def test_roles_are_empty_without_use_authorization_claim() -> None:
    internal = provider_for("https://x.example", use_authorization_claim=False, authorization_claim=None)
    assert role_names(internal, {"groups": ["ignored"]}) == []


def test_two_step_token_from_another_issuer_than_the_hinted_one_is_refused() -> None:
    with pytest.raises(RuleFailure) as info:
        check_token_for_hinted_provider(CORP, _token(PARTNER.issuer, "mongodb"), "alice@corp.example")
    assert info.value.rule == "issuer"
    assert info.value.message == (
        "BadValue: Token issuer 'https://partner.example' does not match that inferred from principal "
        "name hint 'https://corp.example'"
    )


def test_two_step_token_for_another_audience_than_the_hinted_entry_is_refused() -> None:
    with pytest.raises(RuleFailure) as info:
        check_token_for_hinted_provider(CORP, _token(CORP.issuer, "other"), "alice@corp.example")
    assert info.value.rule == "audience"
    assert "Token audience 'other' does not match" in info.value.message


def test_two_step_token_of_the_hinted_entry_passes() -> None:
    check_token_for_hinted_provider(CORP, _token(CORP.issuer, "mongodb"), "alice@corp.example")


def test_two_step_principal_must_be_the_name_sent_in_step_one() -> None:
    check_principal_matches_hint("alice@corp.example", "alice@corp.example")
    check_principal_matches_hint("alice@corp.example", None)  # no name in step 1: nothing to compare
    with pytest.raises(RuleFailure) as info:
        check_principal_matches_hint("bob@corp.example", "alice@corp.example")
    assert info.value.rule == "principal"
    assert info.value.message == (
        "BadValue: Principal name changed between step1 'alice@corp.example' and step2 'bob@corp.example'"
    )


def test_every_two_step_failure_message_maps_back_to_its_rule() -> None:
    from wif_notebook.oidc import rule_for_message

    for check, args in [
        (check_token_for_hinted_provider, (CORP, _token(PARTNER.issuer, "mongodb"), "a@corp.example")),
        (check_token_for_hinted_provider, (CORP, _token(CORP.issuer, "other"), "a@corp.example")),
        (check_principal_matches_hint, ("b@corp.example", "a@corp.example")),
    ]:
        with pytest.raises(RuleFailure) as info:
            check(*args)  # type: ignore[operator]
        assert rule_for_message(info.value.message) == info.value.rule
