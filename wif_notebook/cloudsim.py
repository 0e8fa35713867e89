"""Simulate an Azure VM or a Google Compute Engine host inside this Python process.

pymongo's built-in ``ENVIRONMENT:azure`` and ``ENVIRONMENT:gcp`` call hard-coded metadata URLs
(``http://169.254.169.254/metadata/identity/oauth2/token`` and
``http://metadata/computeMetadata/v1/instance/service-accounts/default/identity``) with
``urllib.request.urlopen``. Off a cloud host those calls hang until the callback timeout. While the
simulation is on, a process-wide urllib opener sends requests for exactly the metadata hosts the
cloud registry declares (``clouds.metadata_hosts()``: ``169.254.169.254``, ``metadata``,
``metadata.google.internal``) to the kit IdP, which serves the same endpoints, through the kit's
one HTTP client; every other request goes through the opener that was installed before (or
urllib's default), untouched. pymongo itself is not modified (identity-provider reference §3,
technique A).

Switch it on and off explicitly::

    with cloudsim.simulate(state):            # context manager
        ...
    cloudsim.enable(state); cloudsim.disable()  # or by hand (e.g. for a client that lives on)

``principal`` picks the identity the simulated host answers for: the Azure managed identity
(``client_id`` added when the request names none) or the Google service account (``default``
replaced by its e-mail), as on a VM that has exactly that identity attached.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from typing import Any

from . import clouds
from .errors import ConfigError
from .httpclient import DEFAULT_TIMEOUT, Client, TransportError
from .state import StateDir

_GCP_DEFAULT_ACCOUNT = "/service-accounts/default/"


@dataclass(frozen=True)
class MetadataRequest:
    """One redirected request: what pymongo asked for and what came back (never the raw token)."""

    method: str
    url: str
    redirected_to: str
    status: int
    elapsed_ms: float
    at: float
    claims: dict[str, Any] = field(default_factory=dict)
    # Kept in memory only, for the doctor to re-check what pymongo sent; never shown.
    token: str = field(default="", repr=False)


@dataclass
class _Simulation:
    target: str  # http://127.0.0.1:<port>
    previous: urllib.request.OpenerDirector | None
    principal: Any | None
    requests: list[MetadataRequest] = field(default_factory=list)


_lock = threading.Lock()
_active: _Simulation | None = None


def _answer_token(body: bytes, url: str) -> tuple[str, dict[str, Any]]:
    """The token in an IMDS (JSON) or GCP (raw JWT) answer, and its iss/sub/aud/exp for the report."""
    from .tokens import decode

    text = body.decode("utf-8", "replace").strip()
    if "/metadata/identity/" in url:
        try:
            text = str(json.loads(text).get("access_token", ""))
        except (ValueError, AttributeError):
            return "", {}
    try:
        claims = decode(text).claims
    except Exception:  # not a JWT (an error body): nothing to summarise
        return "", {}
    return text, {k: claims[k] for k in ("iss", "sub", "aud", "exp") if k in claims}


class _MetadataOpener(urllib.request.OpenerDirector):
    """Opens metadata-host URLs at the kit IdP, everything else with the previous opener."""

    def __init__(self, sim: _Simulation) -> None:
        super().__init__()
        self._sim = sim
        self._fallback = sim.previous or urllib.request.build_opener()
        self._hosts = clouds.metadata_hosts()
        # The kit IdP is on loopback: the one client reaches it directly, never through a proxy.
        self._client = Client()

    def open(self, fullurl: Any, data: Any = None, timeout: Any = None, **kwargs: Any) -> Any:
        request = fullurl if isinstance(fullurl, urllib.request.Request) else None
        url = request.full_url if request is not None else str(fullurl)
        host = urllib.parse.urlsplit(url).hostname
        if host not in self._hosts:
            if timeout is None:
                return self._fallback.open(fullurl, data)
            return self._fallback.open(fullurl, data, timeout)
        return self._redirect(request or urllib.request.Request(url, data=data), url, data, timeout)

    def _redirect(self, request: urllib.request.Request, url: str, data: Any, timeout: Any) -> Any:
        parts = urllib.parse.urlsplit(url)
        path, query = parts.path, parts.query
        principal = self._sim.principal
        if principal is not None:
            if path.startswith("/metadata/identity/") and "client_id=" not in query:
                query = f"{query}&client_id={urllib.parse.quote(principal.client_id)}".lstrip("&")
            if path.startswith("/computeMetadata/") and _GCP_DEFAULT_ACCOUNT in path:
                path = path.replace(_GCP_DEFAULT_ACCOUNT, f"/service-accounts/{principal.client_id}/")
        target = f"{self._sim.target}{path}" + (f"?{query}" if query else "")
        headers = dict(request.header_items())
        headers["Host"] = parts.netloc  # what the metadata server would see
        body = data if data is not None else request.data
        started = time.perf_counter()
        try:
            response = self._client.send(
                request.get_method(),
                target,
                headers=headers,
                data=body if isinstance(body, bytes) else None,  # metadata requests are GETs
                timeout=DEFAULT_TIMEOUT
                if timeout is None or not isinstance(timeout, (int, float))
                else timeout,
            )
        except TransportError as exc:
            raise urllib.error.URLError(
                f"the kit's simulated metadata server ({self._sim.target}) did not answer: {exc.reason}"
            ) from exc
        reply_headers = Message()
        for name, value in response.headers.items():
            reply_headers[name] = value
        self._record(request, url, target, response.status, started, response.body)
        if not response.ok:
            # The metadata server's own error (e.g. 400 invalid_resource): hand it back as urllib does.
            try:
                phrase = HTTPStatus(response.status).phrase
            except ValueError:
                phrase = ""
            raise urllib.error.HTTPError(url, response.status, phrase, reply_headers, _reader(response.body))
        return urllib.response.addinfourl(_reader(response.body), reply_headers, url, response.status)

    def _record(
        self, request: urllib.request.Request, url: str, target: str, status: int, started: float, body: bytes
    ) -> None:
        token, claims = _answer_token(body, url) if status == 200 else ("", {})
        entry = MetadataRequest(
            method=request.get_method(),
            url=url,
            redirected_to=target,
            status=status,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            at=time.time(),
            claims=claims,
            token=token,
        )
        with _lock:
            self._sim.requests.append(entry)


def _reader(payload: bytes) -> Any:
    import io

    return io.BytesIO(payload)


def enable(state: StateDir | None = None, *, principal: str | None = None) -> str:
    """Redirect the metadata hosts to the kit IdP (process-wide); returns the IdP address used.

    Calling it again replaces the simulated identity but keeps the original previous opener.
    """
    global _active
    from .idp.service import require_idp

    state = state if state is not None else StateDir()
    record = require_idp(
        state,
        what="cannot simulate a cloud host: the kit's identity provider is not running",
        hint="start the services with %wif_up (or `wif up`)",
    )
    who = None
    if principal is not None:
        from .idp.principals import find

        who = find(state, principal)
        hosts = clouds.metadata_identities()
        if who.kind not in {host.identity_kind for host in hosts.values()}:
            titles = " or ".join(host.identity_title for host in hosts.values())
            kinds = " or ".join(f"{host.identity_kind} ({i})" for i, host in hosts.items())
            raise ConfigError(
                f"{who.name!r} is a {who.kind}, not an {titles}",
                hint=f"use a principal with kind {kinds}; %wif_idp principals lists them",
            )
    target = f"http://{record.host}:{record.port}"
    with _lock:
        previous = _active.previous if _active is not None else urllib.request._opener  # type: ignore[attr-defined]
        sim = _Simulation(target=target, previous=previous, principal=who)
        _active = sim
        urllib.request.install_opener(_MetadataOpener(sim))
    return target


def disable() -> bool:
    """Restore the opener that was installed before ``enable``; True if a simulation was on."""
    global _active
    with _lock:
        if _active is None:
            return False
        previous = _active.previous
        _active = None
    urllib.request.install_opener(previous)  # None restores urllib's default
    return True


def active() -> bool:
    """Is a simulation on?"""
    return _active is not None


def requests() -> list[MetadataRequest]:
    """The metadata requests redirected by the current simulation, oldest first."""
    with _lock:
        return list(_active.requests) if _active is not None else []


@contextlib.contextmanager
def simulate(state: StateDir | None = None, *, principal: str | None = None) -> Iterator[str]:
    """``with simulate(state):`` — on for the block, then the previous state is restored."""
    global _active
    was_active = _active
    enable(state, principal=principal)
    try:
        yield _active.target if _active is not None else ""
    finally:
        if was_active is None:
            disable()
        else:
            with _lock:
                _active = was_active
            urllib.request.install_opener(_MetadataOpener(was_active))
