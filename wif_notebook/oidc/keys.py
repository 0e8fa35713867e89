"""JWKS discovery and caching as mongod does it (mongodb-oidc reference §10, identity-provider §4).

``KeySetCache`` finds the JWKS through ``<issuer>/.well-known/openid-configuration``, loads the keys
with mongod's key rules, remembers keys it refused (so a token signed by a published 1024-bit key
fails ``key.strength`` with the reason instead of a puzzling "unknown kid"), and reloads once, just
in time, when a token names a kid it does not know. It is shared by the test server's worker
threads, so every refresh happens under one lock and readers see an immutable snapshot.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .rules import RuleFailure
from .tokenparse import b64url_decode

if TYPE_CHECKING:
    from ..state import StateDir

MIN_RSA_MODULUS_BYTES = 2048 // 8
EC_COORDINATE_BYTES = {"P-256": 32, "P-384": 48}
_EC_CURVES: dict[str, ec.EllipticCurve] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
DISCOVERY_PATH = "/.well-known/openid-configuration"
_DISCOVERY_URL_FIELDS = (
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
)
_MAX_DOCUMENT_BYTES = 1 << 20

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
Fetch = Callable[[str], Any]


def endpoint_is_secure(url: str, allow_insecure_localhost: bool) -> bool:
    """mongod's ``HttpClient::endpointIsSecure``: https, or exactly ``http://localhost[:port][/...]``.

    Plain http is allowed only with ``enableTestCommands`` and only for the literal host
    ``localhost``: ``http://127.0.0.1`` and ``http://localhost.example`` are refused.
    """
    if url.startswith("https://"):
        return True
    if not allow_insecure_localhost:
        return False
    prefix = "http://localhost"
    if not url.startswith(prefix):
        return False
    rest = url[len(prefix) :]
    return rest == "" or rest[0] in ":/"


def discovery_url(issuer: str) -> str:
    """``<issuer without one trailing '/'>/.well-known/openid-configuration``."""
    return (issuer[:-1] if issuer.endswith("/") else issuer) + DISCOVERY_PATH


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of a public JWK: a stable fingerprint of the key."""
    kty = jwk.get("kty")
    members = ("crv", "kty", "x", "y") if kty == "EC" else ("e", "kty", "n")
    canonical = json.dumps({m: jwk.get(m) for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LoadedKey:
    """A key mongod would load: its kid, type, public key object and fingerprint."""

    kid: str
    kty: str
    public_key: PublicKey
    jwk: dict[str, Any]
    fingerprint: str


@dataclass(frozen=True)
class RejectedKey:
    """A key published in the JWKS that mongod would not load, and why."""

    kid: str
    kty: str
    reason: str
    jwk: dict[str, Any] = field(default_factory=dict)


def _b64_int_bytes(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"IDLFailedToParse: BSON field 'JWK.{name}' is missing but a required field")
    try:
        return b64url_decode(value)
    except ValueError as exc:
        raise ValueError(f"BadValue: JWK member '{name}' is not base64url: {exc}") from exc


def load_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Apply mongod's key rules to one JWK; raises ValueError with the reason it is refused."""
    kty = jwk.get("kty")
    if kty == "RSA":
        n = _b64_int_bytes(jwk, "n").lstrip(b"\0")
        e_raw = _b64_int_bytes(jwk, "e")
        e = e_raw.lstrip(b"\0")
        if len(n) < MIN_RSA_MODULUS_BYTES:
            raise ValueError(
                f"BadValue: Key scale is smaller ({len(n) * 8} bits) than minimum required: "
                f"{MIN_RSA_MODULUS_BYTES * 8}"
            )
        if not (len(e) > 1 or (len(e) == 1 and e[0] >= 3)):
            encoded = base64.urlsafe_b64encode(e_raw).rstrip(b"=").decode()
            raise ValueError(f"BadValue: Public key component invalid: {encoded}")
        try:
            return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()
        except ValueError as exc:
            raise ValueError(f"BadValue: invalid RSA public key: {exc}") from exc
    if kty == "EC":
        crv = jwk.get("crv")
        if crv not in EC_COORDINATE_BYTES:
            raise ValueError(f"BadValue: EC curve '{crv}' is not supported (P-256 and P-384 are)")
        size = EC_COORDINATE_BYTES[str(crv)]
        x = _b64_int_bytes(jwk, "x")
        y = _b64_int_bytes(jwk, "y")
        for name, coord in (("x", x), ("y", y)):
            if len(coord) != size:
                # RFC 7518 §6.2.1.2: coordinates are full length; a stripped leading zero is refused.
                raise ValueError(
                    f"BadValue: EC coordinate '{name}' must be exactly {size} bytes for {crv}, "
                    f"got {len(coord)}"
                )
        try:
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), _EC_CURVES[str(crv)]
            )
            return numbers.public_key()
        except ValueError as exc:
            raise ValueError(f"BadValue: EC point is not on curve {crv}: {exc}") from exc
    # mongod logs warning 8733001 and skips keys of other types.
    raise ValueError(f"BadValue: key type '{kty}' is not supported; the key was skipped")


