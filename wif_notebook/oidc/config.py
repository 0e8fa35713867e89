"""The ``oidcIdentityProviders`` server parameter: one entry's model, its validation, and user/role naming.

Defaults and validation messages are MongoDB Enterprise's (mongodb-oidc reference §7.2, checks in
the server's order). ``ConfigError.what`` is the text mongod prints; the hint says how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .rules import RuleFailure
from .tokenparse import peek_issuer_and_audience, unknown_field_text, wrong_type_text

# mongod's minimum JWKS poll period (IDPJWKSRefresher::kRefreshMinPeriod).
MIN_JWKS_POLL_SECS = 10

_PREFIX_CHARS = re.compile(r"[A-Za-z0-9_-]")


@dataclass(frozen=True)
class ProviderConfig:
    """One ``oidcIdentityProviders`` entry with the server's defaults (snake_case names)."""

    issuer: str
    audience: str
    auth_name_prefix: str
    match_pattern: str | None = None
    client_id: str | None = None
    request_scopes: tuple[str, ...] | None = None
    principal_name: str = "sub"
    use_authorization_claim: bool = True
    authorization_claim: str | None = None
    log_claims: tuple[str, ...] = ("iss", "sub")
    jwks_poll_secs: int = 0
    supports_human_flows: bool = True

    def to_document(self) -> dict[str, Any]:
        """The entry as mongod spells it (what ``getParameter`` would show); unset options omitted."""
        doc: dict[str, Any] = {}
        for name, spec in _FIELDS.items():
            value = getattr(self, spec.attr)
            if value is None:
                continue
            doc[name] = list(value) if isinstance(value, tuple) else value
        return doc

    def matches_hint(self, hint: str) -> bool:
        """True when this entry would be chosen for principal-name hint ``hint`` (§8, step 1)."""
        return self.match_pattern is None or re.search(self.match_pattern, hint) is not None


@dataclass(frozen=True)
class _Field:
    attr: str
    kind: str  # "string" | "bool" | "int" | "strings"


# Declaration order of the server's IDL struct (IDPConfiguration); mongod field names.
_FIELDS: dict[str, _Field] = {
    "issuer": _Field("issuer", "string"),
    "audience": _Field("audience", "string"),
    "authNamePrefix": _Field("auth_name_prefix", "string"),
    "matchPattern": _Field("match_pattern", "string"),
    "clientId": _Field("client_id", "string"),
    "requestScopes": _Field("request_scopes", "strings"),
    "principalName": _Field("principal_name", "string"),
    "useAuthorizationClaim": _Field("use_authorization_claim", "bool"),
    "authorizationClaim": _Field("authorization_claim", "string"),
    "logClaims": _Field("log_claims", "strings"),
    "JWKSPollSecs": _Field("jwks_poll_secs", "int"),
    "supportsHumanFlows": _Field("supports_human_flows", "bool"),
}
_REQUIRED = ("issuer", "audience", "authNamePrefix")


_KIND_TYPE = {"string": "string", "bool": "bool", "int": "int", "strings": "array"}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_FIX_DOC = "see https://www.mongodb.com/docs/manual/reference/parameters/#mongodb-parameter-param.oidcIdentityProviders"


