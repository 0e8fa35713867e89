"""validate_token / explain_token: every rule fails with mongod's message, in the server's order."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from wif_notebook.oidc import (
    RULE_IDS,
    RULES,
    KeySetCache,
    ProviderConfig,
    RuleFailure,
    explain_token,
    first_failure,
    rule_by_id,
    server_failure,
    validate_token,
)

from .helpers import (
    Issuer,
    b64,
    ec_key,
    good_claims,
    make_token,
    provider_for,
    public_jwk,
    rsa_key,
    tiny_issuer,
)

KEY = rsa_key()
OTHER = rsa_key()
WEAK = rsa_key(1024)
EC = ec_key()
KID = "kit-key-1"


@pytest.fixture(scope="module")
def idp() -> Iterator[Issuer]:
    with tiny_issuer() as issuer:
        issuer.jwks = {"keys": [public_jwk(KEY, KID), public_jwk(WEAK, "weak"), public_jwk(EC, "ec")]}
        yield issuer


@pytest.fixture
def keys(idp: Issuer) -> KeySetCache:
    return KeySetCache(idp.issuer, allow_insecure_localhost=True)


@pytest.fixture
def provider(idp: Issuer) -> ProviderConfig:
    return provider_for(idp.issuer)


def sign(claims: dict[str, Any], *, key: Any = KEY, **header: Any) -> str:
    hdr: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": KID}
    for name, value in header.items():
        if value is None:
            hdr.pop(name, None)
        else:
            hdr[name] = value
    return make_token(claims, key, header=hdr)


def failure(token: str, provider: ProviderConfig, keys: KeySetCache) -> tuple[str, str]:
    with pytest.raises(RuleFailure) as info:
        validate_token(token, provider, keys)
    explained = first_failure(explain_token(token, provider, keys))
    assert explained is not None, "explain_token must report the failure validate_token found"
    assert (explained.rule, explained.detail) == (info.value.rule, info.value.message)
    return info.value.rule, info.value.message


def test_a_good_token_yields_user_roles_and_expiry(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    claims = good_claims(idp.issuer)
    result = validate_token(sign(claims), provider, keys)
    assert result.principal == "billing-api"
    assert result.user == "kit/billing-api"
    assert result.roles == ["kit/readers", "kit/writers"]
    assert result.expires_at.timestamp() == claims["exp"]
    assert result.kid == KID and result.key_fingerprint == keys.fingerprint(KID)
    assert result.provider is provider
    assert all(r.passed for r in explain_token(sign(claims), provider, keys))


def test_typ_absent_and_audience_array_of_one_are_accepted(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    token = sign(good_claims(idp.issuer, aud=["api://mongodb-kit"]), typ=None)
    assert validate_token(token, provider, keys).user == "kit/billing-api"


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
def test_the_other_rsa_algorithms_are_accepted(
    alg: str, idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    assert validate_token(sign(good_claims(idp.issuer), alg=alg), provider, keys).principal == "billing-api"


@pytest.mark.parametrize(
    "token,message",
    [
        ("abc.def", "Location7095400: Unknown format of token"),
        ("a.b.c.d", "Location7095400: Unknown format of token"),
        ("e30.e30!.", "FailedToParse: the JWT payload is not valid base64url"),
        (f"{b64(b'not json')}.e30.", "FailedToParse: the JWT header is not valid JSON"),
        (f"{b64(b'[1]')}.e30.", "FailedToParse: Expecting '{'"),
    ],
)
def test_malformed_tokens_fail_the_format_rule(
    token: str, message: str, provider: ProviderConfig, keys: KeySetCache
) -> None:
    rule, text = failure(token, provider, keys)
    assert rule == "format" and text.startswith(message)


def test_missing_alg(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    token = make_token(good_claims(idp.issuer), header={"kid": KID}, signature=b"sig")
    assert failure(token, provider, keys) == (
        "header.alg",
        "IDLFailedToParse: BSON field 'JWSHeader.alg' is missing but a required field",
    )


def test_missing_kid(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer), kid=None), provider, keys) == (
        "header.kid",
        "IDLFailedToParse: BSON field 'JWSHeader.kid' is missing but a required field",
    )


def test_rfc9068_at_jwt_type_is_refused(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer), typ="at+jwt"), provider, keys) == (
        "header.typ",
        "Location7095401: Unknown type of token",
    )


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp"])
def test_required_body_claims(claim: str, idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    claims = good_claims(idp.issuer)
    del claims[claim]
    assert failure(sign(claims), provider, keys) == (
        f"body.{claim}",
        f"IDLFailedToParse: BSON field 'JWT.{claim}' is missing but a required field",
    )


def test_sub_is_required_even_when_principal_name_is_another_claim(idp: Issuer, keys: KeySetCache) -> None:
    by_email = provider_for(idp.issuer, principal_name="email")
    claims = good_claims(idp.issuer, email="svc@example.com")
    del claims["sub"]
    rule, _ = failure(sign(claims), by_email, keys)
    assert rule == "body.sub"


def test_audience_of_the_wrong_type(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    rule, message = failure(sign(good_claims(idp.issuer, aud=7)), provider, keys)
    assert rule == "body.aud" and message.startswith(
        "TypeMismatch: BSON field 'JWT.aud' is the wrong type 'int'"
    )


def test_nbf_more_than_sixty_seconds_ahead(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    soon = sign(good_claims(idp.issuer, nbf=int(time.time()) + 50))
    assert validate_token(soon, provider, keys).principal == "billing-api"
    late = sign(good_claims(idp.issuer, nbf=int(time.time()) + 120))
    assert failure(late, provider, keys) == ("time.nbf", "BadValue: Token not yet valid")


def test_expired_token_has_no_skew(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    now = time.time()
    token = sign(good_claims(idp.issuer, exp=int(now) - 1))
    assert failure(token, provider, keys) == ("time.exp", "BadValue: Token is expired")
    assert validate_token(token, provider, keys, now=now - 30).principal == "billing-api"


def test_unknown_kid(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer), kid="rotated-away"), provider, keys) == (
        "key.kid",
        "BadValue: Unknown JWT keyId << 'rotated-away'",
    )


def test_token_signed_by_a_published_1024_bit_key(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    rule, message = failure(sign(good_claims(idp.issuer), key=WEAK, kid="weak"), provider, keys)
    assert rule == "key.strength"
    assert "Key scale is smaller (1024 bits) than minimum required: 2048" in message


@pytest.mark.parametrize("alg", ["HS256", "ES256", "PS256"])
def test_algorithms_outside_rs256_384_512_are_unknown_to_7_0(
    alg: str, idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    token = make_token(good_claims(idp.issuer), header={"alg": alg, "typ": "JWT", "kid": KID}, signature=b"x")
    assert failure(token, provider, keys) == (
        "header.alg",
        f"Location7095403: Unknown hashing algorithm: '{alg}'",
    )


def test_alg_none_is_refused(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    token = make_token(good_claims(idp.issuer), header={"alg": "none", "kid": KID})
    assert token.endswith(".")
    assert failure(token, provider, keys) == (
        "header.alg",
        "Location7095403: Unknown hashing algorithm: 'none'",
    )


def test_signature_by_an_unpublished_key(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer), key=OTHER), provider, keys) == (
        "signature",
        "InvalidSignature: OpenSSL: Signature is invalid",
    )


def test_altered_payload_breaks_the_signature(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    head, _, sig = sign(good_claims(idp.issuer)).split(".")
    forged = make_token(good_claims(idp.issuer, groups=["root"]), header={"alg": "RS256"}, signature=b"")
    token = f"{head}.{forged.split('.')[1]}.{sig}"
    assert failure(token, provider, keys)[0] == "signature"


def test_issuer_mismatch(idp: Issuer, keys: KeySetCache) -> None:
    other = provider_for(idp.issuer + "/")  # a trailing slash is a different issuer
    assert failure(sign(good_claims(idp.issuer)), other, keys) == (
        "issuer",
        "Location7070201: Token issuer does not match identity provider issuer",
    )


def test_an_issuer_differing_only_by_its_trailing_slash_is_named_in_the_hint(
    idp: Issuer, keys: KeySetCache
) -> None:
    other = provider_for(idp.issuer + "/")
    with pytest.raises(RuleFailure) as info:
        validate_token(sign(good_claims(idp.issuer)), other, keys)
    assert info.value.hint == (
        f"The token's issuer {idp.issuer!r} and the configured issuer {idp.issuer + '/'!r} differ only by "
        "the trailing slash: the configured issuer ends with '/' and the token's does not, and mongod "
        f"compares issuers exactly: set issuer to {idp.issuer!r}."
    )
    # Any other issuer keeps the rule's own fix.
    with pytest.raises(RuleFailure) as info:
        validate_token(sign(good_claims(idp.issuer)), provider_for("https://elsewhere.example"), keys)
    assert info.value.hint == rule_by_id("issuer").fix


def test_two_audiences(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    token = sign(good_claims(idp.issuer, aud=["api://mongodb-kit", "api://other"]))
    assert failure(token, provider, keys) == (
        "audience",
        "BadValue: OIDC token must contain exactly one audience",
    )


def test_wrong_audience(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer, aud="api://other")), provider, keys) == (
        "audience",
        "BadValue: OIDC token issued for invalid audience. Got: 'api://other', expected: 'api://mongodb-kit'",
    )


def test_empty_principal(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    assert failure(sign(good_claims(idp.issuer, sub="")), provider, keys) == (
        "principal",
        "InvalidJWT: Invalid empty principal claim in token field 'sub'",
    )


def test_custom_principal_claim_missing_or_not_a_string(idp: Issuer, keys: KeySetCache) -> None:
    by_email = provider_for(idp.issuer, principal_name="email")
    assert failure(sign(good_claims(idp.issuer)), by_email, keys) == (
        "principal",
        "InvalidJWT: Unable to find principal claim 'email' in token body",
    )
    assert failure(sign(good_claims(idp.issuer, email=["a"])), by_email, keys) == (
        "principal",
        "InvalidJWT: Principal claim 'email' in token body is invalid type",
    )
    ok = validate_token(sign(good_claims(idp.issuer, email="svc@example.com")), by_email, keys)
    assert ok.user == "kit/svc@example.com"


def test_authorization_claim_missing(idp: Issuer, provider: ProviderConfig, keys: KeySetCache) -> None:
    claims = good_claims(idp.issuer)
    del claims["groups"]
    assert failure(sign(claims), provider, keys) == (
        "authorization_claim",
        "InvalidJWT: Claim 'groups' not found on OIDC token",
    )


@pytest.mark.parametrize("groups", ["readers", ["readers", 3], {"a": 1}])
def test_authorization_claim_must_be_an_array_of_strings(
    groups: Any, idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    assert failure(sign(good_claims(idp.issuer, groups=groups)), provider, keys) == (
        "authorization_claim",
        "InvalidJWT: Authorization claim 'groups' must be an array of strings",
    )


def test_empty_groups_authenticate_with_no_roles(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    assert validate_token(sign(good_claims(idp.issuer, groups=[])), provider, keys).roles == []


def test_internal_authorization_ignores_the_claim(idp: Issuer, keys: KeySetCache) -> None:
    internal = provider_for(idp.issuer, use_authorization_claim=False, authorization_claim=None)
    claims = good_claims(idp.issuer)
    del claims["groups"]
    assert validate_token(sign(claims), internal, keys).roles == []


def test_the_server_order_reports_expiry_before_an_unknown_key(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    token = sign(good_claims(idp.issuer, exp=1, aud="api://other"), kid="nope")
    assert failure(token, provider, keys)[0] == "time.exp"


def test_explain_fails_the_one_rule_the_server_reports_and_names_every_other_failure(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    token = sign(good_claims(idp.issuer, exp=1, aud="api://other", groups="x"), typ="at+jwt")
    results = explain_token(token, provider, keys)
    assert [r.rule for r in results] == list(RULE_IDS)
    failed = [r for r in results if r.passed is False]
    assert [(r.rule, r.detail) for r in failed] == [("header.typ", failure(token, provider, keys)[1])]
    assert first_failure(results) == failed[0]
    for rule in ("time.exp", "audience", "authorization_claim"):
        line = next(r for r in results if r.rule == rule)
        assert line.passed is None
        assert line.detail.startswith(
            "not reached: the server stops at rule header.typ first; this check fails too"
        )
    assert next(r for r in results if r.rule == "signature").passed is True


def test_a_one_step_login_reports_the_audience_before_expiry(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    """The server selects the provider by iss and aud before it looks at exp (the verdict order)."""
    token = sign(good_claims(idp.issuer, exp=1, aud="api://other"))
    found = server_failure(token, providers=[provider], keys=keys)
    assert found is not None and found.rule == "audience"
    assert found.message.startswith("NoSuchKey: Unknown audience name 'api://other'")
    results = {r.rule: r for r in explain_token(token, None, keys, providers=[provider])}
    assert [rule for rule, r in results.items() if r.passed is False] == ["audience"]
    assert results["audience"].detail == found.message
    assert results["provider"].passed is None
    assert results["provider"].detail.startswith("consequence of rule audience")
    assert results["time.exp"].detail.startswith("not reached: the server stops at rule audience first")


def test_explain_without_provider_or_keys_skips_what_it_cannot_check(idp: Issuer) -> None:
    results = {r.rule: r for r in explain_token(sign(good_claims(idp.issuer)), None, None)}
    assert results["format"].passed is True and results["time.exp"].passed is True
    for rule in ("key.kid", "key.strength", "signature", "provider", "issuer", "audience", "principal"):
        assert results[rule].passed is None and results[rule].detail.startswith(("not evaluated", "no key"))


def test_explain_chooses_the_provider_like_a_one_step_login(idp: Issuer, keys: KeySetCache) -> None:
    providers = [provider_for("https://else.example"), provider_for(idp.issuer)]
    good = {r.rule: r for r in explain_token(sign(good_claims(idp.issuer)), None, keys, providers=providers)}
    assert good["provider"].passed is True and good["authorization_claim"].passed is True
    bad = {
        r.rule: r for r in explain_token(sign(good_claims("https://nobody")), None, keys, providers=providers)
    }
    assert bad["provider"].passed is False
    assert bad["provider"].detail == "NoSuchKey: Unknown Identity Provider 'https://nobody'"


def test_explain_of_garbage_skips_everything_after_format() -> None:
    results = explain_token("hello", None, None)
    assert results[0].passed is False
    assert all(r.passed is None for r in results[1:])


def test_every_rule_has_a_title_an_explanation_and_a_fix() -> None:
    assert len(RULES) == len(set(RULE_IDS)) == 18
    for rule in RULES:
        assert rule.title and rule.checks and rule.fix


def test_failures_carry_the_rules_fix_as_hint(
    idp: Issuer, provider: ProviderConfig, keys: KeySetCache
) -> None:
    with pytest.raises(RuleFailure) as info:
        validate_token(sign(good_claims(idp.issuer, exp=1)), provider, keys)
    assert "fresh token" in (info.value.hint or "")
