"""Per-issuer signing keys of the mock IdP: persisted, published as a JWKS, rotated on request.

Each issuer has a folder ``keys/<issuer-id>/`` in the state directory holding one private PEM file
per key (0600) and ``keyring.json`` (which keys are published, which one signs). Keys survive a
restart, so a mongod that cached the JWKS keeps working after ``wif idp stop/start``.

- ``kid`` is the RFC 7638 thumbprint of the public key: stable across restarts, never reused.
- RS256 with RSA-2048 by default; ES256 (P-256) on request. EC coordinates are exported by PyJWT's
  ``ECAlgorithm.to_jwk``, which pads them to full length (identity-provider reference §5).
- ``rotate()`` adds a key and signs with it; older keys stay published until ``retire()``.
- Two extra keys serve the fault presets only: an *unpublished* key (never in the JWKS) and, once a
  ``rsa-1024`` token was asked for, a *weak* 1024-bit key that is published so the verifier finds it
  and then refuses it for its strength.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ..errors import ConfigError, StateError
from ..state import StateDir, write_private

SUPPORTED_ALGS = ("RS256", "ES256")
DEFAULT_ALG = "RS256"
KEYRING_FILE = "keyring.json"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_RS256 = RSAAlgorithm(RSAAlgorithm.SHA256)
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_ES256 = ECAlgorithm(ECAlgorithm.SHA256)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_private_key(alg: str = DEFAULT_ALG, *, rsa_bits: int = 2048) -> PrivateKey:
    """A fresh private key for ``alg`` (RS256 → RSA, ES256 → P-256)."""
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ConfigError(
        f"unsupported signing algorithm {alg!r}",
        hint=f"use one of {', '.join(SUPPORTED_ALGS)} (a MongoDB server verifies RS256 and ES256)",
    )


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    """The public JWK members (RSA: kty, n, e; EC: kty, crv, x, y), coordinates full length."""
    if isinstance(key, rsa.RSAPrivateKey):
        doc = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {"kty": "RSA", "n": doc["n"], "e": doc["e"]}
    doc = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {"kty": "EC", "crv": doc["crv"], "x": doc["x"], "y": doc["y"]}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url): the required members, sorted, no spaces."""
    required = ("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def alg_of(key: PrivateKey) -> str:
    return "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"


def sign(alg: str, key: PrivateKey, signing_input: bytes) -> bytes:
    """A JWS signature with PyJWT's algorithm objects (ES256 gives raw r‖s, as JWS requires)."""
    if alg == "RS256" and isinstance(key, rsa.RSAPrivateKey):
        # The loaded key signs directly (RSASSA-PKCS1-v1_5 with SHA-256 is RS256, RFC 7518 §3.3):
        # no per-call padding and hash objects as PyJWT's generic path makes them.
        return key.sign(signing_input, _PKCS1V15, _SHA256)
    if alg == "RS256":
        return _RS256.sign(signing_input, key)  # type: ignore[arg-type]
    if alg == "ES256":
        return _ES256.sign(signing_input, key)  # type: ignore[arg-type]
    raise ValueError(f"cannot sign with {alg}")


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class SigningKey:
    """One key of an issuer: ``published`` keys appear in the JWKS; ``weak`` marks the RSA-1024 one."""

    kid: str
    alg: str
    key: PrivateKey
    created: float
    published: bool = True
    weak: bool = False

    def jwk(self) -> dict[str, Any]:
        """The JWKS entry: public members plus kid, use and alg."""
        return {**public_jwk(self.key), "kid": self.kid, "use": "sig", "alg": self.alg}

    def public_key_pem(self) -> bytes:
        return public_pem(self.key)


class IssuerKeys:
    """The keys of one issuer, loaded from (and saved to) ``keys/<issuer-id>/``."""

    def __init__(self, folder: Path, issuer_id: str) -> None:
        self.folder = folder
        self.issuer_id = issuer_id
        self._lock = threading.RLock()
        self.keys: list[SigningKey] = []
        self.active_kid = ""
        self._load_or_create()

    # -- persistence ----------------------------------------------------------------------------
    def _keyring_path(self) -> Path:
        return self.folder / KEYRING_FILE

    def _load_or_create(self) -> None:
        path = self._keyring_path()
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._add(generate_private_key(DEFAULT_ALG), activate=True)
            return
        try:
            doc = json.loads(path.read_text())
            for entry in doc["keys"]:
                pem = (self.folder / f"{entry['kid']}.pem").read_bytes()
                key = serialization.load_pem_private_key(pem, password=None)
                if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                    raise ValueError(f"key {entry['kid']} is neither RSA nor EC")
                self.keys.append(
                    SigningKey(
                        kid=str(entry["kid"]),
                        alg=str(entry["alg"]),
                        key=key,
                        created=float(entry.get("created", 0)),
                        published=bool(entry.get("published", True)),
                        weak=bool(entry.get("weak", False)),
                    )
                )
            self.active_kid = str(doc["active"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"cannot read the signing keys of issuer {self.issuer_id!r} in {self.folder}: {exc}",
                hint=f"remove {self.folder} to generate new keys (tokens signed by the old ones "
                "stop verifying), or run `wif reset`",
            ) from exc
        if not any(k.kid == self.active_kid for k in self.keys):
            raise StateError(
                f"the keyring of issuer {self.issuer_id!r} names an active key {self.active_kid!r} "
                "that it does not hold",
                hint=f"remove {self.folder} to generate new keys, or run `wif reset`",
            )

    def _save(self) -> None:
        doc = {
            "issuer": self.issuer_id,
            "active": self.active_kid,
            "keys": [
                {
                    "kid": k.kid,
                    "alg": k.alg,
                    "created": k.created,
                    "published": k.published,
                    "weak": k.weak,
                }
                for k in self.keys
            ],
        }
        write_private(self._keyring_path(), json.dumps(doc, indent=2))

    def _add(
        self, key: PrivateKey, *, activate: bool, published: bool = True, weak: bool = False
    ) -> SigningKey:
        kid = thumbprint(public_jwk(key))
        entry = SigningKey(
            kid=kid, alg=alg_of(key), key=key, created=time.time(), published=published, weak=weak
        )
        write_private(self.folder / f"{kid}.pem", _pem(key))
        self.keys.append(entry)
        if activate:
            self.active_kid = kid
        self._save()
        return entry

    # -- use ------------------------------------------------------------------------------------
    @property
    def active(self) -> SigningKey:
        with self._lock:
            return next(k for k in self.keys if k.kid == self.active_kid)

    def find(self, kid: str) -> SigningKey | None:
        with self._lock:
            return next((k for k in self.keys if k.kid == kid and k.published), None)

    def jwks(self) -> dict[str, Any]:
        """The JWKS document: every published key, the signing key first."""
        with self._lock:
            published = [k for k in self.keys if k.published]
            published.sort(key=lambda k: k.kid != self.active_kid)
            return {"keys": [k.jwk() for k in published]}

    def rotate(self, alg: str = DEFAULT_ALG) -> SigningKey:
        """Add a new key and sign with it from now on; the previous keys stay published."""
        with self._lock:
            return self._add(generate_private_key(alg), activate=True)

    def retire(self, kid: str | None = None) -> str:
        """Stop publishing a key: ``kid``, or else the oldest published key that does not sign."""
        with self._lock:
            if kid is not None:
                target = next((k for k in self.keys if k.kid == kid and k.published), None)
                if target is None:
                    raise ConfigError(
                        f"issuer {self.issuer_id!r} publishes no key with kid {kid!r}",
                        hint="list the published kids with `wif idp status --json` "
                        f"or GET <issuer>/jwks; published: {', '.join(self.published_kids())}",
                    )
                if target.kid == self.active_kid:
                    raise ConfigError(
                        f"key {kid} is the one issuer {self.issuer_id!r} signs with",
                        hint="run `wif idp rotate-keys` first so another key signs, then retire this one",
                    )
            else:
                candidates = [k for k in self.keys if k.published and k.kid != self.active_kid]
                if not candidates:
                    raise ConfigError(
                        f"nothing to retire: issuer {self.issuer_id!r} publishes only the key it signs "
                        f"with ({self.active_kid})",
                        hint="rotate first (`wif idp rotate-keys`, or `%wif_idp rotate-keys` in a "
                        "notebook), then retire the old key; the signing key itself cannot be retired, "
                        "its tokens would stop verifying",
                    )
                target = min(candidates, key=lambda k: k.created)
            self.keys.remove(target)
            (self.folder / f"{target.kid}.pem").unlink(missing_ok=True)
            self._save()
            return target.kid

    def published_kids(self) -> list[str]:
        with self._lock:
            return [k.kid for k in self.keys if k.published]

    def unpublished(self) -> SigningKey:
        """A key that never appears in the JWKS (fault presets unknown-kid, bad-signature)."""
        with self._lock:
            for k in self.keys:
                if not k.published:
                    return k
            return self._add(generate_private_key(DEFAULT_ALG), activate=False, published=False)

    def weak(self) -> SigningKey:
        """A published RSA-1024 key (fault preset rsa-1024); created on first use."""
        with self._lock:
            for k in self.keys:
                if k.weak:
                    return k
            key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
            return self._add(key, activate=False, published=True, weak=True)


class KeyStore:
    """All issuers' keys under ``state.keys_dir``; issuers are created on first use."""

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._issuers: dict[str, IssuerKeys] = {}

    def retire(self, issuer_ids: list[str], kid: str | None = None) -> dict[str, str]:
        """Retire ``kid`` (at whichever of ``issuer_ids`` publishes it), or else each issuer's oldest
        key that does not sign; issuer id → retired kid.

        Issuers with nothing to retire are passed over; when none had anything, ConfigError says so
        and what to do (rotate first).
        """
        if kid is not None and len(issuer_ids) > 1:
            issuer_ids = [i for i in issuer_ids if kid in self.issuer(i).published_kids()] or issuer_ids[:1]
        retired: dict[str, str] = {}
        errors: list[ConfigError] = []
        for issuer_id in issuer_ids:
            try:
                retired[issuer_id] = self.issuer(issuer_id).retire(kid)
            except ConfigError as exc:
                errors.append(exc)
        if not retired and len(errors) > 1:
            signing = ", ".join(f"{i}: {self.issuer(i).active.kid}" for i in issuer_ids)
            raise ConfigError(
                f"nothing to retire: every issuer publishes only the key it signs with ({signing})",
                hint=errors[0].hint,
            )
        if not retired and errors:
            raise errors[0]
        return retired

    def issuer(self, issuer_id: str) -> IssuerKeys:
        with self._lock:
            keys = self._issuers.get(issuer_id)
            if keys is None:
                folder = self.state.subdir("keys") / issuer_id
                keys = IssuerKeys(folder, issuer_id)
                self._issuers[issuer_id] = keys
            return keys