def _parse_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    """IDL-style parse of one entry: unknown fields, types, then required fields."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        spec = _FIELDS.get(name)
        if spec is None:
            # UNCONFIRMED whether Enterprise's IDL struct is strict (Percona's is). Rejecting, as an
            # IDL-strict server does, is the safer teaching choice: a misspelt field such as
            # "authorisationClaim" would otherwise be silently ignored.
            raise ConfigError(
                unknown_field_text(f"IDPConfiguration.{name}"),
                hint=f"remove or correct {name!r}; known fields: {', '.join(_FIELDS)}",
            )
        if not _type_ok(spec.kind, value):
            expected = _KIND_TYPE[spec.kind]
            raise ConfigError(
                wrong_type_text(f"IDPConfiguration.{name}", value, expected),
                hint=f"give {name} a {'list of strings' if spec.kind == 'strings' else expected} value",
            )
        values[spec.attr] = int(value) if spec.kind == "int" else value
    for name in _REQUIRED:
        if _FIELDS[name].attr not in values:
            raise ConfigError(
                f"BSON field 'IDPConfiguration.{name}' is missing but a required field",
                hint=f"add {name!r} to every oidcIdentityProviders entry; {_FIX_DOC}",
            )
    return values


def _non_empty(issuer: str, name: str, value: str | None) -> None:
    if value is None:
        raise ConfigError(
            f"Missing required field '{name}' for issuer '{issuer}'",
            hint=_MISSING_HINTS.get(name, f"add {name!r} to the entry for {issuer}"),
        )
    if value == "":
        raise ConfigError(
            f"Field '{name}' for issuer '{issuer}' must be non-empty",
            hint=f"give {name!r} a value or remove it",
        )


_MISSING_HINTS = {
    "authorizationClaim": 'name the token claim that lists groups/roles (e.g. "groups"), or set '
    "useAuthorizationClaim: false and create $external users",
    "clientId": "human (workforce) flows need the client id registered at the IdP; for workloads set "
    "supportsHumanFlows: false",
}


def parse_oidc_identity_providers(
    value: str | Sequence[Any], *, enable_test_commands: bool
) -> list[ProviderConfig]:
    """Parse and validate ``oidcIdentityProviders`` (JSON text or a parsed list) as mongod does.

    Raises ``ConfigError`` whose ``what`` is the message a real mongod gives.
    """
    entries = [_parse_entry(elem) for elem in _load_array(value)]
    human_count = sum(1 for e in entries if e.get("supports_human_flows", True))
    seen_without_pattern = False
    configs: list[ProviderConfig] = []
    for e in entries:  # each entry's checks in mongod's order
        _check_entry(e, enable_test_commands)
        seen_without_pattern = _check_match_pattern(e, seen_without_pattern, human_count)
        _check_lists_and_polling(e)
        configs.append(_provider_from(e))
    _check_shared_issuers(configs)
    return configs


def _load_array(value: str | Sequence[Any]) -> list[Mapping[str, Any]]:
    """The parameter as a list of objects (it may come as JSON text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError(
                f"Failed parsing OIDC parameters from JSON :: caused by :: {exc}",
                hint="oidcIdentityProviders must be a JSON array of objects; check quotes and commas "
                "(quote the whole value as one YAML string in mongod.conf)",
            ) from exc
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(
            "OIDC configuration must be an array",
            hint='wrap the provider objects in [ ... ], e.g. [{"issuer": ..., "audience": ...}]',
        )
    for elem in value:
        if not isinstance(elem, Mapping):
            raise ConfigError(
                "OIDC configuration must be an array of objects",
                hint="each element of oidcIdentityProviders must be a {...} object",
            )
    return list(value)


def _check_entry(e: Mapping[str, Any], enable_test_commands: bool) -> None:
    """One entry's issuer, required fields and prefix."""
    issuer = e["issuer"]
    _non_empty(issuer, "issuer", issuer)
    if not (enable_test_commands and issuer.startswith("http://")) and not issuer.startswith("https://"):
        raise ConfigError(
            f"Field 'issuer' for issuer '{issuer}' must be an https:// URL",
            hint="use the https:// issuer URL; plain http:// is accepted only with "
            "setParameter enableTestCommands: 1 (and then only for http://localhost)",
        )
    _non_empty(issuer, "audience", e["audience"])
    _non_empty(issuer, "principalName", e.get("principal_name", "sub"))
    if e.get("use_authorization_claim", True):
        _non_empty(issuer, "authorizationClaim", e.get("authorization_claim"))
    if e.get("supports_human_flows", True):
        _non_empty(issuer, "clientId", e.get("client_id"))
    _check_prefix(issuer, e["auth_name_prefix"])


def _check_lists_and_polling(e: Mapping[str, Any]) -> None:
    issuer = e["issuer"]
    for scope in e.get("request_scopes") or []:
        _non_empty(issuer, "requestScopes", scope)
    for claim in e.get("log_claims") or []:
        _non_empty(issuer, "logClaims", claim)
    poll = e.get("jwks_poll_secs", 0)
    if poll != 0 and poll < MIN_JWKS_POLL_SECS:
        raise ConfigError(
            f"Invalid refresh period {poll}s, must be greater than {MIN_JWKS_POLL_SECS}s, or exactly 0",
            hint=f"set JWKSPollSecs to 0 (no polling) or at least {MIN_JWKS_POLL_SECS}",
        )


def _check_prefix(issuer: str, prefix: str) -> None:
    _non_empty(issuer, "authNamePrefix", prefix)
    for ch in prefix:
        if not _PREFIX_CHARS.fullmatch(ch):
            raise ConfigError(
                f"Field 'authNamePrefix' for issuer '{issuer}' must contain only alphanumerics, "
                f"hyphens, and/or underscores. Encountered '{ch}'",
                hint='use a short prefix such as "kit" or "azure-prod"; users become '
                "<authNamePrefix>/<principal>",
            )


def _check_match_pattern(e: Mapping[str, Any], seen_without_pattern: bool, human_count: int) -> bool:
    """matchPattern's ordering and need; returns whether an entry without one has been seen."""
    issuer, pattern = e["issuer"], e.get("match_pattern")
    if pattern is not None and seen_without_pattern:
        raise ConfigError(
            "All IdPs without matchPatterns must be listed after those with matchPatterns",
            hint="move the entries that have matchPattern to the front of the array",
        )
    if pattern is None and e.get("supports_human_flows", True) and human_count != 1:
        raise ConfigError(
            "Required matchValue",
            hint=f"several entries support human flows, so the one for {issuer} needs a "
            'matchPattern (e.g. "@example.com$"), or set supportsHumanFlows: false for workloads',
        )
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            # mongod compiles the pattern with PCRE when choosing an IdP; the kit refuses a
            # pattern that cannot compile at configuration time (kit's own message).
            raise ConfigError(
                f"Field 'matchPattern' for issuer '{issuer}' is not a valid regular expression: {exc}",
                hint='fix the regular expression, e.g. "@example\\.com$"',
            ) from exc
    return seen_without_pattern or pattern is None


def _provider_from(e: Mapping[str, Any]) -> ProviderConfig:
    fields = dict(e)
    for key in ("request_scopes", "log_claims"):
        if key in fields:
            fields[key] = tuple(fields[key])
    return ProviderConfig(**fields)


def _check_shared_issuers(configs: list[ProviderConfig]) -> None:
    """Entries sharing an issuer share one key refresher and need distinct audiences."""
    first_by_issuer: dict[str, ProviderConfig] = {}
    audiences: dict[str, set[str]] = {}
    for cfg in configs:
        first = first_by_issuer.setdefault(cfg.issuer, cfg)
        if first is cfg:
            audiences[cfg.issuer] = {cfg.audience}
            continue
        if cfg.jwks_poll_secs != first.jwks_poll_secs:
            raise ConfigError(
                f"IDP configurations with issuer '{cfg.issuer}' must have the same JWKSPollSecs value",
                hint="entries sharing an issuer share one key refresher; give them the same JWKSPollSecs",
            )
        if cfg.audience in audiences[cfg.issuer]:
            raise ConfigError(
                f"Duplicate configuration for issuer-audience pair ('{cfg.issuer}', '{cfg.audience}')",
                hint="remove the duplicate entry, or give it a different audience",
            )
        audiences[cfg.issuer].add(cfg.audience)


def select_provider_for_hint(providers: Sequence[ProviderConfig], hint: str | None) -> ProviderConfig:
    """Two-step SASL, step 1: the entry the server answers with (mongodb-oidc reference §8).

    Without a hint exactly one entry may support human flows; with a hint the first entry in
    config order whose ``matchPattern`` matches it (unanchored search) or which has none.
    """
    if not providers:
        raise RuleFailure("provider", "BadValue: No identity providers registered")
    if hint is None:
        human = [p for p in providers if p.supports_human_flows]
        if len(human) > 1:
            raise RuleFailure(
                "provider",
                "BadValue: Unable to determine identity provider, because multiple providers are known",
                hint="set a username in the connection string so matchPattern can pick the provider",
            )
        if not human:
            raise RuleFailure(
                "provider",
                "BadValue: Unable to determine identity provider, no provider supported human flows",
                hint="workload (machine) flows send the token in the first step; use OIDC_CALLBACK or "
                "ENVIRONMENT instead of a human callback",
            )
        return human[0]
    for provider in providers:
        if provider.matches_hint(hint):
            return provider
    raise RuleFailure(
        "provider",
        f"BadValue: No identity provider found using the hint '{hint}' provided",
        hint="change the username in the connection string, or add a matchPattern that matches it",
    )


def check_token_for_hinted_provider(provider: ProviderConfig, token: str, hint: str | None) -> None:
    """Two-step SASL, step 2: the token must come from the entry step 1 chose from the hint, for its
    audience (Enterprise's step-2 checks, mongodb-oidc reference §3.6)."""
    issuer, audience = peek_issuer_and_audience(token)
    if issuer != provider.issuer:
        raise RuleFailure(
            "issuer",
            f"BadValue: Token issuer '{issuer}' does not match that inferred from principal name hint "
            f"'{provider.issuer}'",
            hint=f"the username '{hint or ''}' selected the identity provider {provider.issuer}; log in "
            "with a token from that issuer, or change the username (matchPattern picks the provider)",
        )
    if audience != provider.audience:
        raise RuleFailure(
            "audience",
            f"BadValue: Token audience '{audience}' does not match that inferred from principal name "
            f"hint '{provider.audience}'",
        )


def check_principal_matches_hint(principal: str, hint: str | None) -> None:
    """Two-step SASL, step 2: the token's principal must be the name sent in step 1 (if one was)."""
    if hint is not None and principal != hint:
        raise RuleFailure(
            "principal",
            f"BadValue: Principal name changed between step1 '{hint}' and step2 '{principal}'",
            hint="the username in the connection string must be the token's principal claim",
        )


def select_provider_for_token(providers: Sequence[ProviderConfig], token: str) -> ProviderConfig:
    """One-step SASL: the entry for the token's unverified ``iss`` and single ``aud``.

    The token's format and body are parsed first, as the server does; their failures carry the
    ids of those rules.
    """
    issuer, audience = peek_issuer_and_audience(token)
    by_issuer = [p for p in providers if p.issuer == issuer]
    if not by_issuer:
        raise RuleFailure(
            "provider",
            f"NoSuchKey: Unknown Identity Provider '{issuer}'",
            hint=issuer_slash_words(issuer, [p.issuer for p in providers]),
        )
    for provider in by_issuer:
        if provider.audience == audience:
            return provider
    # The issuer is configured, its audience is not: what is wrong is the token's audience.
    raise RuleFailure(
        "audience", f"NoSuchKey: Unknown audience name '{audience}' for Identity Provider '{issuer}'"
    )


def slash_twin(token_iss: str, issuers: Sequence[str]) -> str | None:
    """The configured issuer that differs from the token's only by a trailing slash, or None."""
    return next((i for i in issuers if i != token_iss and i.rstrip("/") == token_iss.rstrip("/")), None)


def issuer_slash_words(token_iss: str, issuers: Sequence[str]) -> str | None:
    """The issuer rules' hint when the token's issuer and a configured one differ only by a trailing
    slash (the server compares issuers character for character); None when none does."""
    issuer = slash_twin(token_iss, issuers)
    if issuer is None:
        return None
    which = (
        "the token's issuer ends with '/' and the configured one does not"
        if token_iss.endswith("/")
        else "the configured issuer ends with '/' and the token's does not"
    )
    return (
        f"The token's issuer {token_iss!r} and the configured issuer {issuer!r} differ only by "
        f"the trailing slash: {which}, and mongod compares issuers exactly: set issuer to "
        f"{token_iss!r}."
    )


def auth_name(prefix: str, value: str) -> str:
    """``<authNamePrefix>/<value>``: how the server names a token's user and the roles its groups grant."""
    return f"{prefix}/{value}"


def user_name(provider: ProviderConfig, principal: str) -> str:
    """The $external user a token authenticates as: ``<authNamePrefix>/<principal>``."""
    return auth_name(provider.auth_name_prefix, principal)


def claim_roles(provider: ProviderConfig, claims: Mapping[str, Any]) -> dict[str, str]:
    """Each authorization-claim string and the admin role it names, ``<authNamePrefix>/<value>``,
    in the claim's order; the server's refusal (``RuleFailure``) when the claim is missing or not an
    array of strings. Empty when ``useAuthorizationClaim`` is false (roles then come from the
    $external user document)."""
    if not provider.use_authorization_claim:
        return {}
    claim = provider.authorization_claim or ""
    if claim not in claims:
        raise RuleFailure("authorization_claim", f"InvalidJWT: Claim '{claim}' not found on OIDC token")
    value = claims[claim]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleFailure(
            "authorization_claim", f"InvalidJWT: Authorization claim '{claim}' must be an array of strings"
        )
    return {item: auth_name(provider.auth_name_prefix, item) for item in value}


def role_names(provider: ProviderConfig, claims: Mapping[str, Any]) -> list[str]:
    """The admin roles a token grants (``claim_roles``), sorted and de-duplicated, as the server
    keeps them in a set."""
    return sorted(set(claim_roles(provider, claims).values()))