DEFAULT_USER_AGENT = "wif-notebook"
# How long one discovery or JWKS request may take, for every key set the kit holds (the test mongod,
# `wif claims`, the doctor, the displays, the checks): one number, so they all agree on "unreachable".
KEYSET_TIMEOUT_SECS = 5.0


def http_fetcher(state: StateDir | None = None, *, user_agent: str = DEFAULT_USER_AGENT) -> Fetch:
    """GET a URL with ``Accept: */*`` (as mongod) through the kit's HTTP client and parse JSON.

    Trust is the system's roots plus the kit CA of ``state`` (the default state directory when
    None); loopback is never reached through a proxy. Failures are ConnectionError naming the URL.
    """
    from ..httpclient import Client, TransportError

    # The User-Agent tells the IdP's request log (and the flow diagrams) who fetched what.
    client = Client(state=state, timeout=KEYSET_TIMEOUT_SECS, user_agent=user_agent)

    def fetch(url: str) -> Any:
        try:
            response = client.send("GET", url, headers={"Accept": "*/*"}, max_bytes=_MAX_DOCUMENT_BYTES)
        except TransportError as exc:
            if exc.kind == "tls":
                # libcurl's words, which mongod's HTTP client passes on (exact log text UNCONFIRMED).
                raise ConnectionError(f"SSL certificate problem: {exc.detail}") from exc
            raise ConnectionError(f"cannot reach {url}: {exc.reason}") from exc
        if not response.ok:
            raise ConnectionError(f"HTTP {response.status} from {url}")
        if response.truncated:
            raise ConnectionError(f"{url} returned more than {_MAX_DOCUMENT_BYTES} bytes")
        try:
            return response.json()
        except (UnicodeDecodeError, ValueError) as exc:
            raise ConnectionError(f"{url} did not return JSON: {exc}") from exc

    return fetch


def keyset_for(
    issuer: str,
    *,
    state: StateDir | None,
    allow_insecure_localhost: bool,
    user_agent: str = DEFAULT_USER_AGENT,
) -> KeySetCache:
    """The kit's one way to hold an issuer's keys: its TLS trust (kit CA of ``state``) and timeout."""
    return KeySetCache(
        issuer,
        allow_insecure_localhost=allow_insecure_localhost,
        fetch=http_fetcher(state, user_agent=user_agent),
    )


@dataclass(frozen=True)
class _Snapshot:
    loaded: dict[str, LoadedKey]
    rejected: dict[str, RejectedKey]


