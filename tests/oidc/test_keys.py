"""endpoint_is_secure and KeySetCache against a real local HTTP issuer."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from wif_notebook.oidc import KeySetCache, RuleFailure, discovery_url, endpoint_is_secure, jwk_thumbprint

from .helpers import b64, ec_key, public_jwk, rsa_key, tiny_issuer

KEY = rsa_key()
KEY2 = rsa_key()
WEAK = rsa_key(1024)


@pytest.mark.parametrize(
    "url,allowed",
    [
        ("https://idp.example/kit", True),
        ("http://localhost", True),
        ("http://localhost:8123/kit", True),
        ("http://localhost/kit", True),
        ("http://127.0.0.1:8123/kit", False),
        ("http://[::1]:8123/kit", False),
        ("http://localhost.evil.example/kit", False),
        ("http://localhostfoo:80/", False),
        ("ftp://localhost/kit", False),
    ],
)
def test_endpoint_is_secure_with_test_commands(url: str, allowed: bool) -> None:
    assert endpoint_is_secure(url, allow_insecure_localhost=True) is allowed


def test_without_test_commands_only_https_is_secure() -> None:
    assert endpoint_is_secure("https://idp.example", allow_insecure_localhost=False)
    assert not endpoint_is_secure("http://localhost:8123/kit", allow_insecure_localhost=False)


def test_discovery_url_drops_one_trailing_slash() -> None:
    assert (
        discovery_url("https://sts.windows.net/t/")
        == "https://sts.windows.net/t/.well-known/openid-configuration"
    )
    assert (
        discovery_url("http://localhost:1/kit") == "http://localhost:1/kit/.well-known/openid-configuration"
    )


def test_keys_are_discovered_and_fetched_with_accept_any() -> None:
    with tiny_issuer() as idp:
        jwk = public_jwk(KEY)
        idp.jwks = {"keys": [jwk]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        key = cache.key_for(jwk["kid"])
        assert key.kid == jwk["kid"] and key.kty == "RSA"
        assert cache.fingerprint(jwk["kid"]) == jwk_thumbprint(jwk)
        assert cache.jwks_uri == idp.issuer + "/jwks"
        paths = [path for path, _ in idp.requests]
        assert paths == ["/kit/.well-known/openid-configuration", "/kit/jwks"]
        assert all(headers.get("Accept") == "*/*" for _, headers in idp.requests)


def test_an_unknown_kid_triggers_exactly_one_just_in_time_refresh() -> None:
    with tiny_issuer() as idp:
        idp.jwks = {"keys": [public_jwk(KEY)]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        before = len(idp.requests)
        with pytest.raises(RuleFailure) as info:
            cache.key_for("no-such-kid")
        assert (info.value.rule, info.value.message) == (
            "key.kid",
            "BadValue: Unknown JWT keyId << 'no-such-kid'",
        )
        assert len(idp.requests) - before == 2  # one discovery + one JWKS


def test_a_key_published_later_is_found_by_the_just_in_time_refresh() -> None:
    with tiny_issuer() as idp:
        idp.jwks = {"keys": [public_jwk(KEY)]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        new = public_jwk(KEY2)
        idp.jwks = {"keys": [public_jwk(KEY), new]}
        assert cache.key_for(new["kid"]).kid == new["kid"]


def test_refresh_reports_removed_and_changed_kids() -> None:
    with tiny_issuer() as idp:
        a, b = public_jwk(KEY, "a"), public_jwk(KEY2, "b")
        idp.jwks = {"keys": [a, b]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        assert cache.refresh() == set()
        assert cache.refresh() == set()  # nothing changed
        idp.jwks = {"keys": [public_jwk(KEY2, "a")]}  # "a" changed, "b" removed
        assert cache.refresh() == {"a", "b"}


def test_a_published_1024_bit_key_fails_key_strength_with_the_reason() -> None:
    with tiny_issuer() as idp:
        weak = public_jwk(WEAK, "weak")
        idp.jwks = {"keys": [public_jwk(KEY, "good"), weak]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        assert set(cache.loaded_keys) == {"good"}
        assert "1024 bits" in cache.rejected_keys["weak"].reason
        with pytest.raises(RuleFailure) as info:
            cache.key_for("weak")
        assert info.value.rule == "key.strength"
        assert info.value.message.startswith(
            "BadValue: Key scale is smaller (1024 bits) than minimum required: 2048"
        )


def test_a_tiny_public_exponent_is_refused() -> None:
    with tiny_issuer() as idp:
        jwk = public_jwk(KEY, "e1")
        jwk["e"] = b64(b"\x01")
        idp.jwks = {"keys": [jwk]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        assert cache.rejected_keys["e1"].reason == "BadValue: Public key component invalid: AQ"


def test_ec_keys_need_full_length_coordinates() -> None:
    good = public_jwk(ec_key(), "p256")
    p384 = public_jwk(ec_key(ec.SECP384R1()), "p384")
    short = dict(public_jwk(ec_key(), "short"))
    short["x"] = b64(b"\x01" * 31)
    with tiny_issuer() as idp:
        idp.jwks = {"keys": [good, p384, short, {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        assert set(cache.loaded_keys) == {"p256", "p384"}
        assert "exactly 32 bytes for P-256, got 31" in cache.rejected_keys["short"].reason
        assert "not supported" in cache.rejected_keys["hmac"].reason


def test_a_duplicate_kid_fails_the_whole_refresh_and_keeps_the_old_keys() -> None:
    with tiny_issuer() as idp:
        idp.jwks = {"keys": [public_jwk(KEY, "a")]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        cache.refresh()
        idp.jwks = {"keys": [public_jwk(KEY, "a"), public_jwk(KEY2, "a")]}
        with pytest.raises(RuleFailure) as info:
            cache.refresh()
        assert info.value.message.startswith("DuplicateKeyId: Key IDs must be unique, duplicate 'a'")
        assert set(cache.loaded_keys) == {"a"}


def test_an_empty_kid_fails_the_refresh() -> None:
    with tiny_issuer() as idp:
        idp.jwks = {"keys": [public_jwk(KEY, "")]}
        with pytest.raises(RuleFailure) as info:
            KeySetCache(idp.issuer, allow_insecure_localhost=True).refresh()
        assert info.value.message.startswith("BadValue: Key ID must be non-empty")


def test_a_127_0_0_1_issuer_is_never_fetched() -> None:
    with tiny_issuer() as idp:
        issuer = idp.issuer.replace("localhost", "127.0.0.1")
        with pytest.raises(RuleFailure) as info:
            KeySetCache(issuer, allow_insecure_localhost=True).refresh()
        assert "insecure endpoint" in info.value.message
        assert "localhost" in (info.value.hint or "")
        assert idp.requests == []


def test_an_insecure_jwks_uri_in_discovery_is_refused() -> None:
    with tiny_issuer() as idp:
        idp.discovery_overrides = {"jwks_uri": idp.issuer.replace("localhost", "127.0.0.1") + "/jwks"}
        with pytest.raises(RuleFailure) as info:
            KeySetCache(idp.issuer, allow_insecure_localhost=True).refresh()
        assert "'jwks_uri'" in info.value.message


def test_discovery_without_jwks_uri_is_refused() -> None:
    with tiny_issuer() as idp:
        idp.discovery_overrides = {"jwks_uri": None}
        with pytest.raises(RuleFailure) as info:
            KeySetCache(idp.issuer, allow_insecure_localhost=True).refresh()
        assert "jwks_uri' is missing" in info.value.message


def test_an_http_error_names_the_url() -> None:
    with tiny_issuer() as idp:
        idp.status = 500
        with pytest.raises(RuleFailure) as info:
            KeySetCache(idp.issuer, allow_insecure_localhost=True).refresh()
        assert info.value.rule == "key.kid"
        assert "HTTP 500" in info.value.message
        assert idp.issuer + "/.well-known/openid-configuration" in info.value.message


def test_an_unreachable_issuer_is_reported_with_the_next_step() -> None:
    with tiny_issuer() as idp:
        gone = idp.issuer
    with pytest.raises(RuleFailure) as info:
        KeySetCache(gone, allow_insecure_localhost=True).refresh()
    assert "cannot reach" in info.value.message
    assert "wif idp start" in (info.value.hint or "")


def test_many_threads_can_look_up_keys_at_once() -> None:
    with tiny_issuer() as idp:
        jwk = public_jwk(KEY)
        idp.jwks = {"keys": [jwk]}
        cache = KeySetCache(idp.issuer, allow_insecure_localhost=True)
        found: list[Any] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                found.append(cache.key_for(jwk["kid"]).kid)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert errors == [] and found == [jwk["kid"]] * 8


def test_fetch_can_be_replaced() -> None:
    jwk = public_jwk(KEY, "k")
    docs = {
        "https://idp.example/.well-known/openid-configuration": {
            "issuer": "https://idp.example",
            "jwks_uri": "https://idp.example/keys",
        },
        "https://idp.example/keys": {"keys": [jwk]},
    }
    cache = KeySetCache("https://idp.example", allow_insecure_localhost=False, fetch=docs.__getitem__)
    assert cache.key_for("k").kid == "k"


def test_a_replaced_fetch_that_fails_becomes_a_rule_failure() -> None:
    published: dict[str, Any] = {}  # nothing is published: every lookup raises KeyError
    cache = KeySetCache("https://idp.example", allow_insecure_localhost=False, fetch=published.__getitem__)
    with pytest.raises(RuleFailure) as info:
        cache.refresh()
    assert info.value.rule == "key.kid"
    assert "https://idp.example/.well-known/openid-configuration" in info.value.message
