"""Checking a token against one ``oidcIdentityProviders`` entry, in the server's order.

``validate_token`` is what the test server runs for every saslStart/saslContinue: it stops at the
first failing rule and raises ``RuleFailure(rule, message)`` with mongod's log text.
``explain_token`` evaluates every rule it can (for ``wif claims`` and the doctor), marking the ones
it cannot evaluate as skipped; ``server_failure`` owns the verdict order (which failure the server
reports first) and ``explain_token`` leaves exactly that rule failed.

Server order (mongodb-oidc reference §9): for a one-step login, provider selection by the unverified
``iss`` and single ``aud`` (format, body claims, one audience, known issuer, known audience) comes
first; then format → header (alg, kid, typ) → body (iss, sub, aud, exp, nbf) → time (nbf, exp) →
key lookup (kid, then key acceptability) → algorithm → signature → issuer → audience → principal →
authorization claim.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

from jwt.algorithms import get_default_algorithms

from .config import ProviderConfig, issuer_slash_words, role_names, select_provider_for_token, user_name
from .keys import LoadedKey
from .rules import RULES, RuleFailure, RuleResult
from .tokenparse import (
    ParsedToken,
    check_body,
    check_body_aud,
    check_body_exp,
    check_body_iss,
    check_body_nbf,
    check_body_sub,
    check_header_alg,
    check_header_kid,
    check_header_typ,
    parse_compact,
)

# MongoDB 7.0's OpenSSL validator knows these three (7095403 for anything else).
SUPPORTED_ALGORITHMS = ("RS256", "RS384", "RS512")
NOT_BEFORE_SKEW_SECS = 60
_ALGORITHMS = get_default_algorithms()


class KeySource(Protocol):
    """What the checks need from a key set (``KeySetCache`` is the real one)."""

    def key_for(self, kid: str) -> LoadedKey: ...

    def fingerprint(self, kid: str) -> str | None: ...


@dataclass(frozen=True)
class ValidatedToken:
    """A token that passed every rule, and what the server makes of it."""

    principal: str
    user: str  # "<authNamePrefix>/<principal>" in $external
    roles: list[str]  # "<authNamePrefix>/<group>" in admin; empty without useAuthorizationClaim
    claims: dict[str, Any]
    header: dict[str, Any]
    expires_at: datetime
    kid: str
    key_fingerprint: str
    provider: ProviderConfig = field(repr=False)

    @property
    def expires_in(self) -> float:
        """Seconds until ``exp`` (negative once expired): when the server will answer 391."""
        return self.expires_at.timestamp() - time.time()


def _now(now: float | datetime | None) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


def check_time_nbf(claims: dict[str, Any], now: float) -> float | None:
    nbf = check_body_nbf(claims)
    if nbf is not None and nbf > now + NOT_BEFORE_SKEW_SECS:
        raise RuleFailure("time.nbf", "BadValue: Token not yet valid")
    return nbf


def check_time_exp(claims: dict[str, Any], now: float) -> float:
    exp = check_body_exp(claims)
    if exp < now:  # no skew for expiry, as mongod
        raise RuleFailure("time.exp", "BadValue: Token is expired")
    return exp


def check_algorithm(header: dict[str, Any]) -> str:
    alg = check_header_alg(header)
    if alg not in SUPPORTED_ALGORITHMS:
        raise RuleFailure("header.alg", f"Location7095403: Unknown hashing algorithm: '{alg}'")
    return alg


def check_signature(parsed: ParsedToken, alg: str, key: LoadedKey) -> None:
    algorithm = _ALGORITHMS[alg]
    try:
        ok = bool(algorithm.verify(parsed.signing_input, key.public_key, parsed.signature))
    except Exception:  # a key of the wrong type for the algorithm cannot verify anything
        ok = False
    if not ok:
        raise RuleFailure("signature", "InvalidSignature: OpenSSL: Signature is invalid")


def check_issuer(claims: dict[str, Any], provider: ProviderConfig) -> None:
    issuer = check_body_iss(claims)
    if issuer != provider.issuer:
        raise RuleFailure(
            "issuer",
            "Location7070201: Token issuer does not match identity provider issuer",
            hint=issuer_slash_words(issuer, [provider.issuer]),
        )


def check_audience(claims: dict[str, Any], provider: ProviderConfig) -> str:
    auds = check_body_aud(claims)
    if len(auds) != 1:
        raise RuleFailure("audience", "BadValue: OIDC token must contain exactly one audience")
    if auds[0] != provider.audience:
        raise RuleFailure(
            "audience",
            "BadValue: OIDC token issued for invalid audience. "
            f"Got: '{auds[0]}', expected: '{provider.audience}'",
        )
    return auds[0]


def check_principal(claims: dict[str, Any], provider: ProviderConfig) -> str:
    claim = provider.principal_name
    if claim == "sub":
        value: Any = check_body_sub(claims)
    else:
        if claim not in claims:
            raise RuleFailure(
                "principal", f"InvalidJWT: Unable to find principal claim '{claim}' in token body"
            )
        value = claims[claim]
        if not isinstance(value, str):
            raise RuleFailure(
                "principal", f"InvalidJWT: Principal claim '{claim}' in token body is invalid type"
            )
    if value == "":
        raise RuleFailure("principal", f"InvalidJWT: Invalid empty principal claim in token field '{claim}'")
    return str(value)


def _token_rules(parsed: ParsedToken, moment: float) -> tuple[str, float]:
    """The header, body and time rules, in the server's order; returns (kid, exp)."""
    header, claims = parsed.header, parsed.claims
    check_header_alg(header)
    kid = check_header_kid(header)
    check_header_typ(header)
    check_body(claims)
    check_time_nbf(claims, moment)
    return kid, check_time_exp(claims, moment)


