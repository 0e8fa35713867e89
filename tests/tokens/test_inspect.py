"""Redaction, decoding errors, verification, claim explanations and checks against a provider."""

from __future__ import annotations

import base64
import json

import pytest

from wif_notebook import tokens
from wif_notebook.errors import TokenError
from wif_notebook.oidc import ProviderConfig, RuleFailure, first_failure, keyset_for, server_failure
from wif_notebook.state import ServiceRecord, StateDir


def b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_the_raw_token_never_appears_in_repr_str_json_or_display(idp_state: StateDir) -> None:
    issued = tokens.mint("billing-api", state=idp_state)
    secret_part = issued.token.split(".")[2]
    shown = [
        repr(issued),
        str(issued),
        json.dumps(issued.to_json(), ensure_ascii=False),
        json.dumps(issued._repr_mimebundle_(), ensure_ascii=False),
    ]
    for text in shown:
        assert secret_part not in text and issued.token not in text
        assert "eyJhbGciOi…[redacted]" in text
    assert issued.to_json(include_token=True)["token"] == issued.token


def test_redact_keeps_only_the_recognisable_start() -> None:
    assert tokens.redact("eyJhbGciOiJSUzI1NiJ9.payload.sig") == "eyJhbGciOi…[redacted]"


@pytest.mark.parametrize(
    "token,says",
    [
        ("", "no token given"),
        ("opaque-access-token", "an opaque token (no dots)"),
        ("a.b", "2 parts separated by 1 dot; a MongoDB server refuses it and logs"),
        (
            "a.b.c.d",
            '4 parts separated by 3 dots; a MongoDB server refuses it and logs "Location7095400: '
            'Unknown format of token"',
        ),
        ("e30.e30!.sig", "payload cannot be decoded"),
        (f"{base64.urlsafe_b64encode(b'nope').decode().rstrip('=')}.e30.", "header cannot be decoded"),
    ],
)
def test_decode_errors_say_what_is_malformed(token: str, says: str) -> None:
    with pytest.raises(TokenError) as info:
        tokens.decode(token)
    assert says in info.value.what
    assert info.value.hint


def test_decode_returns_header_claims_and_parts() -> None:
    token = f"{b64({'alg': 'RS256', 'kid': 'k'})}.{b64({'sub': 'x'})}.c2ln"
    decoded = tokens.decode(token)
    assert decoded.header == {"alg": "RS256", "kid": "k"}
    assert decoded.claims == {"sub": "x"}
    assert decoded.signature == b"sig" and len(decoded.parts) == 3


@pytest.mark.parametrize(
    "fault", ["bad-signature", "alg-none", "hs256-with-public-key", "unknown-kid", "no-kid"]
)
def test_verify_refuses_with_the_rule_and_words_the_server_logs(idp_state: StateDir, fault: str) -> None:
    token = tokens.mint("billing-api", fault=fault, state=idp_state).token
    with pytest.raises(RuleFailure) as info:
        tokens.verify(token, state=idp_state)
    issuer = tokens.decode(token).claims["iss"]
    logged = server_failure(token, keys=keyset_for(issuer, state=idp_state, allow_insecure_localhost=True))
    assert logged is not None
    assert (info.value.rule, info.value.message) == (logged.rule, logged.message)


def test_verify_accepts_a_good_token_and_names_its_key(idp_state: StateDir) -> None:
    issued = tokens.mint("billing-api", state=idp_state)
    verified = tokens.verify(issued.token, state=idp_state)
    assert verified.kid == issued.header["kid"] and verified.alg == "RS256"


def test_explain_claims_speaks_plain_words(idp_state: StateDir) -> None:
    claims = tokens.mint("billing-api", state=idp_state).claims
    claims.update({"kubernetes.io": {"namespace": "shop"}, "custom": 1, "aud": ["a", "b"]})
    meaning = {c.name: c.meaning for c in tokens.explain_claims(claims)}
    assert meaning["iss"].startswith("issuer")
    assert "error 391" in meaning["exp"]
    assert "<authNamePrefix>/<group>" in meaning["groups"]
    assert "several: refused" in meaning["aud"]
    assert "Kubernetes" in meaning["kubernetes.io"]
    assert "does not interpret" in meaning["custom"]


def test_check_against_lists_every_rule_for_the_selected_provider(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    kit = idp_record.extra["issuers"]["kit"]
    provider = ProviderConfig(
        issuer=kit["issuer"],
        audience=kit["audience"],
        auth_name_prefix="kit",
        authorization_claim="groups",
        supports_human_flows=False,
    )
    good = tokens.check_against(
        tokens.mint("billing-api", state=idp_state).token, [provider], state=idp_state
    )
    assert all(r.passed for r in good), [r for r in good if not r.passed]
    bad = tokens.check_against(
        tokens.mint("billing-api", fault="groups-not-array", state=idp_state).token,
        [provider],
        state=idp_state,
    )
    failed = first_failure(bad)
    assert failed is not None and failed.rule == "authorization_claim"
