"""Fault presets: tokens with exactly one defect, one per rule a MongoDB server applies.

Each preset names the rule it breaks, using the rule ids of the rule book (``wif_notebook.oidc``,
docs/ARCHITECTURE.md): a lesson mints ``wif token billing-api --fault expired`` and watches the
server refuse it for that reason. What the server logs for it is not written here: the rule book
(``validate_token`` / ``select_provider_for_token``) is the one home of the server's messages, and
``wif claims``, the token display and the doctor show its text for the token at hand.

A preset edits the claims and/or the header of an otherwise good token, and says which key signs it
(``signing``):

- ``active``        the issuer's signing key (the defect is in the claims or header)
- ``unpublished``   a key the JWKS never lists, with its own kid (unknown kid)
- ``foreign``       a key the JWKS never lists, under the kid of the published signing key
- ``weak``          a published RSA-1024 key
- ``none``          no signature at all (``alg: none``)
- ``hs256-public``  HMAC-SHA256 keyed with the issuer's public PEM (the classic key-confusion attack)
- ``truncated``     a good token without its signature part
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Claims = dict[str, Any]
Header = dict[str, Any]

OTHER_AUDIENCE = "api://some-other-service"


@dataclass(frozen=True)
class FaultContext:
    """What an edit may need: the clock, the lifetime and the issuer's base URL."""

    now: int
    lifetime: int
    base_url: str


@dataclass(frozen=True)
class Fault:
    """One preset: its name, the rule it breaks, and how the token is made."""

    name: str
    rule: str
    description: str
    signing: str = "active"
    edit_claims: Callable[[Claims, FaultContext], None] | None = None
    edit_header: Callable[[Header], None] | None = None

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "rule": self.rule, "description": self.description}


def _expired(c: Claims, ctx: FaultContext) -> None:
    c["exp"] = ctx.now - 600
    c["iat"] = c["nbf"] = ctx.now - 600 - ctx.lifetime


def _not_yet_valid(c: Claims, ctx: FaultContext) -> None:
    # mongod allows 60 s of forward skew on nbf; ten minutes is clearly beyond it.
    c["nbf"] = ctx.now + 600
    c["exp"] = ctx.now + 600 + ctx.lifetime


def _wrong_issuer(c: Claims, ctx: FaultContext) -> None:
    c["iss"] = f"{ctx.base_url}/unknown-issuer"


def _wrong_audience(c: Claims, ctx: FaultContext) -> None:
    c["aud"] = [OTHER_AUDIENCE] if isinstance(c.get("aud"), list) else OTHER_AUDIENCE


def _two_audiences(c: Claims, ctx: FaultContext) -> None:
    aud = c.get("aud")
    first = aud[0] if isinstance(aud, list) and aud else aud
    c["aud"] = [first, OTHER_AUDIENCE]


def _drop(name: str) -> Callable[[Claims, FaultContext], None]:
    def edit(c: Claims, ctx: FaultContext) -> None:
        c.pop(name, None)

    return edit


def _groups_not_array(c: Claims, ctx: FaultContext) -> None:
    groups = c.get("groups")
    c["groups"] = ",".join(groups) if isinstance(groups, list) and groups else "readers"


def _empty_principal(c: Claims, ctx: FaultContext) -> None:
    c["sub"] = ""


def _typ_at_jwt(h: Header) -> None:
    h["typ"] = "at+jwt"


def _no_kid(h: Header) -> None:
    h.pop("kid", None)


_PRESETS = [
    Fault("expired", "time.exp", "exp lies 10 minutes in the past", edit_claims=_expired),
    Fault(
        "not-yet-valid",
        "time.nbf",
        "nbf lies 10 minutes ahead (more than the 60 s allowed)",
        edit_claims=_not_yet_valid,
    ),
    Fault(
        "wrong-issuer",
        "provider",
        "iss names an issuer no identity provider is configured for",
        edit_claims=_wrong_issuer,
    ),
    Fault(
        "wrong-audience",
        "audience",
        f"aud is {OTHER_AUDIENCE!r}, not the configured audience",
        edit_claims=_wrong_audience,
    ),
    Fault(
        "two-audiences",
        "audience",
        "aud lists two audiences; OIDC needs exactly one",
        edit_claims=_two_audiences,
    ),
    Fault(
        "no-iss",
        "body.iss",
        "the iss claim is missing",
        edit_claims=_drop("iss"),
    ),
    Fault(
        "no-sub",
        "body.sub",
        "the sub claim is missing",
        edit_claims=_drop("sub"),
    ),
    Fault(
        "no-aud",
        "body.aud",
        "the aud claim is missing",
        edit_claims=_drop("aud"),
    ),
    Fault(
        "no-exp",
        "body.exp",
        "the exp claim is missing (a token that never expires)",
        edit_claims=_drop("exp"),
    ),
    Fault("no-kid", "header.kid", "the header has no kid", edit_header=_no_kid),
    Fault(
        "unknown-kid",
        "key.kid",
        "signed by a key the JWKS does not publish, under that key's kid",
        signing="unpublished",
    ),
    Fault(
        "bad-signature",
        "signature",
        "kid names the published signing key, but another key made the signature",
        signing="foreign",
    ),
    Fault(
        "alg-none",
        "header.alg",
        "alg is 'none' and the signature is empty",
        signing="none",
    ),
    Fault(
        "hs256-with-public-key",
        "header.alg",
        "alg is HS256, keyed with the issuer's public key PEM (key-confusion attack)",
        signing="hs256-public",
    ),
    Fault(
        "rsa-1024",
        "key.strength",
        "signed by a published RSA key of only 1024 bits",
        signing="weak",
    ),
    Fault(
        "typ-at+jwt",
        "header.typ",
        "typ is 'at+jwt' (RFC 9068); only 'JWT' or none is accepted",
        edit_header=_typ_at_jwt,
    ),
    Fault(
        "groups-not-array",
        "authorization_claim",
        "groups is one comma-separated string, not an array of strings",
        edit_claims=_groups_not_array,
    ),
    Fault(
        "empty-principal",
        "principal",
        "sub is the empty string",
        edit_claims=_empty_principal,
    ),
    Fault(
        "truncated",
        "format",
        "the signature part is missing (only one '.' in the token)",
        signing="truncated",
    ),
]

FAULTS: dict[str, Fault] = {f.name: f for f in _PRESETS}