def _algorithm_and_signature(parsed: ParsedToken, key: LoadedKey | None) -> None:
    """After the key lookup: the algorithm must be one mongod verifies, then the signature (when a
    key is at hand)."""
    alg = check_algorithm(parsed.header)
    if key is not None:
        check_signature(parsed, alg, key)


def _provider_rules(claims: dict[str, Any], provider: ProviderConfig) -> tuple[str, list[str]]:
    """issuer, audience, principal, authorization claim; returns (principal, roles)."""
    check_issuer(claims, provider)
    check_audience(claims, provider)
    principal = check_principal(claims, provider)
    return principal, role_names(provider, claims)


def validate_token(
    token: str, provider: ProviderConfig, keys: KeySource, *, now: float | datetime | None = None
) -> ValidatedToken:
    """Apply every rule in the server's order; raise ``RuleFailure`` at the first one that fails."""
    parsed = parse_compact(token)
    kid, exp = _token_rules(parsed, _now(now))
    key = keys.key_for(kid)
    _algorithm_and_signature(parsed, key)
    principal, roles = _provider_rules(parsed.claims, provider)
    return ValidatedToken(
        principal=principal,
        user=user_name(provider, principal),
        roles=roles,
        claims=parsed.claims,
        header=parsed.header,
        expires_at=datetime.fromtimestamp(exp, tz=timezone.utc),
        kid=kid,
        key_fingerprint=key.fingerprint,
        provider=provider,
    )


def server_failure(
    token: str,
    *,
    provider: ProviderConfig | None = None,
    providers: Sequence[ProviderConfig] | None = None,
    keys: KeySource | None = None,
    now: float | datetime | None = None,
) -> RuleFailure | None:
    """The failure the server reports (and logs) first for ``token``; None when it would accept it.

    This is the verdict order, one home for it: a one-step login (``providers``) selects the entry
    by the token's unverified ``iss`` and single ``aud`` before anything else
    (``select_provider_for_token``: format, the body's claims, one audience, a known issuer, a known
    audience), then ``validate_token``'s sequence runs. So a token that is both expired and for the
    wrong audience is refused for its audience. Without ``keys`` the key and signature rules cannot
    run: they are taken as passing and the later rules still decide.
    """
    moment = _now(now)
    try:
        if provider is None and providers is not None:
            provider = select_provider_for_token(providers, token)
        parsed = parse_compact(token)
        kid, _exp = _token_rules(parsed, moment)
        _algorithm_and_signature(parsed, keys.key_for(kid) if keys is not None else None)
        if provider is not None:
            _provider_rules(parsed.claims, provider)
    except RuleFailure as failure:
        return failure
    return None


class _Explanation:
    """The rule results of one token as they are found (the first result for a rule stays)."""

    _TITLES = {rule.id: rule.title for rule in RULES}

    def __init__(self) -> None:
        self.results: dict[str, RuleResult] = {}

    def record(self, rule: str, passed: bool | None, detail: str) -> None:
        self.results.setdefault(rule, RuleResult(rule, self._TITLES[rule], passed, detail))

    def run(self, rule: str, check: Callable[[], Any], ok: str | Callable[[Any], str]) -> bool:
        """Run one check; record pass/fail under ``rule`` (or under the failure's own rule)."""
        try:
            value = check()
        except RuleFailure as failure:
            self.record(failure.rule, False, failure.message)
            return False
        self.record(rule, True, ok(value) if callable(ok) else ok)
        return True

    def passed(self, rule: str) -> bool:
        return bool(self.results.get(rule) and self.results[rule].passed)


