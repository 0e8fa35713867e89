"""Fault presets: each token has exactly the intended defect, and the rule book names that rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.warnings import InsecureKeyLengthWarning

from wif_notebook import display, token_cli
from wif_notebook.errors import TokenError
from wif_notebook.idp.faults import FAULTS, OTHER_AUDIENCE
from wif_notebook.mongod import default_config
from wif_notebook.oidc import (
    RuleFailure,
    keyset_for,
    parse_oidc_identity_providers,
    select_provider_for_token,
    validate_token,
)

from .conftest import Idp

CONTRACT_RULE_IDS = {
    "format",
    "header.alg",
    "header.kid",
    "header.typ",
    "body.iss",
    "body.sub",
    "body.aud",
    "body.exp",
    "time.nbf",
    "time.exp",
    "key.kid",
    "key.strength",
    "signature",
    "provider",
    "issuer",
    "audience",
    "principal",
    "authorization_claim",
}
REQUIRED_PRESETS = {
    "expired",
    "not-yet-valid",
    "wrong-issuer",
    "wrong-audience",
    "two-audiences",
    "no-sub",
    "no-exp",
    "unknown-kid",
    "bad-signature",
    "alg-none",
    "hs256-with-public-key",
    "rsa-1024",
    "typ-at+jwt",
    "groups-not-array",
    "empty-principal",
}


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    return header, claims


def _mint(idp: Idp, fault: str) -> dict[str, Any]:
    return idp.mint(principal="billing-api", fault=fault)


def test_every_required_preset_exists_and_names_a_contract_rule() -> None:
    assert REQUIRED_PRESETS <= set(FAULTS)
    for fault in FAULTS.values():
        assert fault.rule in CONTRACT_RULE_IDS, fault.name
        assert fault.description


def test_mint_reports_the_fault_it_applied(idp: Idp) -> None:
    doc = _mint(idp, "expired")
    assert doc["fault"] == {
        "name": "expired",
        "rule": "time.exp",
        "description": FAULTS["expired"].description,
    }
    assert doc["expires_at"] < time.time()
    assert idp.mint(principal="billing-api")["fault"] is None


def test_unknown_fault_is_refused_with_the_list(idp: Idp) -> None:
    reply = idp.post_json("/_wif/mint", {"principal": "billing-api", "fault": "cosmic-ray"})
    assert reply.status == 400
    assert "expired" in reply.json()["error_description"]


def test_time_faults(idp: Idp) -> None:
    now = time.time()
    _, claims = _parts(_mint(idp, "expired")["token"])
    assert claims["exp"] < now
    _, claims = _parts(_mint(idp, "not-yet-valid")["token"])
    assert claims["nbf"] > now + 60 and claims["exp"] > claims["nbf"]


def test_claim_faults(idp: Idp) -> None:
    assert _parts(_mint(idp, "wrong-issuer")["token"])[1]["iss"] not in {
        idp.issuer(i) for i in ("kit", "azure", "gcp", "k8s")
    }
    assert _parts(_mint(idp, "wrong-audience")["token"])[1]["aud"] == OTHER_AUDIENCE
    assert _parts(_mint(idp, "two-audiences")["token"])[1]["aud"] == [idp.audience("kit"), OTHER_AUDIENCE]
    assert "sub" not in _parts(_mint(idp, "no-sub")["token"])[1]
    assert "exp" not in _parts(_mint(idp, "no-exp")["token"])[1]
    assert _parts(_mint(idp, "groups-not-array")["token"])[1]["groups"] == "billing-writers,reports-readers"
    assert _parts(_mint(idp, "empty-principal")["token"])[1]["sub"] == ""
    assert _parts(_mint(idp, "typ-at+jwt")["token"])[0]["typ"] == "at+jwt"
    assert "kid" not in _parts(_mint(idp, "no-kid")["token"])[0]


def test_faulty_tokens_still_verify_when_only_the_claims_are_wrong(idp: Idp) -> None:
    jwks = jwt.PyJWKSet.from_dict(idp.jwks("kit"))
    token = _mint(idp, "empty-principal")["token"]
    key = jwks[jwt.get_unverified_header(token)["kid"]]
    assert jwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})["sub"] == ""


def test_key_faults(idp: Idp) -> None:
    published = {k["kid"]: k for k in idp.jwks("kit")["keys"]}
    header, _ = _parts(_mint(idp, "unknown-kid")["token"])
    assert header["kid"] not in published

    token = _mint(idp, "bad-signature")["token"]
    header, _ = _parts(token)
    assert header["kid"] in published
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token,
            jwt.PyJWK(published[header["kid"]]).key,
            algorithms=["RS256"],
            options={"verify_aud": False},
        )

    token = _mint(idp, "rsa-1024")["token"]
    header, _ = _parts(token)
    weak = next(k for k in idp.jwks("kit")["keys"] if k["kid"] == header["kid"])
    n = base64.urlsafe_b64decode(weak["n"] + "=" * (-len(weak["n"]) % 4))
    assert len(n) * 8 == 1024
    with pytest.warns(InsecureKeyLengthWarning):  # PyJWT agrees the key is too short
        jwt.decode(token, jwt.PyJWK(weak).key, algorithms=["RS256"], options={"verify_aud": False})


def test_alg_none_has_an_empty_signature(idp: Idp) -> None:
    token = _mint(idp, "alg-none")["token"]
    assert token.endswith(".") and token.count(".") == 2
    assert jwt.get_unverified_header(token)["alg"] == "none"


def test_hs256_preset_is_keyed_with_the_public_pem(idp: Idp) -> None:
    token = _mint(idp, "hs256-with-public-key")["token"]
    header, _ = _parts(token)
    assert header["alg"] == "HS256"
    jwk = next(k for k in idp.jwks("kit")["keys"] if k["kid"] == header["kid"])
    pem = jwt.PyJWK(jwk).key.public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input, _, sig = token.rpartition(".")
    expected = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)) == expected


def test_truncated_token_has_two_parts(idp: Idp) -> None:
    assert _mint(idp, "truncated")["token"].count(".") == 1


@pytest.mark.parametrize("name", list(FAULTS))
def test_rule_book_rejects_each_preset_at_the_rule_it_names(idp: Idp, name: str) -> None:
    providers = parse_oidc_identity_providers(
        json.dumps(
            [
                {
                    "issuer": idp.issuer("kit"),
                    "audience": idp.audience("kit"),
                    "authNamePrefix": "kit",
                    "authorizationClaim": "groups",
                    "supportsHumanFlows": False,
                }
            ]
        ),
        enable_test_commands=True,
    )
    token = _mint(idp, name)["token"]
    with pytest.raises(RuleFailure) as info:
        if FAULTS[name].rule == "provider":
            select_provider_for_token(providers, token)  # one-step login: the server picks by iss
        # Otherwise the provider is known (as after a two-step login's hint): check every rule.
        provider = providers[0]
        validate_token(
            token, provider, keyset_for(provider.issuer, state=idp.state, allow_insecure_localhost=True)
        )
    assert info.value.rule == FAULTS[name].rule, info.value


@pytest.mark.parametrize("name", list(FAULTS))
def test_the_kit_shows_the_message_the_rule_book_logs_for_each_preset(idp: Idp, name: str) -> None:
    """`wif claims` and the token display name the rule and the exact text the server logs."""
    token = _mint(idp, name)["token"]
    # What the server does in a one-step login (a workload sends its token in saslStart): pick the
    # provider by iss and aud, then apply every rule; its log text is the RuleFailure's message.
    providers = default_config(idp.state, idp.record).oidc_providers
    with pytest.raises(RuleFailure) as info:
        provider = select_provider_for_token(providers, token)
        validate_token(
            token, provider, keyset_for(provider.issuer, state=idp.state, allow_insecure_localhost=True)
        )
    logged = (info.value.rule, info.value.message)

    # idp.state has no mongod.conf: both use the configuration `wif up` would write.
    if logged[0] == "format":  # `wif claims` refuses what is not a JWT, quoting the server's log text
        with pytest.raises(TokenError) as refused:
            token_cli.analyse(token, idp.state)
        assert f'logs "{info.value.message}"' in refused.value.what
    else:
        report = token_cli.analyse(token, idp.state)
        shown = next(r for r in report["rules"] if r["passed"] is False)
        assert (shown["rule"], shown["detail"]) == logged
        assert info.value.message in report["verdict"] and not report["ok"]

    verdict = display.verdict(token, idp.state)
    assert verdict is not None and not verdict["ok"]
    shown = next(r for r in verdict["rules"] if r["passed"] is False)
    assert (shown["rule"], shown["detail"]) == logged
