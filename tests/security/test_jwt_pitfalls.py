"""The classic JWT attacks, against the rule book and against the running test mongod.

Each forged token keeps the real issuer, audience, subject and lifetime, so only the attack itself
can make it fail: ``alg: none``, HS256 keyed with the issuer's RSA public key, ``jku``/``x5u``/``jwk``
headers pointing at an attacker's keys (never fetched, never trusted: keys come only from the
configured issuer's discovery document), odd ``kid`` values, and a 1 MB token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oidc.helpers import Issuer, public_jwk, rsa_key, tiny_issuer
from pymongo.errors import OperationFailure

from wif_notebook.doctor import rule_for_reason
from wif_notebook.mongod import load_config_file
from wif_notebook.oidc import ProviderConfig, RuleFailure, keyset_for, validate_token

from .conftest import DB, RunningKit


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


@dataclass
class AttackerJwks:
    """An attacker's JWKS on a loopback server that records every request it gets."""

    key: rsa.RSAPrivateKey
    jwk: dict[str, Any]
    server: Issuer

    @property
    def url(self) -> str:
        return self.server.issuer + "/jwks"

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self.server.requests

    def sign(self, data: bytes) -> bytes:
        return jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(data, self.key)


@pytest.fixture(scope="module")
def attacker() -> Iterator[AttackerJwks]:
    key = rsa_key()
    jwk = {**public_jwk(key, kid="attacker-1"), "alg": "RS256", "use": "sig"}
    with tiny_issuer("/attacker") as server:
        server.jwks = {"keys": [jwk]}
        yield AttackerJwks(key, jwk, server)


@pytest.fixture(scope="module")
def provider(kit: RunningKit) -> ProviderConfig:
    providers = load_config_file(kit.state.mongod_conf).oidc_providers
    return next(p for p in providers if p.issuer == kit.issuer)


@pytest.fixture(scope="module")
def genuine(kit: RunningKit) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a real token: the forgeries reuse them."""
    token = kit.token(lifetime=3600)
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _issuer_public_pem(kit: RunningKit, kid: str) -> bytes:
    keys = keyset_for(kit.issuer, state=kit.state, allow_insecure_localhost=True)
    public_key = keys.key_for(kid).public_key
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def forgeries(
    kit: RunningKit, attacker: AttackerJwks, genuine: tuple[dict[str, Any], dict[str, Any]]
) -> dict[str, tuple[str, str]]:
    """name → (token, the rule that must refuse it)."""
    header, claims = genuine
    kid = header["kid"]
    pem = _issuer_public_pem(kit, kid)

    def by_attacker(**fields: Any) -> str:
        """The genuine claims under an RS256 header with ``fields``, signed with the attacker's key."""
        return compact({"alg": "RS256", "typ": "JWT", **fields}, claims, attacker.sign)

    out = {
        "alg none": (compact({"alg": "none", "typ": "JWT", "kid": kid}, claims, lambda _: b""), "header.alg"),
        "HS256 keyed with the issuer's RSA public key": (
            compact(
                {"alg": "HS256", "typ": "JWT", "kid": kid},
                claims,
                lambda data: hmac.new(pem, data, hashlib.sha256).digest(),
            ),
            "header.alg",
        ),
        "jku to the attacker's JWKS, attacker kid": (
            by_attacker(kid="attacker-1", jku=attacker.url),
            "key.kid",
        ),
        "jku to the attacker's JWKS, the issuer's kid": (by_attacker(kid=kid, jku=attacker.url), "signature"),
        "x5u to the attacker's keys": (by_attacker(kid="attacker-1", x5u=attacker.url), "key.kid"),
        "embedded jwk with the issuer's kid": (by_attacker(kid=kid, jwk=attacker.jwk), "signature"),
        "embedded jwk with its own kid": (by_attacker(kid="attacker-1", jwk=attacker.jwk), "key.kid"),
    }
    odd_kids: dict[str, Any] = {
        "path traversal": "../../../../etc/passwd",
        "huge": "k" * 100_000,
        "unicode": "ключ-🔑-\u202e",
        "empty": "",
        "NUL": "a\x00b",
        "a number": 12345,
        "a list": ["kid"],
    }
    for name, odd in odd_kids.items():
        out[f"kid: {name}"] = (by_attacker(kid=odd), "header.kid" if not isinstance(odd, str) else "key.kid")
    return out


CASES = [
    "alg none",
    "HS256 keyed with the issuer's RSA public key",
    "jku to the attacker's JWKS, attacker kid",
    "jku to the attacker's JWKS, the issuer's kid",
    "x5u to the attacker's keys",
    "embedded jwk with the issuer's kid",
    "embedded jwk with its own kid",
    "kid: path traversal",
    "kid: huge",
    "kid: unicode",
    "kid: empty",
    "kid: NUL",
    "kid: a number",
    "kid: a list",
]


@pytest.mark.parametrize("case", CASES)
def test_rule_book_refuses_the_forgery_at_the_right_rule(
    kit: RunningKit,
    attacker: AttackerJwks,
    genuine: tuple[dict[str, Any], dict[str, Any]],
    provider: ProviderConfig,
    case: str,
) -> None:
    token, rule = forgeries(kit, attacker, genuine)[case]
    keys = keyset_for(kit.issuer, state=kit.state, allow_insecure_localhost=True)
    with pytest.raises(RuleFailure) as info:
        validate_token(token, provider, keys)
    assert info.value.rule == rule, info.value.message
    assert attacker.requests == [], "the attacker's key server was contacted"


@pytest.mark.parametrize("case", CASES)
def test_server_refuses_the_forgery_with_18_and_logs_the_reason(
    kit: RunningKit, attacker: AttackerJwks, genuine: tuple[dict[str, Any], dict[str, Any]], case: str
) -> None:
    token, rule = forgeries(kit, attacker, genuine)[case]
    client = kit.oidc_client(token)
    with pytest.raises(OperationFailure) as info:
        client[DB].items.find_one()
    assert info.value.code == 18
    reason = kit.mongod_log(20249)[-1]["attr"]["error"]
    assert "eyJ" not in reason
    assert rule_for_reason(reason) == rule, reason
    assert attacker.requests == [], "the server contacted the attacker's key server"


def test_genuine_token_still_logs_in_after_the_forgeries(kit: RunningKit) -> None:
    kit.assert_serving()


def test_huge_forged_token_is_refused_by_the_rule_books_signature_check(
    kit: RunningKit, genuine: tuple[dict[str, Any], dict[str, Any]], provider: ProviderConfig
) -> None:
    header, claims = genuine
    padded = {**claims, "pad": "x" * (1024 * 1024)}
    token = compact(header, padded, lambda _: b"\x00" * 256)
    assert len(token) > 1024 * 1024
    keys = keyset_for(kit.issuer, state=kit.state, allow_insecure_localhost=True)
    keys.refresh()
    # How fast is the benchmarks' business (benchmarks/server_login.py); here: refused, not crashed.
    with pytest.raises(RuleFailure) as info:
        validate_token(token, provider, keys)
    assert info.value.rule == "signature"