def explain_token(
    token: str,
    provider: ProviderConfig | None,
    keys: KeySource | None,
    *,
    now: float | datetime | None = None,
    providers: Sequence[ProviderConfig] | None = None,
) -> list[RuleResult]:
    """Every rule in ``RULES`` order with passed True/False/None (skipped) and the reason.

    With ``provider`` None but ``providers`` given, the ``provider`` rule picks the entry the server
    would pick for a one-step login (by ``iss`` and ``aud``) and the later rules use it.
    """
    moment = _now(now)
    ex = _Explanation()
    parsed: ParsedToken | None = None
    try:
        parsed = parse_compact(token)
        ex.record("format", True, "three base64url parts; header and payload are JSON objects")
    except RuleFailure as failure:
        ex.record("format", False, failure.message)
    if parsed is not None:
        kid_ok = _explain_token_rules(ex, parsed, moment)
        _explain_key_rules(ex, parsed, keys, kid_ok)
        chosen = _explain_provider_choice(ex, token, parsed.claims, provider, providers)
        if chosen is not None:
            _explain_provider_rules(ex, parsed.claims, chosen)
    out = [
        ex.results.get(rule.id)
        or RuleResult(rule.id, rule.title, None, _skip_reason(rule.id, ex.results, provider, providers))
        for rule in RULES
    ]
    reported = server_failure(token, provider=provider, providers=providers, keys=keys, now=moment)
    return _one_verdict(out, reported)


def _explain_token_rules(ex: _Explanation, parsed: ParsedToken, moment: float) -> bool:
    """The header, body and time rules; whether the header's kid is usable."""
    header, claims = parsed.header, parsed.claims
    ex.run("header.alg", lambda: check_algorithm(header), lambda a: f"alg {a} (RSA signature)")
    kid_ok = ex.run("header.kid", lambda: check_header_kid(header), lambda k: f"kid {k!r}")
    ex.run(
        "header.typ", lambda: check_header_typ(header), lambda t: f"typ {t!r}" if t else "no typ (accepted)"
    )
    ex.run("body.iss", lambda: check_body_iss(claims), lambda v: f"iss {v!r}")
    ex.run("body.sub", lambda: check_body_sub(claims), lambda v: f"sub {v!r}")
    ex.run("body.aud", lambda: check_body_aud(claims), lambda v: f"aud {v!r}")
    ex.run("body.exp", lambda: check_body_exp(claims), lambda v: f"exp {_iso(v)}")
    ex.run("time.nbf", lambda: check_time_nbf(claims, moment), _nbf_detail)
    if ex.passed("body.exp"):
        ex.run("time.exp", lambda: check_time_exp(claims, moment), lambda v: _exp_detail(v, moment))
    return kid_ok


def _explain_key_rules(ex: _Explanation, parsed: ParsedToken, keys: KeySource | None, kid_ok: bool) -> None:
    """key.kid, key.strength and signature, when a key set is at hand and the header names a key."""
    if keys is None:
        for key_rule in ("key.kid", "key.strength", "signature"):
            ex.record(key_rule, None, "no key set to check against (the issuer's JWKS was not fetched)")
        return
    if not kid_ok:
        return
    kid = str(parsed.header["kid"])
    key: LoadedKey | None = None
    try:
        key = keys.key_for(kid)
        ex.record("key.kid", True, f"kid {kid!r} is published in the issuer's JWKS")
        ex.record("key.strength", True, _key_detail(key))
    except RuleFailure as failure:
        ex.record(failure.rule, False, failure.message)
        if failure.rule == "key.strength":
            ex.record("key.kid", True, f"kid {kid!r} is published in the issuer's JWKS")
    if key is not None and ex.passed("header.alg"):
        found, alg = key, str(parsed.header["alg"])
        ex.run("signature", lambda: check_signature(parsed, alg, found), f"verified with key {kid!r}")


