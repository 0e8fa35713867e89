"""The list of MONGODB-OIDC token rules, their ids (a contract) and the failure type.

Every rule a MongoDB Enterprise server applies to a JWT has an id, a title and a plain-words
explanation. The ids are shared with the IdP's fault presets, the test server's log and
``wif claims``; the order is the order of ``RULES`` (the order a reader follows a token through the
server, see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import TokenError


class RuleFailure(TokenError):
    """A token broke one rule; ``message`` is the text a real mongod writes to its log.

    The client never sees this text: every authentication failure reaches it as code 18
    "Authentication failed." (mongodb-oidc reference §3.5).
    """

    def __init__(self, rule: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint if hint is not None else rule_by_id(rule).fix)
        self.rule = rule
        self.message = message

    def __repr__(self) -> str:
        return f"RuleFailure(rule={self.rule!r}, message={self.message!r})"


@dataclass(frozen=True)
class Rule:
    """One check the server applies: what it checks and how to fix a failure."""

    id: str
    title: str
    checks: str
    fix: str


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule for one token: True passed, False failed, None not evaluated."""

    rule: str
    title: str
    passed: bool | None
    detail: str


RULES: tuple[Rule, ...] = (
    Rule(
        "format",
        "Compact JWS format",
        "The token must be three base64url parts separated by exactly two dots "
        "(header.payload.signature), and the header and payload must be JSON objects.",
        "Send the access token itself (a JWT starting with 'eyJ'), not an opaque token, a refresh token "
        "or a JSON document containing the token.",
    ),
    Rule(
        "header.alg",
        "Signing algorithm",
        "The header must name its algorithm in 'alg', and MongoDB 7.0 verifies only RS256, RS384 and "
        "RS512. 'none' and HMAC algorithms (HS256...) are refused.",
        "Have the identity provider sign access tokens with RS256 using an RSA key of 2048 bits or more.",
    ),
    Rule(
        "header.kid",
        "Key id in the header",
        "The header must carry 'kid', the id of the signing key in the issuer's JWKS; mongod never "
        "tries keys one by one.",
        "Configure the identity provider to include the key id ('kid') in the token header.",
    ),
    Rule(
        "header.typ",
        "Token type",
        "If the header has 'typ', it must be exactly \"JWT\". RFC 9068 access tokens ('at+jwt') are refused.",
        'Issue the token with typ "JWT" or without typ.',
    ),
    Rule(
        "body.iss",
        "Issuer claim present",
        "The payload must have 'iss', a string naming the identity provider.",
        "Use a token from an OpenID Connect provider; every such token names its issuer.",
    ),
    Rule(
        "body.sub",
        "Subject claim present",
        "The payload must have 'sub' as a string, even when principalName names another claim.",
        "Make sure the identity provider puts a 'sub' claim in the access token.",
    ),
    Rule(
        "body.aud",
        "Audience claim present",
        "The payload must have 'aud', a string or an array of strings.",
        "Request the token for a resource/audience (e.g. TOKEN_RESOURCE) so the provider sets 'aud'.",
    ),
    Rule(
        "body.exp",
        "Expiry claim present",
        "The payload must have 'exp' (seconds since 1970): mongod refuses tokens that never expire.",
        "Have the identity provider set an expiry on access tokens.",
    ),
    Rule(
        "time.nbf",
        "Not before",
        "If 'nbf' is present it may be at most 60 seconds in the future (clock skew allowance).",
        "Check the clocks of the identity provider and the server; use the token a little later.",
    ),
    Rule(
        "time.exp",
        "Not expired",
        "'exp' must not be in the past. There is no skew allowance for expiry.",
        "Fetch a fresh token; drivers do this by themselves when the callback returns a new one.",
    ),
    Rule(
        "key.kid",
        "Signing key published",
        "The 'kid' must name a key in the issuer's JWKS (found through "
        "<issuer>/.well-known/openid-configuration). An unknown kid makes mongod reload the JWKS once.",
        "Make sure the identity provider publishes the signing key in its JWKS and that mongod can "
        "reach the issuer's discovery document.",
    ),
    Rule(
        "key.strength",
        "Signing key acceptable",
        "The published key must be usable: RSA with a modulus of at least 2048 bits and a sensible "
        "exponent (or EC P-256/P-384 with full-length coordinates on newer servers).",
        "Rotate the identity provider to an RSA key of 2048 bits or more.",
    ),
    Rule(
        "signature",
        "Signature valid",
        "The signature must verify with the published key named by 'kid'.",
        "The token was altered or signed with a key that is not the one published under its 'kid'; "
        "fetch a new token from the real issuer.",
    ),
    Rule(
        "provider",
        "Identity provider configured",
        "For one-step (machine) authentication the server picks the oidcIdentityProviders entry whose "
        "issuer and audience equal the token's 'iss' and single 'aud'.",
        "Add an oidcIdentityProviders entry for this issuer and audience, or request the token for the "
        "audience the server is configured with.",
    ),
    Rule(
        "issuer",
        "Issuer matches",
        "'iss' must be exactly the configured issuer (including any trailing slash).",
        "Use a token from the configured issuer, or fix 'issuer' in oidcIdentityProviders.",
    ),
    Rule(
        "audience",
        "Audience matches",
        "'aud' must hold exactly one value and it must equal the configured audience.",
        "Request the token for the configured audience (TOKEN_RESOURCE / audience parameter).",
    ),
    Rule(
        "principal",
        "Principal claim",
        "The claim named by principalName (default 'sub') must be a non-empty string; the user is "
        "'<authNamePrefix>/<that value>' in $external.",
        "Make the identity provider emit the principalName claim, or change principalName.",
    ),
    Rule(
        "authorization_claim",
        "Authorization claim",
        "With useAuthorizationClaim (the default) the claim named by authorizationClaim must be an "
        "array of strings; each becomes the role '<authNamePrefix>/<value>' in admin.",
        "Assign the workload to groups/roles at the identity provider so the claim is an array, or set "
        "useAuthorizationClaim: false and create a $external user.",
    ),
)

