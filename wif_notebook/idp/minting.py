"""Minting: claims shaped like each real issuer's tokens, signed with the issuer's keys.

Every token carries ``iss``, ``sub``, ``aud``, ``exp``, ``iat``, ``nbf`` and ``jti`` (but Google's,
see gcp) and a header ``{alg, kid, typ: "JWT"}`` (Kubernetes tokens carry no ``typ``, like the real
ones). On top, what the issuer's platform shapes (``Cloud.shape_claims`` in ``clouds/``):

- kit:   ``groups`` (always an array, possibly empty), ``client_id``
- azure: Entra ID access-token claims, v1 or v2 as the resource application accepts
  (``entra.shape_claims``: ``appid``/``azp``, ``oid``, ``tid``, ``idtyp``, ``ver``, ``uti``, ``aio``,
  ``rh``, ``groups``, ``roles``)
- gcp:   Google ID-token claims (``azp``, ``email``, ``email_verified``; ``google.compute_engine``
  only with ``format=full``), and no ``nbf`` or ``jti``, as Google's own
- k8s:   ``aud`` as an array and the ``kubernetes.io`` block (namespace, serviceaccount, pod, node)

and last the principal's own ``claims`` from the catalog.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import clouds
from ..clouds import ClaimsDraft, ShapeClaims
from ..errors import ConfigError
from .faults import FAULTS, Fault, FaultContext
from .issuers import ISSUERS, Issuer
from .keys import KeyStore, b64url, sign
from .messages import COMPACT_JSON
from .principals import Principal

DEFAULT_LIFETIME = 3600
MAX_LIFETIME = 366 * 24 * 3600


@dataclass
class Minted:
    """A signed token and what went into it."""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    issuer_id: str
    principal: str
    expires_at: int | None
    fault: Fault | None

    def to_json(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "fault": self.fault.to_json() if self.fault else None,
            "expires_at": self.expires_at,
            "issuer": self.claims.get("iss"),
            "principal": self.principal,
            "kid": self.header.get("kid"),
        }


def check_lifetime(lifetime: Any) -> int:
    if lifetime is None:
        return DEFAULT_LIFETIME
    if (
        isinstance(lifetime, bool)
        or not isinstance(lifetime, int | float)
        or not (1 <= lifetime <= MAX_LIFETIME)
    ):
        raise ConfigError(
            f"lifetime {lifetime!r} is not a number of seconds between 1 and {MAX_LIFETIME}",
            hint="pass a whole number of seconds, e.g. 3600 for one hour",
        )
    return int(lifetime)


def lookup_fault(name: str | None) -> Fault | None:
    if name is None or name == "":
        return None
    fault = FAULTS.get(name)
    if fault is None:
        raise ConfigError(
            f"no fault preset named {name!r}",
            hint=f"use one of: {', '.join(FAULTS)}",
        )
    return fault


def _b64json(doc: dict[str, Any]) -> str:
    return b64url(COMPACT_JSON.encode(doc).encode())


class Minter:
    """Signs tokens for principals, at issuers rooted at ``base_url`` (``https://localhost:<port>``, or
    the same port's http form: idp/issuers.py)."""

    def __init__(
        self, keys: KeyStore, base_url: str, catalog: Callable[[], list[Principal]] | None = None
    ) -> None:
        self.keys = keys
        self.base_url = base_url.rstrip("/")
        # The catalog is where Entra's resource applications (and their token versions) are.
        self.catalog = catalog or list
        self._headers: dict[tuple[str, str, str | None, str | None], str] = {}  # encoded JOSE headers
        # The registry's issuers and each one's claim shaper, read once: a minter serves the platforms
        # registered when it was made (as its IdP does), and looking them up per token would read the
        # environment (WIF_EXTRA_CLOUDS) and walk the platforms on every token.
        self.issuers: dict[str, Issuer] = dict(ISSUERS)
        self._shapers: dict[str, ShapeClaims] = {}
        for issuer_id in self.issuers:
            cloud = clouds.for_issuer(issuer_id)
            if cloud is not None and cloud.shape_claims is not None:
                self._shapers[issuer_id] = cloud.shape_claims

    def issuer_url(self, issuer_id: str) -> str:
        return self.issuers[issuer_id].issuer_url(self.base_url)

    def audience_for(self, principal: Principal, requested: str | None) -> str:
        return requested or principal.default_audience

    def claims_for(
        self,
        principal: Principal,
        audience: str,
        *,
        now: int,
        lifetime: int,
        gcp_full: bool = False,
        acr: str | None = None,
    ) -> dict[str, Any]:
        """The claims of a good token for ``principal``, shaped like its issuer's."""
        issuer = self.issuers[principal.issuer_id]
        iss = issuer.issuer_url(self.base_url)
        claims: dict[str, Any] = {
            "iss": iss,
            "sub": principal.subject,
            "aud": audience,
            "exp": now + lifetime,
            "iat": now,
            "nbf": now,
            "jti": str(uuid.uuid4()),
        }
        extra = dict(principal.claims)
        shape = self._shapers.get(issuer.id)
        if shape is not None:
            shape(ClaimsDraft(claims, extra, principal, audience, self.base_url, self.catalog, gcp_full, acr))
        claims.update(extra)
        return claims

    def mint(
        self,
        principal: Principal,
        *,
        audience: str | None = None,
        lifetime: int | None = None,
        fault: str | Fault | None = None,
        gcp_full: bool = False,
        now: float | None = None,
        extra_claims: dict[str, Any] | None = None,
        acr: str | None = None,
    ) -> Minted:
        """A signed token for ``principal`` (optionally with one fault preset's defect)."""
        preset = fault if isinstance(fault, Fault) else lookup_fault(fault)
        seconds = check_lifetime(lifetime)
        clock = int(time.time() if now is None else now)
        issuer = self.issuers[principal.issuer_id]
        claims = self.claims_for(
            principal,
            self.audience_for(principal, audience),
            now=clock,
            lifetime=seconds,
            gcp_full=gcp_full,
            acr=acr,
        )
        if extra_claims:
            claims.update(extra_claims)
        keys = self.keys.issuer(issuer.id)
        signing = preset.signing if preset else "active"
        if signing == "unpublished":
            key = keys.unpublished()
            kid = key.kid
        elif signing == "weak":
            key = keys.weak()
            kid = key.kid
        elif signing == "foreign":
            key = keys.unpublished()
            kid = keys.active.kid
        else:
            key = keys.active
            kid = key.kid
        header: dict[str, Any] = {"alg": key.alg, "kid": kid}
        if issuer.typ:
            header["typ"] = issuer.typ
        if claims.get("ver") in issuer.x5t_for_versions:
            header["x5t"] = kid
        if preset is not None:
            if preset.edit_claims is not None:
                preset.edit_claims(claims, FaultContext(clock, seconds, self.base_url))
            if preset.edit_header is not None:
                preset.edit_header(header)
            if signing == "none":
                header["alg"] = "none"
            elif signing == "hs256-public":
                header["alg"] = "HS256"
        if preset is None:
            # Every good token of one key has the same header: encode it once per key.
            head_key = (header["alg"], header["kid"], header.get("typ"), header.get("x5t"))
            head = self._headers.get(head_key)
            if head is None:
                head = self._headers.setdefault(head_key, _b64json(header))
        else:
            head = _b64json(header)
        signing_input = f"{head}.{_b64json(claims)}".encode("ascii")
        if signing == "none":
            signature = b""
        elif signing == "hs256-public":
            # PyJWT refuses a PEM public key as an HMAC secret (on purpose), so build it by hand.
            signature = hmac.new(keys.active.public_key_pem(), signing_input, hashlib.sha256).digest()
        else:
            signature = sign(key.alg, key.key, signing_input)
        token = signing_input.decode("ascii")
        if signing != "truncated":
            token = f"{token}.{b64url(signature)}"
        exp = claims.get("exp")
        return Minted(
            token=token,
            header=header,
            claims=claims,
            issuer_id=issuer.id,
            principal=principal.name,
            expires_at=int(exp) if isinstance(exp, int | float) else None,
            fault=preset,
        )