def _explain_provider_choice(
    ex: _Explanation,
    token: str,
    claims: dict[str, Any],
    provider: ProviderConfig | None,
    providers: Sequence[ProviderConfig] | None,
) -> ProviderConfig | None:
    """The entry the later rules are checked against: the given one, or the one a one-step login
    selects; when selection fails, the first entry for the token's issuer (to explain the rest)."""
    if provider is not None:
        ex.record(
            "provider", True, f"checked against issuer {provider.issuer!r}, audience {provider.audience!r}"
        )
        return provider
    if providers is None:
        return None
    try:
        chosen = select_provider_for_token(providers, token)
    except RuleFailure as failure:
        ex.record(failure.rule, False, failure.message)
        same_issuer = [p for p in providers if p.issuer == claims.get("iss")]
        if failure.rule != "provider":
            expected = ", ".join(repr(p.audience) for p in same_issuer) or "none"
            ex.record(
                "provider",
                None,
                f"consequence of rule {failure.rule}: the server selects the entry by the "
                f"token's issuer and single audience (configured for this issuer: {expected})",
            )
        return same_issuer[0] if same_issuer else None
    ex.record("provider", True, f"entry for issuer {chosen.issuer!r}, audience {chosen.audience!r}")
    return chosen


def _explain_provider_rules(ex: _Explanation, claims: dict[str, Any], cfg: ProviderConfig) -> None:
    """issuer, audience, principal and authorization claim against one entry."""
    if ex.passed("body.iss"):
        ex.run(
            "issuer", lambda: check_issuer(claims, cfg), f"iss equals the configured issuer {cfg.issuer!r}"
        )
    if ex.passed("body.aud"):
        ex.run("audience", lambda: check_audience(claims, cfg), f"aud equals {cfg.audience!r}")
    ex.run(
        "principal",
        lambda: check_principal(claims, cfg),
        lambda p: f"{cfg.principal_name} = {p!r} → user {user_name(cfg, str(p))!r} in $external",
    )
    if cfg.use_authorization_claim:
        ex.run(
            "authorization_claim",
            lambda: role_names(cfg, claims),
            lambda r: f"roles in admin: {', '.join(r) if r else '(none: the claim is empty)'}",
        )
    else:
        ex.record(
            "authorization_claim",
            True,
            "useAuthorizationClaim is false: roles come from the $external user "
            f"{user_name(cfg, '<principal>')!r}",
        )


def _one_verdict(results: list[RuleResult], failure: RuleFailure | None) -> list[RuleResult]:
    """Exactly one failed line, the one the server reports, with the server's own text; any other
    failing check is shown as not reached (the server stops at the first failure), with its reason."""
    if failure is None:
        return results
    out = []
    for r in results:
        if r.rule == failure.rule:
            out.append(RuleResult(r.rule, r.title, False, failure.message))
        elif r.passed is False:
            detail = (
                f"not reached: the server stops at rule {failure.rule} first; "
                f"this check fails too: {r.detail}"
            )
            out.append(RuleResult(r.rule, r.title, None, detail))
        else:
            out.append(r)
    return out


def first_failure(results: Sequence[RuleResult]) -> RuleResult | None:
    """The rule the server reports for this token (``explain_token`` leaves exactly that one failed),
    or None when nothing failed: what every explainer names."""
    return next((r for r in results if r.passed is False), None)


def _skip_reason(
    rule: str,
    results: dict[str, RuleResult],
    provider: ProviderConfig | None,
    providers: Sequence[ProviderConfig] | None,
) -> str:
    if results.get("format") and results["format"].passed is False:
        return "not evaluated: the token could not be decoded"
    if rule in ("provider", "issuer", "audience", "principal", "authorization_claim"):
        if provider is None and providers is None:
            return "not evaluated: no server configuration (oidcIdentityProviders) to check against"
        if provider is None:
            return "not evaluated: no configured identity provider matches this token"
        return "not evaluated: a claim it needs is missing or malformed"
    if rule == "time.exp":
        return "not evaluated: 'exp' is missing or malformed"
    if rule in ("key.kid", "key.strength", "signature"):
        return "not evaluated: the header has no usable 'kid'/'alg' or the key could not be loaded"
    return "not evaluated"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _nbf_detail(value: float | None) -> str:
    if value is None:
        return "no nbf (accepted)"
    return f"nbf {_iso(value)} is at most {NOT_BEFORE_SKEW_SECS} s in the future"


def _exp_detail(exp: float, now: float) -> str:
    return f"expires {_iso(exp)}, in {int(exp - now)} s"


def _key_detail(key: LoadedKey) -> str:
    public = key.public_key
    size = getattr(public, "key_size", None)
    return f"{key.kty} key{f' of {size} bits' if size else ''}, fingerprint {key.fingerprint}"