RULE_IDS: tuple[str, ...] = tuple(rule.id for rule in RULES)
_BY_ID = {rule.id: rule for rule in RULES}


def rule_by_id(rule_id: str) -> Rule:
    """The rule with this id; unknown ids are a programming error."""
    try:
        return _BY_ID[rule_id]
    except KeyError:
        raise ValueError(f"unknown rule id {rule_id!r}; known: {', '.join(RULE_IDS)}") from None


# The rule book's failure messages (as mongod logs them) → rule ids, most specific first: how a
# reason read back from a server log is tied to its rule (the doctor, lessons).
_MESSAGE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Unknown format of token|FailedToParse: the JWT|Missing JWS delimiter"), "format"),
    (re.compile(r"'JWSHeader\.alg'|Unknown hashing algorithm"), "header.alg"),
    (re.compile(r"'JWSHeader\.kid'"), "header.kid"),
    (re.compile(r"'JWSHeader\.typ'|Unknown type of token"), "header.typ"),
    (re.compile(r"'JWT\.iss'"), "body.iss"),
    (re.compile(r"'JWT\.sub'"), "body.sub"),
    (re.compile(r"'JWT\.aud"), "body.aud"),
    (re.compile(r"'JWT\.exp'"), "body.exp"),
    (re.compile(r"'JWT\.nbf'|Token not yet valid"), "time.nbf"),
    (re.compile(r"Token is expired|Invalid expiration time"), "time.exp"),
    (re.compile(r"mongod refuses to load it|Key scale is smaller"), "key.strength"),
    (re.compile(r"Unknown JWT keyId|Failed to fetch|Refusing to fetch|JWKSet|'JWK\.kid'"), "key.kid"),
    (re.compile(r"Signature is invalid"), "signature"),
    (
        re.compile(
            r"Unknown audience name|exactly one audience|issued for invalid audience|Token audience '"
        ),
        "audience",
    ),
    (re.compile(r"Unknown Identity Provider|No identity provider|Unable to determine identity"), "provider"),
    (re.compile(r"Token issuer does not match|Token issuer '"), "issuer"),
    (re.compile(r"principal claim|Principal claim|Principal name changed"), "principal"),
    (re.compile(r"Authorization claim|not found on OIDC token"), "authorization_claim"),
]


def rule_for_message(message: str, *, first: Sequence[tuple[re.Pattern[str], str]] = ()) -> str | None:
    """The id of the rule whose failure message ``message`` is (or contains); None if none is.
    ``first``: the caller's own (pattern, id) pairs, tried before the rule book's."""
    for pattern, rule in [*first, *_MESSAGE_RULES]:
        if pattern.search(message):
            return rule
    return None
