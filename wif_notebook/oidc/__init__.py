"""The rule book: every MONGODB-OIDC rule a MongoDB Enterprise server applies, in one place.

- ``ProviderConfig`` / ``parse_oidc_identity_providers``: the ``oidcIdentityProviders`` parameter
  with the server's defaults and validation messages;
- ``select_provider_for_hint`` / ``select_provider_for_token``: which entry a login uses;
  ``slash_twin`` / ``issuer_slash_words``: the configured issuer that differs from a token's only by
  a trailing slash, and the issuer rules' hint for it;
- ``KeySetCache`` / ``endpoint_is_secure``: JWKS discovery, key rules and refresh; ``keyset_for``:
  the kit's one factory for them (TLS trust of the kit CA, one timeout);
- ``validate_token`` / ``explain_token`` / ``RULES``: the token checks in the server's order;
- ``server_failure`` / ``first_failure``: the verdict order, which failure the server reports first;
- ``check_audience`` / ``check_principal``: a token's audience and principal against one entry,
  or the server's refusal;
- ``auth_name`` / ``user_name`` / ``claim_roles`` / ``role_names``: ``<authNamePrefix>/<principal>``
  and ``<authNamePrefix>/<group>``.

The test server enforces these functions; ``wif claims`` and the doctor explain with them.
"""

from .config import (
    MIN_JWKS_POLL_SECS,
    ProviderConfig,
    auth_name,
    check_principal_matches_hint,
    check_token_for_hinted_provider,
    claim_roles,
    issuer_slash_words,
    parse_oidc_identity_providers,
    role_names,
    select_provider_for_hint,
    select_provider_for_token,
    slash_twin,
    user_name,
)
from .keys import (
    KeySetCache,
    LoadedKey,
    RejectedKey,
    discovery_url,
    endpoint_is_secure,
    jwk_thumbprint,
    keyset_for,
    load_jwk,
)
from .rules import RULE_IDS, RULES, Rule, RuleFailure, RuleResult, rule_by_id, rule_for_message
from .tokenparse import ParsedToken, b64url_decode, parse_compact, peek_issuer_and_audience
from .validate import (
    NOT_BEFORE_SKEW_SECS,
    SUPPORTED_ALGORITHMS,
    KeySource,
    ValidatedToken,
    check_audience,
    check_principal,
    explain_token,
    first_failure,
    server_failure,
    validate_token,
)

__all__ = [
    "MIN_JWKS_POLL_SECS",
    "NOT_BEFORE_SKEW_SECS",
    "RULES",
    "RULE_IDS",
    "SUPPORTED_ALGORITHMS",
    "KeySetCache",
    "KeySource",
    "LoadedKey",
    "ParsedToken",
    "ProviderConfig",
    "RejectedKey",
    "Rule",
    "RuleFailure",
    "RuleResult",
    "ValidatedToken",
    "auth_name",
    "b64url_decode",
    "check_audience",
    "check_principal",
    "check_principal_matches_hint",
    "check_token_for_hinted_provider",
    "claim_roles",
    "discovery_url",
    "endpoint_is_secure",
    "explain_token",
    "first_failure",
    "issuer_slash_words",
    "jwk_thumbprint",
    "keyset_for",
    "load_jwk",
    "parse_compact",
    "parse_oidc_identity_providers",
    "peek_issuer_and_audience",
    "role_names",
    "rule_by_id",
    "rule_for_message",
    "select_provider_for_hint",
    "select_provider_for_token",
    "server_failure",
    "slash_twin",
    "user_name",
    "validate_token",
]
