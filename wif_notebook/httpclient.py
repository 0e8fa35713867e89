"""The one HTTP client every kit client uses: timeouts, proxy policy, the kit CA, errors in plain words.

``Client(state=...)`` sends a request and returns a ``Response`` for any HTTP status (the caller
decides what a 400 means); only "no answer at all" raises, as ``ServiceError`` with the reason and a
next step (connection refused, timeout, an untrusted certificate). Its policy, in one place:

- **TLS**: the system's roots plus the kit CA of the state directory (``tls.client_context``);
  never a verify-off switch.
- **Proxies**: a loopback address (``localhost``, ``127.0.0.0/8``, ``::1``) is never reached through a
  proxy: the kit's services live there, and a proxy set up for a cloud SDK must not capture them.
  Any other host follows the environment (``HTTPS_PROXY``, ``NO_PROXY``), as other clients do.
- **Timeouts**: ``DEFAULT_TIMEOUT`` seconds unless the caller says otherwise.

Tests swap the network for a function, as httpx's ``MockTransport`` does:
``Client(transport=lambda request: Response(200, {}, b"{}", request.url))``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit

from .errors import ServiceError
from .state import StateDir

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack for **kwargs needs Python 3.11

DEFAULT_TIMEOUT = 10.0
DEFAULT_USER_AGENT = "wif-notebook"
MAX_BODY_BYTES = 16 << 20


@dataclass(frozen=True)
class Request:
    """One request as the transport sees it."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    max_bytes: int = MAX_BODY_BYTES


@dataclass(frozen=True)
class Response:
    """One answer: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    truncated: bool = field(default=False, repr=False)  # the body was longer than max_bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON (ValueError if it is not)."""
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Transport = Callable[[Request], Response]


class SendOptions(TypedDict, total=False):
    """What ``Client.send`` takes beside the method and URL (``Client.request`` passes them on)."""

    headers: Mapping[str, str] | None
    data: bytes | None
    timeout: float | None
    max_bytes: int


class TransportError(Exception):
    """No answer: ``kind`` is ``connect``, ``timeout`` or ``tls``; ``reason`` in plain words;
    ``detail`` the library's own words (OpenSSL's verify message for ``tls``)."""

    def __init__(self, kind: str, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.detail = detail or reason


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address (never sent through a proxy)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect is an answer for the caller to judge (mongod does not follow them for JWKS either).
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def urllib_transport(context: ssl.SSLContext) -> Transport:
    """The real network: urllib with ``context`` for https and the proxy policy above."""

    def send(request: Request) -> Response:
        host = urlsplit(request.url).hostname
        proxies: dict[str, str] | None = {} if is_loopback_host(host) else None  # None: the environment's
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler(proxies),
            urllib.request.HTTPSHandler(context=context),
            _NoRedirect(),
        )
        raw = urllib.request.Request(
            request.url, data=request.body, method=request.method, headers=dict(request.headers)
        )
        try:
            with opener.open(raw, timeout=request.timeout) as answer:
                body = answer.read(request.max_bytes + 1)
                status, headers = answer.status, answer.headers
        except urllib.error.HTTPError as exc:
            body = exc.read(request.max_bytes + 1) if exc.fp is not None else b""
            status, headers = exc.code, exc.headers
        except urllib.error.URLError as exc:
            raise _transport_error(exc.reason) from exc
        except (OSError, ssl.SSLError) as exc:
            raise _transport_error(exc) from exc
        return Response(
            status,
            {k.lower(): v for k, v in (headers.items() if headers else [])},
            body[: request.max_bytes],
            request.url,
            truncated=len(body) > request.max_bytes,
        )

    return send


def _transport_error(reason: Any) -> TransportError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        message = str(reason.verify_message)
        return TransportError("tls", f"its TLS certificate is not trusted ({message})", message)
    if isinstance(reason, ssl.SSLError):
        message = str(reason.reason or reason)
        return TransportError("tls", f"the TLS handshake failed ({message})", message)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return TransportError("timeout", "it did not answer in time")
    if isinstance(reason, ConnectionRefusedError):
        return TransportError("connect", "connection refused (nothing listens there)")
    if isinstance(reason, socket.gaierror):
        return TransportError("connect", f"the host name does not resolve ({reason.strerror or reason})")
    return TransportError("connect", str(getattr(reason, "strerror", None) or reason))


def tls_hint(state: StateDir | None) -> str:
    """What to do when a certificate is not trusted (the kit CA is the usual answer)."""
    from .state import default_state_path
    from .tls import paths

    where = paths(state).ca_cert if state is not None else default_state_path() / "tls" / "ca.pem"
    return (
        f"the kit's IdP certificate is signed by the kit CA ({where}); a client outside the kit trusts it "
        'after `eval "$(wif env)"` (REQUESTS_CA_BUNDLE, SSL_CERT_FILE); for any other issuer, '
        "check that its certificate is valid for the host name"
    )


class Client:
    """Requests with the kit's policy (module docstring). Cheap to create; safe to share."""

    def __init__(
        self,
        *,
        state: StateDir | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        user_agent: str = DEFAULT_USER_AGENT,
        transport: Transport | None = None,
    ) -> None:
        from .tls import client_context

        self.state = state
        self.timeout = timeout
        self.user_agent = user_agent
        self.transport = transport if transport is not None else urllib_transport(client_context(state))

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        timeout: float | None = None,
        max_bytes: int = MAX_BODY_BYTES,
    ) -> Response:
        """One request; raises TransportError when there is no answer (``request`` maps it)."""
        merged = {"User-Agent": self.user_agent, **dict(headers or {})}
        return self.transport(
            Request(method, url, merged, data, self.timeout if timeout is None else timeout, max_bytes)
        )

    def request(
        self, method: str, url: str, *, hint: str | None = None, **options: Unpack[SendOptions]
    ) -> Response:
        """``send``, but no answer at all is a ServiceError naming the URL, the reason and ``hint``."""
        try:
            return self.send(method, url, **options)
        except TransportError as exc:
            if exc.kind == "tls":
                next_step = tls_hint(self.state)
            else:
                next_step = hint or "is the identity provider running? `wif idp start` (or `wif up`)"
            raise ServiceError(f"cannot reach {url}: {exc.reason}", hint=next_step) from exc

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)
