"""Test helpers: locally generated keys, hand-made tokens and a tiny real HTTP issuer.

The tiny issuer (stdlib ThreadingHTTPServer on 127.0.0.1, published as http://localhost:<port>)
serves a discovery document and a JWKS that a test can change between requests; it stands in for
an identity provider when a test needs exact control over what is published.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

from wif_notebook.oidc import ProviderConfig, jwk_thumbprint

ALGORITHMS = get_default_algorithms()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_jwk(private_key: Any, kid: str | None = None) -> dict[str, Any]:
    """The public JWK for a private key; kid defaults to the RFC 7638 thumbprint."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    jwk.pop("key_ops", None)
    jwk["kid"] = kid if kid is not None else jwk_thumbprint(jwk)
    return jwk


def make_token(
    claims: dict[str, Any],
    private_key: Any = None,
    *,
    header: dict[str, Any] | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact JWS with exactly this header and payload (nothing added behind the test's back)."""
    header = {"alg": "RS256", "typ": "JWT"} if header is None else header
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    if signature is None:
        alg = header.get("alg", "RS256")
        if alg == "none":
            signature = b""
        else:
            algorithm = ALGORITHMS[alg]
            signature = algorithm.sign(signing_input, algorithm.prepare_key(private_key))
    return f"{head}.{body}.{b64(signature)}"


@dataclass
class Issuer:
    """A running tiny issuer: its URL, the documents it serves and what it was asked for."""

    base: str
    path: str = "/kit"
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    status: int = 200
    # An issuer that is slow to respond: each answer waits until the test opens the gate.
    gate: threading.Event | None = None

    @property
    def issuer(self) -> str:
        return self.base + self.path

    def discovery(self) -> dict[str, Any]:
        doc = {
            "issuer": self.issuer,
            "jwks_uri": self.issuer + "/jwks",
            "token_endpoint": self.issuer + "/token",
        }
        doc.update(self.discovery_overrides)
        return doc


@contextmanager
def tiny_issuer(path: str = "/kit") -> Iterator[Issuer]:
    """Serve discovery + JWKS on 127.0.0.1; the issuer URL says http://localhost:<port>."""
    state: dict[str, Issuer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            issuer = state["issuer"]
            issuer.requests.append((self.path, {k: v for k, v in self.headers.items()}))
            if issuer.gate is not None:
                issuer.gate.wait(timeout=30)
            if issuer.status != 200:
                self._send(issuer.status, {"error": "server_error"})
            elif self.path == issuer.path + "/.well-known/openid-configuration":
                self._send(200, issuer.discovery())
            elif self.path == issuer.path + "/jwks":
                self._send(200, issuer.jwks)
            else:
                self._send(404, {"error": "not_found"})

        def _send(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    state["issuer"] = Issuer(base=f"http://localhost:{port}", path=path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state["issuer"]
    finally:
        server.shutdown()
        server.server_close()


def good_claims(issuer: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "billing-api",
        "aud": "api://mongodb-kit",
        "exp": now + 3600,
        "nbf": now,
        "iat": now,
        "groups": ["readers", "writers"],
    }
    claims.update(extra)
    return claims


def provider_for(issuer: str, **overrides: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "issuer": issuer,
        "audience": "api://mongodb-kit",
        "auth_name_prefix": "kit",
        "authorization_claim": "groups",
        "supports_human_flows": False,
    }
    fields.update(overrides)
    return ProviderConfig(**fields)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())