class KeySetCache:
    """The JWKS of one issuer, as mongod's JWK manager holds it.

    ``fetch(url) -> parsed JSON`` is the HTTP client (used for discovery and JWKS); by default
    ``http_fetcher()``, the one the kit's factory ``keyset_for`` also uses. ``allow_insecure_localhost``
    mirrors ``enableTestCommands``.
    """

    def __init__(self, issuer: str, *, allow_insecure_localhost: bool, fetch: Fetch | None = None) -> None:
        self.issuer = issuer
        self.allow_insecure_localhost = allow_insecure_localhost
        self._fetch: Fetch = fetch if fetch is not None else http_fetcher()
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self.jwks_uri: str | None = None
        self.discovery: dict[str, Any] | None = None
        self.last_refresh: float | None = None
        self.refresh_count = 0

    def __repr__(self) -> str:
        snap = self._snapshot
        n = len(snap.loaded) if snap else 0
        return f"KeySetCache({self.issuer!r}, keys={n})"

    def _fail(self, message: str, hint: str) -> RuleFailure:
        return RuleFailure("key.kid", message, hint=hint)

    def _get(self, url: str, what: str) -> Any:
        if not endpoint_is_secure(url, self.allow_insecure_localhost):
            raise self._fail(
                f"BadValue: Refusing to fetch {what} from insecure endpoint '{url}'",
                hint="mongod fetches only https:// URLs, or http://localhost with enableTestCommands "
                "(http://127.0.0.1 is refused): use the kit's https://localhost:<port> issuer, or its "
                "http://localhost:<port> form with enableTestCommands",
            )
        try:
            return self._fetch(url)
        except (ConnectionError, OSError, ValueError, LookupError) as exc:
            if "SSL certificate problem" in str(exc):
                hint = (
                    "the server must trust the CA that signed the issuer's certificate: the kit's "
                    "IdP is signed by the kit CA of its state directory (tls/ca.pem), which the test "
                    "mongod of that state directory trusts; a real mongod needs it in the system CA store"
                )
            else:
                hint = "start the identity provider (wif idp start) and check that the issuer URL is right"
            raise self._fail(f"OperationFailed: Failed to fetch {what} from {url}: {exc}", hint=hint) from exc

    def _discover(self) -> str:
        url = discovery_url(self.issuer)
        doc = self._get(url, "the OpenID discovery document")
        if not isinstance(doc, dict):
            raise self._fail(
                f"FailedToParse: the discovery document at {url} is not a JSON object",
                hint="serve a JSON object with 'issuer' and 'jwks_uri'",
            )
        for name in ("issuer", "jwks_uri"):
            if not isinstance(doc.get(name), str):
                raise self._fail(
                    "IDLFailedToParse: BSON field 'OAuthAuthorizationServerMetadata."
                    f"{name}' is missing but a required field (discovery document {url})",
                    hint="the discovery document must contain 'issuer' and 'jwks_uri'",
                )
        for name in _DISCOVERY_URL_FIELDS:
            value = doc.get(name)
            if isinstance(value, str) and not endpoint_is_secure(value, self.allow_insecure_localhost):
                raise self._fail(
                    f"BadValue: discovery document {url} field '{name}' is an insecure endpoint '{value}'",
                    hint="every endpoint must be https://, or http://localhost with enableTestCommands",
                )
        # Newer servers also require doc["issuer"] to equal the configured issuer; whether 7.0 does
        # is UNCONFIRMED (reference §10), so like 7.0 as documented the kit does not compare them.
        self.discovery = doc
        return str(doc["jwks_uri"])

    def _load(self, jwks: Any, url: str) -> _Snapshot:
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list):
            raise self._fail(
                f"IDLFailedToParse: BSON field 'JWKSet.keys' is missing but a required field ({url})",
                hint='the JWKS must be a JSON object {"keys": [...]}',
            )
        loaded: dict[str, LoadedKey] = {}
        rejected: dict[str, RejectedKey] = {}
        for jwk in keys:
            if not isinstance(jwk, dict):
                raise self._fail(f"FailedToParse: a key in {url} is not a JSON object", hint="fix the JWKS")
            kid = jwk.get("kid")
            kty = str(jwk.get("kty", ""))
            if not isinstance(kid, str):
                raise self._fail(
                    f"IDLFailedToParse: BSON field 'JWK.kid' is missing but a required field ({url})",
                    hint="every published key needs a 'kid'",
                )
            if kid == "":
                raise self._fail(f"BadValue: Key ID must be non-empty ({url})", hint="give every key a kid")
            if kid in loaded or kid in rejected:
                # A duplicate kid fails the whole refresh: the previous keys stay in use.
                raise self._fail(
                    f"DuplicateKeyId: Key IDs must be unique, duplicate '{kid}' ({url})",
                    hint="the identity provider publishes two keys under one kid; give each key its own kid",
                )
            try:
                public_key = load_jwk(jwk)
            except ValueError as exc:
                rejected[kid] = RejectedKey(kid, kty, str(exc), dict(jwk))
                continue
            loaded[kid] = LoadedKey(kid, kty, public_key, dict(jwk), jwk_thumbprint(jwk))
        return _Snapshot(loaded, rejected)

    def refresh(self) -> set[str]:
        """Reload discovery and the JWKS; returns the kids removed or changed since the last load.

        On any failure the previous keys stay in use and ``RuleFailure("key.kid")`` is raised.
        """
        with self._lock:
            jwks_uri = self._discover()
            jwks = self._get(jwks_uri, "the JWKS")
            snapshot = self._load(jwks, jwks_uri)
            previous = self._snapshot
            self._snapshot = snapshot
            self.jwks_uri = jwks_uri
            self.last_refresh = time.time()
            self.refresh_count += 1
        if previous is None:
            return set()
        return {
            kid
            for kid, old in previous.loaded.items()
            if kid not in snapshot.loaded or snapshot.loaded[kid].jwk != old.jwk
        }

    def _ensure_loaded(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            self.refresh()
            snapshot = self._snapshot
        assert snapshot is not None
        return snapshot

    def key_for(self, kid: str) -> LoadedKey:
        """The loaded key with this kid; an unknown kid triggers one just-in-time refresh.

        Raises RuleFailure ``key.strength`` when the kid names a published key that mongod would
        refuse, ``key.kid`` when it is not published at all or the JWKS cannot be fetched.
        """
        snapshot = self._snapshot
        if snapshot is None or kid not in snapshot.loaded:
            self.refresh()
            snapshot = self._ensure_loaded()
        key = snapshot.loaded.get(kid)
        if key is not None:
            return key
        rejected = snapshot.rejected.get(kid)
        if rejected is not None:
            raise RuleFailure(
                "key.strength",
                f"{rejected.reason} (key '{kid}' is published in the JWKS but mongod refuses to load it)",
            )
        raise RuleFailure("key.kid", f"BadValue: Unknown JWT keyId << '{kid}'")

    def fingerprint(self, kid: str) -> str | None:
        """RFC 7638 thumbprint of the loaded key ``kid``, or None if it is not loaded."""
        snapshot = self._snapshot
        if snapshot is None or kid not in snapshot.loaded:
            return None
        return snapshot.loaded[kid].fingerprint

    @property
    def loaded_keys(self) -> dict[str, LoadedKey]:
        """The keys currently in use (empty before the first refresh)."""
        snapshot = self._snapshot
        return dict(snapshot.loaded) if snapshot else {}

    @property
    def rejected_keys(self) -> dict[str, RejectedKey]:
        """Published keys that were refused at the last refresh, with the reason."""
        snapshot = self._snapshot
        return dict(snapshot.rejected) if snapshot else {}
