"""A real mock IdP process shared by a test module, and small HTTP helpers to talk to it."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import jwt
import pytest
import yaml

from wif_notebook.httpclient import Client, Response
from wif_notebook.idp.service import start_idp, stop_idp
from wif_notebook.state import ServiceRecord, StateDir

# Paths a real host serves in the clear (metadata servers) or the kit only on loopback (admin).
PLAIN_HTTP_PATHS = ("/metadata/", "/computeMetadata/", "/_wif/")


class Idp:
    """A running IdP: its record, state and helpers. Issuer endpoints are reached over TLS
    (trusting the kit CA), metadata and admin endpoints in the clear, as clients do."""

    def __init__(self, state: StateDir, record: ServiceRecord) -> None:
        self.state = state
        self.record = record
        self.base_url: str = record.extra["https_base_url"]
        self.port = record.port
        self.client = Client(state=state)

    def issuer(self, issuer_id: str) -> str:
        return str(self.record.extra["issuers"][issuer_id]["issuer"])

    def audience(self, issuer_id: str) -> str:
        return str(self.record.extra["issuers"][issuer_id]["audience"])

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Response:
        """Through the kit's own HTTP client: over TLS trusting the kit CA, but metadata and admin
        paths in the clear, as their clients call them."""
        base = f"http://127.0.0.1:{self.port}" if path.startswith(PLAIN_HTTP_PATHS) else self.base_url
        return self.client.send(method, base + path, headers=headers, data=body)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post_form(
        self, path: str, form: dict[str, str], *, headers: dict[str, str] | None = None
    ) -> Response:
        return self.request(
            "POST",
            path,
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
            body=urlencode(form).encode(),
        )

    def post_json(self, path: str, doc: dict[str, Any]) -> Response:
        return self.request(
            "POST", path, headers={"Content-Type": "application/json"}, body=json.dumps(doc).encode()
        )

    def token_path(self, issuer_id: str) -> str:
        # As mongod does, one trailing '/' of the issuer (Entra v1) goes before the well-known path.
        doc = self.get(
            self.issuer(issuer_id).rstrip("/").removeprefix(self.base_url)
            + "/.well-known/openid-configuration"
        )
        return str(doc.json()["token_endpoint"]).removeprefix(self.base_url)

    def catalog_entry(self, name: str) -> dict[str, Any]:
        doc = yaml.safe_load(self.state.principals_file.read_text())
        return next(p for p in doc["principals"] if p["name"] == name)

    def basic(self, name: str) -> dict[str, str]:
        entry = self.catalog_entry(name)
        raw = f"{entry['client_id']}:{entry['client_secret']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def mint(self, **body: Any) -> dict[str, Any]:
        reply = self.post_json("/_wif/mint", body)
        assert reply.status == 200, reply.body
        doc: dict[str, Any] = reply.json()
        return doc

    def jwks(self, issuer_id: str) -> dict[str, Any]:
        disc = self.get(
            self.issuer(issuer_id).rstrip("/").removeprefix(self.base_url)
            + "/.well-known/openid-configuration"
        )
        doc: dict[str, Any] = self.get(str(disc.json()["jwks_uri"]).removeprefix(self.base_url)).json()
        return doc

    def verify(self, token: str, issuer_id: str, audience: str | None = None) -> dict[str, Any]:
        """Verify like a resource server: key by kid from the issuer's JWKS, then iss/aud/exp."""
        kid = jwt.get_unverified_header(token)["kid"]
        jwk = next(k for k in self.jwks(issuer_id)["keys"] if k["kid"] == kid)
        key = jwt.PyJWK(jwk)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[jwk["alg"]],
            audience=audience or self.audience(issuer_id),
            issuer=self.issuer(issuer_id),
        )
        return claims


T = TypeVar("T")


def eventually(probe: Callable[[], T], *, status: int | None = None, timeout: float = 3.0) -> T:
    """Call ``probe`` until it returns something truthy (or a Response with ``status``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        ok = value.status == status if isinstance(value, Response) and status is not None else bool(value)
        if ok or time.monotonic() > deadline:
            assert ok, f"still {value!r} after {timeout} s"
            return value
        time.sleep(0.05)


def start(state: StateDir, **kwargs: Any) -> Idp:
    return Idp(state, start_idp(state, 0, **kwargs))


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """One IdP process per test module (token files refreshed every second)."""
    state = StateDir(Path(tmp_path_factory.mktemp("idp")) / "state")
    running = start(state, token_refresh=1.0)
    yield running
    stop_idp(state)
