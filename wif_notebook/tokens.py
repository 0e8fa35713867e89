"""The client side of tokens: obtain them the ways a workload does, then decode, verify and explain them.

Every way of obtaining a token returns one ``IssuedToken``:

=======================  ==========================================================================
``client_credentials``   RFC 6749 §4.4 at the issuer's token endpoint (found through discovery),
                         client_secret_basic or client_secret_post
``azure_imds``           ``GET /metadata/identity/oauth2/token`` with ``Metadata: true`` (Azure VM)
``gcp_metadata``         ``GET /computeMetadata/v1/.../identity`` with ``Metadata-Flavor: Google``
``token_file``           a projected token file (Kubernetes, AKS, EKS) or ``OIDC_TOKEN_FILE``
``federated``            a workload's Kubernetes token traded for an Entra token (RFC 7523 client
                         assertion, Azure workload identity)
``from_callback``        any callable (or pymongo ``OIDCCallback``) returning a token
``mint``                 the kit IdP's admin mint, optionally with a fault preset
=======================  ==========================================================================

The cloud endpoints are the kit IdP's emulations at its own base URL: the requests are byte for
byte what pymongo's built-in ``ENVIRONMENT:azure`` / ``gcp`` send, only the host differs.
A raw token is never shown by ``repr``/``str``; it is ``IssuedToken.token`` when asked for.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The platforms' own ways of obtaining a token live in clouds/; lessons call them by these names.
from .clouds.azure import imds_token as azure_imds  # noqa: F401
from .clouds.gcp import metadata_token as gcp_metadata  # noqa: F401
from .clouds.k8s import token_path as k8s_token_path  # noqa: F401
from .errors import ConfigError, ServiceError, TokenError
from .httpclient import DEFAULT_TIMEOUT, Client, Response
from .idp.issuers import ISSUERS
from .oidc import (
    KeySetCache,
    ProviderConfig,
    RuleFailure,
    RuleResult,
    explain_token,
    keyset_for,
    parse_compact,
)
from .redaction import redact_token as redact
from .state import ServiceRecord, StateDir, read_text

if TYPE_CHECKING:  # the IdP package is imported lazily: tokens work without it for files/callbacks
    from .idp.principals import Principal


@dataclass(frozen=True)
class DecodedToken:
    """A token's header and claims, decoded without verifying anything."""

    header: dict[str, Any]
    claims: dict[str, Any]
    parts: tuple[str, str, str]
    signature: bytes


def decode(token: str) -> DecodedToken:
    """Split and decode a compact JWT; TokenError says what is malformed."""
    if not isinstance(token, str) or not token.strip():
        raise TokenError("no token given", hint="pass a JWT (it starts with 'eyJ'), or '-' to read stdin")
    text = token.strip()
    try:
        parsed = parse_compact(text)
    except RuleFailure as exc:
        # The rule book's text is what a MongoDB server logs for this token (one home for it).
        logged = f'; a MongoDB server refuses it and logs "{exc.message}"'
        dots = text.count(".")
        if dots != 2:
            looks = (
                "an opaque token (no dots)"
                if dots == 0
                else f"{dots + 1} parts separated by {dots} dot{'s' if dots > 1 else ''}"
            )
            raise TokenError(
                f"this is not a JWT: a JWT has three base64url parts separated by two dots, this has "
                f"{looks}{logged}",
                hint="MONGODB-OIDC accepts only JWT access tokens; make sure you copied the whole token "
                "and not an opaque token, a refresh token or a JSON response",
            ) from exc
        part = "header" if "header" in exc.message else "payload" if "payload" in exc.message else "signature"
        raise TokenError(
            f"the token's {part} cannot be decoded: {exc.message.split(': ', 1)[-1]}{logged}",
            hint="the token was truncated or altered while copying; copy it again in full",
        ) from exc
    return DecodedToken(parsed.header, parsed.claims, parsed.parts, parsed.signature)


@dataclass(frozen=True)
class IssuedToken:
    """One token and how it was obtained. ``repr``/``str`` never show the raw token."""

    token: str = field(repr=False)
    method: str
    principal: str | None
    issuer: str | None
    audience: str | list[str] | None
    expires_at: datetime | None
    obtained_at: datetime
    elapsed_ms: float
    source: str
    fault: dict[str, Any] | None = None

    @classmethod
    def build(
        cls,
        token: str,
        *,
        method: str,
        source: str,
        started: float,
        principal: str | None = None,
        fault: dict[str, Any] | None = None,
    ) -> IssuedToken:
        """Fill issuer, audience and expiry from the token itself (unverified)."""
        token = token.strip()
        claims: dict[str, Any] = {}
        try:
            claims = decode(token).claims
        except TokenError:
            pass  # an opaque/garbled token can still be handed back; claims stay empty
        exp = claims.get("exp")
        aud = claims.get("aud")
        return cls(
            token=token,
            method=method,
            principal=principal if principal is not None else _str_or_none(claims.get("sub")),
            issuer=_str_or_none(claims.get("iss")),
            audience=aud if isinstance(aud, (str, list)) else None,
            expires_at=datetime.fromtimestamp(exp, tz=timezone.utc)
            if isinstance(exp, (int, float)) and not isinstance(exp, bool)
            else None,
            obtained_at=datetime.now(tz=timezone.utc),
            elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            source=source,
            fault=fault,
        )

    @property
    def redacted(self) -> str:
        return redact(self.token)

    @property
    def header(self) -> dict[str, Any]:
        return decode(self.token).header

    @property
    def claims(self) -> dict[str, Any]:
        return decode(self.token).claims

    @property
    def expires_in(self) -> float | None:
        """Seconds until expiry (negative when expired), None when the token has no exp."""
        return None if self.expires_at is None else self.expires_at.timestamp() - time.time()

    def __str__(self) -> str:
        parts = [
            f"{self.method} token for {self.principal or '?'}",
            f"iss={self.issuer}",
            f"aud={self.audience}",
        ]
        if self.expires_in is not None:
            parts.append(f"expires in {int(self.expires_in)} s")
        if self.fault:
            parts.append(f"fault={self.fault.get('name')} (breaks {self.fault.get('rule')})")
        return f"{', '.join(parts)}: {self.redacted}"

    def __repr__(self) -> str:
        return (
            f"IssuedToken(method={self.method!r}, principal={self.principal!r}, issuer={self.issuer!r}, "
            f"audience={self.audience!r}, expires_at={self.expires_at!r}, token={self.redacted!r})"
        )

    def to_json(self, *, include_token: bool = False) -> dict[str, Any]:
        """A JSON-ready summary; the raw token only when explicitly asked for."""
        return {
            "token": self.token if include_token else self.redacted,
            "method": self.method,
            "principal": self.principal,
            "issuer": self.issuer,
            "audience": self.audience,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "obtained_at": self.obtained_at.isoformat(),
            "elapsed_ms": self.elapsed_ms,
            "source": self.source,
            "fault": self.fault,
        }

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        doc = self.to_json()
        try:
            doc["header"], doc["claims"] = self.header, self.claims
        except TokenError:
            pass
        return {"text/plain": str(self), "application/vnd.wif.token+json": doc}


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# -- talking to the kit IdP ---------------------------------------------------------------------


def running_idp(state: StateDir | None) -> tuple[StateDir, ServiceRecord]:
    """The state directory (default: ``WIF_STATE_DIR``) and its IdP's record; the IdP must run."""
    from .idp.service import require_idp

    state = state if state is not None else StateDir()
    record = require_idp(
        state,
        what="the mock identity provider is not running",
        hint="start it with `wif idp start` (or `wif up` for everything)",
    )
    return state, record


def _service_url(record: ServiceRecord) -> str:
    """The IdP's own address for its cloud and admin endpoints (an IP, like 169.254.169.254)."""
    return f"http://{record.host}:{record.port}"


def resolve_principal(state: StateDir, name: str | Principal) -> Principal:
    """A catalog principal by name (a ``Principal`` is taken as it is)."""
    from .idp.principals import find

    return find(state, name) if isinstance(name, str) else name


def _issuer_url(record: ServiceRecord, issuer_id: str) -> str:
    entry = (record.extra.get("issuers") or {}).get(issuer_id)
    if isinstance(entry, Mapping):
        entry = entry.get("issuer")
    if not isinstance(entry, str):
        raise ServiceError(
            f"the identity provider does not publish an issuer {issuer_id!r}",
            hint="restart it with `wif idp stop && wif idp start`; check principals.yaml's issuer ids",
        )
    return entry


def _http(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    state: StateDir | None = None,
) -> Response:
    """One request through the kit's HTTP client (kit CA trusted, loopback never proxied)."""
    return Client(state=state, timeout=timeout).request(method, url, headers=headers, data=data)


def ask_host(
    what: str, path: str, headers: Mapping[str, str], *, state: StateDir, timeout: float
) -> tuple[str, Response]:
    """GET one of the host endpoints the IdP answers for (Azure IMDS, Google's metadata server) as
    a workload on that host does; any answer but 200 is a TokenError quoting it. (url, response)."""
    _state, record = running_idp(state)
    url = f"{_service_url(record)}{path}"
    response = _http("GET", url, headers=headers, timeout=timeout, state=state)
    if response.status != 200:
        raise _http_error(what, url, response)
    return url, response


def _http_error(what: str, url: str, response: Response) -> TokenError:
    """TokenError quoting the IdP's error / error_description (RFC 6749 §5.2, IMDS) or body."""
    detail = response.body.decode("utf-8", "replace").strip()
    hint = "check the principal, its secret and the requested audience (`wif idp principals`)"
    try:
        doc = json.loads(detail)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "error" in doc:
        description = str(doc.get("error_description", ""))
        # The kit IdP appends its own next step to the description; keep it as the hint.
        description, _, idp_hint = description.partition("\n  next step: ")
        # Entra's descriptions end in Trace ID / Correlation ID / Timestamp lines, and the kit's
        # Entra puts its next step in "(wif-notebook: ...)" after the AADSTS message.
        description = description.split("\r\n", 1)[0]
        description, _, entra_hint = description.partition(" (wif-notebook: ")
        idp_hint = idp_hint or entra_hint.removesuffix(")")
        detail = f"{doc['error']}: {description}".strip().rstrip(":")
        if idp_hint:
            hint = idp_hint.strip()
        if doc["error"] == "invalid_client":
            hint = "the client id or secret is wrong; compare with principals.yaml in the state directory"
    return TokenError(f"{what} failed: HTTP {response.status} from {url}: {detail[:500]}", hint=hint)


def discover(
    issuer: str, *, timeout: float = DEFAULT_TIMEOUT, state: StateDir | None = None
) -> dict[str, Any]:
    """The issuer's OpenID discovery document (``<issuer>/.well-known/openid-configuration``)."""
    from .oidc import discovery_url

    url = discovery_url(issuer)
    response = _http("GET", url, headers={"Accept": "application/json"}, timeout=timeout, state=state)
    if response.status != 200:
        raise _http_error("discovery", url, response)
    try:
        doc = response.json()
    except ValueError as exc:
        raise TokenError(f"{url} did not return JSON", hint="is this really an OpenID issuer URL?") from exc
    if not isinstance(doc, dict):
        raise TokenError(f"{url} did not return a JSON object", hint="is this really an OpenID issuer URL?")
    return doc


# -- the ways a workload obtains a token ----------------------------------------------------------


def client_credentials(
    principal: str | Principal,
    *,
    audience: str | None = None,
    auth: str = "basic",
    state: StateDir | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IssuedToken:
    """RFC 6749 §4.4 client credentials at the principal's issuer (token endpoint from discovery).

    ``auth`` is ``"basic"`` (client_secret_basic, the RFC's recommendation) or ``"post"``
    (client_secret_post). From an issuer that takes it as a scope (Entra's) the audience is
    requested as ``<audience>/.default``, as MSAL does.
    """
    started = time.perf_counter()
    state, record = running_idp(state)
    who = resolve_principal(state, principal)
    if not who.client_secret:
        raise ConfigError(
            f"principal {who.name!r} ({who.kind}) has no client secret, so it cannot use client credentials",
            hint="use --via imds (managed identity), gcp (service account) or k8s-file, or `--via mint`",
        )
    issuer = _issuer_url(record, who.issuer_id)
    token_endpoint = discover(issuer, timeout=timeout, state=state).get("token_endpoint")
    if not isinstance(token_endpoint, str):
        raise TokenError(f"the discovery document of {issuer} has no token_endpoint", hint="fix the issuer")
    form = {"grant_type": "client_credentials"}
    if ISSUERS[who.issuer_id].audience_as_scope:
        # Entra needs the resource in every app-only request (AADSTS900144 without it).
        form["scope"] = (audience or who.default_audience).removesuffix("/.default") + "/.default"
    elif audience:
        form["audience"] = audience
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if auth == "basic":
        # RFC 6749 §2.3.1: each part is form-urlencoded before joining with ':'.
        pair = f"{urllib.parse.quote_plus(who.client_id)}:{urllib.parse.quote_plus(who.client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    elif auth == "post":
        form["client_id"], form["client_secret"] = who.client_id, who.client_secret
    else:
        raise ConfigError(f"unknown client authentication {auth!r}", hint="use 'basic' or 'post'")
    body = urllib.parse.urlencode(form).encode()
    response = _http("POST", token_endpoint, headers=headers, data=body, timeout=timeout, state=state)
    if response.status != 200:
        raise _http_error("client credentials grant", token_endpoint, response)
    doc = response.json()
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenError(f"{token_endpoint} answered without an access_token", hint="check the IdP's log")
    return IssuedToken.build(
        token, method="client_credentials", source=token_endpoint, started=started, principal=who.name
    )


def _federated_pair(state: StateDir, who: Principal) -> tuple[Principal, Principal | None, Any]:
    """(identity with the federated credential, the workload it trusts or None, the credential)."""
    from .idp.principals import load_catalog

    catalog = load_catalog(state)

    def trusts(identity: Principal, workload: Principal) -> Any:
        return next(
            (
                c
                for c in identity.federated_credentials
                if c.issuer == workload.issuer_id and c.subject == workload.subject
            ),
            None,
        )

    if who.federated_credentials:
        for workload in catalog:
            cred = trusts(who, workload)
            if cred is not None:
                return who, workload, cred
        return who, None, who.federated_credentials[0]
    if who.kind == "kubernetes-service-account":
        for identity in catalog:
            cred = trusts(identity, who)
            if cred is not None:
                return identity, who, cred
        raise ConfigError(
            f"no principal has a federated credential that trusts {who.name!r} ({who.subject})",
            hint="add to the identity in principals.yaml: federated_credentials: "
            f'[{{issuer: {who.issuer_id}, subject: "{who.subject}", audience: api://AzureADTokenExchange}}]',
        )
    raise ConfigError(
        f"principal {who.name!r} ({who.kind}) has no federated credential and is not a Kubernetes "
        "service account",
        hint="name the identity that trusts a workload (orders-identity) or the workload itself "
        "(orders-worker); `wif idp principals --json` shows federated_credentials",
    )


def federated(
    principal: str | Principal,
    *,
    assertion: str | IssuedToken | None = None,
    audience: str | None = None,
    state: StateDir | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IssuedToken:
    """A federated credential (Azure workload identity): trade a workload's Kubernetes token for an
    Entra token of the identity that trusts it, with no secret anywhere.

    ``principal`` is the identity with the federated credential (``orders-identity``) or the
    Kubernetes workload it trusts (``orders-worker``); either names the pair. The workload's token
    (``assertion``) is by default its AKS projected token file (what ``AZURE_FEDERATED_TOKEN_FILE``
    names, audience ``api://AzureADTokenExchange``), or, without one, a token the IdP mints for it
    with the credential's audience. It goes to the identity's token endpoint (from discovery) as an
    RFC 7523 client assertion in a client-credentials grant, with ``<audience>/.default`` as scope,
    as azure-identity's ``WorkloadIdentityCredential`` sends it.
    """
    from .idp.tokenfiles import TOKEN_FILES, token_file_path

    started = time.perf_counter()
    state, record = running_idp(state)
    identity, workload, cred = _federated_pair(state, resolve_principal(state, principal))
    if isinstance(assertion, IssuedToken):
        assertion = assertion.token
    if assertion is None:
        if workload is None:
            raise ConfigError(
                f"no principal of the catalog is the workload {identity.name!r} trusts ({cred.subject})",
                hint="pass the workload's token as assertion=..., or add that workload to principals.yaml",
            )
        aks_audience = TOKEN_FILES["aks"].audience
        if "aks" in workload.token_files and cred.audience == aks_audience:
            assertion = token_file(token_file_path(state, "aks")).token
        else:
            assertion = mint(workload.name, audience=cred.audience, state=state, timeout=timeout).token
    issuer = _issuer_url(record, identity.issuer_id)
    token_endpoint = discover(issuer, timeout=timeout, state=state).get("token_endpoint")
    if not isinstance(token_endpoint, str):
        raise TokenError(f"the discovery document of {issuer} has no token_endpoint", hint="fix the issuer")
    form = {
        "grant_type": "client_credentials",
        "client_id": identity.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion.strip(),
    }
    wanted = audience or identity.default_audience
    if ISSUERS[identity.issuer_id].audience_as_scope:
        form["scope"] = wanted.removesuffix("/.default") + "/.default"
    else:
        form["audience"] = wanted
    response = _http(
        "POST",
        token_endpoint,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        data=urllib.parse.urlencode(form).encode(),
        timeout=timeout,
        state=state,
    )
    if response.status != 200:
        error = _http_error("federated credential (client assertion)", token_endpoint, response)
        if b"invalid_client" in response.body:  # _http_error's hint is about client secrets
            error = TokenError(
                error.what,
                hint=f"the assertion must come from {cred.issuer!r} with sub {cred.subject!r} and aud "
                f"{cred.audience!r}, signed by a key that issuer still publishes (see principals.yaml)",
            )
        raise error
    doc = response.json()
    token = doc.get("access_token") if isinstance(doc, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenError(f"{token_endpoint} answered without an access_token", hint="check the IdP's log")
    return IssuedToken.build(
        token, method="federated", source=token_endpoint, started=started, principal=identity.name
    )


def token_file(path: str | os.PathLike[str] | None = None, *, environment: str = "k8s") -> IssuedToken:
    """Read a token file as the driver does in a token-file ``environment`` (``"k8s"``, ``"test"``:
    OIDC_TOKEN_FILE; each platform's ``ConnectPlan`` says how its reader works).

    ``path`` overrides the environment variables.
    """
    from . import clouds

    started = time.perf_counter()
    plans = {env: c.connect for env, c in clouds.connect_environments().items() if c.connect is not None}
    reader = plans.get(environment)
    if path is None:
        if reader is None or reader.token_path is None:
            readers = sorted(env for env, plan in plans.items() if plan.token_path is not None)
            raise ConfigError(
                f"unknown environment {environment!r}", hint=f"use {' or '.join(map(repr, readers))}"
            )
        path = reader.token_path(os.environ)
    file = Path(path)
    text = read_text(
        file,
        TokenError,
        f"cannot read token file {file}",
        "check its permissions",
        missing=(
            f"token file {file} does not exist",
            "start the IdP (`wif idp start`) which writes the token files, and `eval $(wif env)`",
        ),
    )
    if reader is not None and reader.verbatim and text != text.strip():
        # A reader that does not strip (pymongo's k8s): a trailing newline becomes part of the JWT.
        raise TokenError(
            f"token file {file} ends with whitespace; "
            f"pymongo's ENVIRONMENT:{environment} would send it as part of the JWT",
            hint="write the token without a trailing newline",
        )
    method = reader.file_method if reader is not None else "file"
    return IssuedToken.build(text, method=method, source=str(file), started=started)


def kit_token_file(
    principal: str | Principal, *, kind: str | None = None, state: StateDir | None = None
) -> IssuedToken:
    """The projected token file the kit IdP writes for ``principal`` (its first, or ``kind``)."""
    from .idp.tokenfiles import TOKEN_FILES, token_file_path

    state, _record = running_idp(state)
    who = resolve_principal(state, principal)
    kinds = list(who.token_files)
    if not kinds:
        raise ConfigError(
            f"principal {who.name!r} has no token files",
            hint="token files exist for principals with token_files in principals.yaml (e.g. orders-worker)",
        )
    chosen = kind or kinds[0]
    if chosen not in kinds or chosen not in TOKEN_FILES:
        raise ConfigError(f"principal {who.name!r} has no {chosen!r} token file", hint=f"use one of {kinds}")
    issued = token_file(token_file_path(state, chosen))
    return _with_principal(issued, who.name)


def _with_principal(issued: IssuedToken, name: str) -> IssuedToken:
    from dataclasses import replace

    return replace(issued, principal=name)


def from_callback(
    callback: Any, *, username: str | None = None, timeout_seconds: float = 60.0
) -> IssuedToken:
    """Call a token callback the way pymongo calls ``OIDC_CALLBACK`` and wrap what it returns.

    ``callback`` may be a plain callable returning a token string or ``OIDCCallbackResult``, or a
    pymongo ``OIDCCallback`` (its ``fetch(context)`` is called with a version-1 context).
    """
    from pymongo.auth_oidc import OIDCCallbackContext, OIDCCallbackResult

    started = time.perf_counter()
    context = OIDCCallbackContext(timeout_seconds=timeout_seconds, username=username or "", version=1)
    fetch: Callable[..., Any]
    if hasattr(callback, "fetch") and callable(callback.fetch):
        fetch = callback.fetch
    elif callable(callback):
        fetch = callback
    else:
        raise ConfigError(f"{callback!r} is not callable", hint="pass a function or an OIDCCallback")
    name = getattr(callback, "__qualname__", type(callback).__qualname__)
    # A zero-argument function is fine in a notebook; pymongo's callbacks take the context.
    try:
        takes_context = bool(inspect.signature(fetch).parameters)
    except (TypeError, ValueError):
        takes_context = True
    result = fetch(context) if takes_context else fetch()
    if isinstance(result, OIDCCallbackResult):
        result = result.access_token
    if isinstance(result, IssuedToken):
        result = result.token
    if not isinstance(result, str) or not result:
        raise TokenError(
            f"the callback {name} returned {type(result).__name__}, not a token",
            hint="return the access token string or OIDCCallbackResult(access_token=...)",
        )
    return IssuedToken.build(result, method="callback", source=name, started=started)


def mint(
    principal: str,
    *,
    audience: str | None = None,
    lifetime: int | None = None,
    fault: str | None = None,
    state: StateDir | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> IssuedToken:
    """The IdP's admin mint (``POST /_wif/mint``): any principal, lifetime, or one fault preset.

    The one mint path is ``idp.service.mint``; this wraps its answer as an ``IssuedToken``.
    """
    from .idp.service import mint as admin_mint

    started = time.perf_counter()
    state, record = running_idp(state)
    answer = admin_mint(state, principal, audience=audience, lifetime=lifetime, fault=fault, timeout=timeout)
    return IssuedToken.build(
        str(answer["token"]),
        method="mint",
        source=f"{_service_url(record)}/_wif/mint",
        started=started,
        principal=principal,
        fault=answer.get("fault"),
    )


def obtain(
    principal: str | Principal,
    *,
    via: str | None = None,
    audience: str | None = None,
    lifetime: int | None = None,
    fault: str | None = None,
    state: StateDir | None = None,
) -> IssuedToken:
    """A token for a catalog principal (its name, or the ``Principal`` already read), the way its
    kind of workload gets one (or ``via``).

    Defaults: the principal's platform's method for its kind (``clouds/``: Azure managed identity →
    imds, Google service account → gcp, Kubernetes service account → k8s-file), else
    client_credentials. A fault or lifetime needs the mint.
    """
    from . import clouds

    state, _record = running_idp(state)
    who = resolve_principal(state, principal)
    cloud = clouds.for_principal(who)
    if via is None and fault is None and lifetime is None and cloud and cloud.workload_token:
        # A platform of the registry with its own way (e.g. GitHub Actions' ID-token request).
        started = time.perf_counter()
        raw = cloud.workload_token(clouds.env_context(state), who, audience)
        return IssuedToken.build(
            raw, method=cloud.id, source=cloud.title, started=started, principal=who.name
        )
    if via is None:
        if fault is not None or lifetime is not None:
            via = "mint"
        else:  # the platform's default for the kind (clouds/ ``token_methods``)
            via = (cloud.default_token_methods.get(who.kind) if cloud else None) or "client_credentials"
    cloud_methods = clouds.token_methods()
    known = _method_names(cloud_methods)
    if via not in known:
        raise ConfigError(f"unknown method {via!r}", hint=f"use one of {', '.join(known)}")
    if via != "mint" and (fault is not None or lifetime is not None):
        raise ConfigError(
            f"--fault and --lifetime need the IdP's mint, not {via}",
            hint="drop --via (or use --via mint) to get a token with a fault or a custom lifetime",
        )
    if via == "mint":
        return mint(who.name, audience=audience, lifetime=lifetime, fault=fault, state=state)
    if via == "client_credentials":
        return client_credentials(who, audience=audience, state=state)
    if via == "federated":
        return federated(who, audience=audience, state=state)
    return cloud_methods[via](state, who, audience)


def methods() -> tuple[str, ...]:
    """``obtain``'s methods: client credentials, every platform's own (``clouds/``, registry
    order), the federated exchange and the mint."""
    from . import clouds

    return _method_names(clouds.token_methods())


def _method_names(cloud_methods: Mapping[str, Any]) -> tuple[str, ...]:
    return ("client_credentials", *cloud_methods, "federated", "mint")


# -- verifying and explaining -------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """A signature that verified: with which key, found where."""

    issuer: str
    kid: str
    alg: str
    key_fingerprint: str
    jwks_uri: str | None


def verify(token: str, keys: KeySetCache | None = None, *, state: StateDir | None = None) -> Verification:
    """Check the signature against the issuer's JWKS, found through discovery (not the claims!).

    The checks and their messages are the rule book's (what a MongoDB server logs): ``body.iss``,
    ``header.kid``, ``header.alg``, the key lookup and ``signature``. Any public-key JWS algorithm
    verifies here (an ES256 token of the kit IdP is genuine); whether a MongoDB server accepts the
    algorithm is the ``header.alg`` rule of ``check_against``. Raises a RuleFailure (a TokenError).
    """
    from jwt.algorithms import requires_cryptography

    from .oidc.tokenparse import check_body_iss, check_header_alg, check_header_kid
    from .oidc.validate import check_algorithm, check_signature

    decode(token)  # a malformed token is refused in plain words first
    parsed = parse_compact(token.strip())
    issuer = check_body_iss(parsed.claims)
    kid = check_header_kid(parsed.header)
    alg = check_header_alg(parsed.header)
    if alg not in requires_cryptography:
        check_algorithm(parsed.header)  # 'none' and HMAC: the server's own refusal
    cache = keys if keys is not None else keyset_for(issuer, state=state, allow_insecure_localhost=True)
    key = cache.key_for(kid)
    check_signature(parsed, alg, key)
    return Verification(issuer, kid, alg, key.fingerprint, cache.jwks_uri)


def check_against(
    token: str,
    providers: Sequence[ProviderConfig],
    keys: KeySetCache | None = None,
    *,
    allow_insecure_localhost: bool = True,
    now: float | None = None,
    state: StateDir | None = None,
) -> list[RuleResult]:
    """Every rule with pass/fail for the provider entry the server would select for this token.

    The server holds key sets only for the issuers it is configured with: for a token from any
    other issuer it never fetches a JWKS, and the first thing it logs is the unknown provider. So
    keys of an unconfigured issuer are not consulted (the key rules are skipped), and the first
    failure shown is the one the server logs (rule book: ``select_provider_for_token``).
    """
    configured = {p.issuer for p in providers}
    if keys is not None and keys.issuer not in configured:
        keys = None
    elif keys is None:
        try:
            issuer = decode(token).claims.get("iss")
        except TokenError:
            issuer = None
        if isinstance(issuer, str) and issuer in configured:
            keys = keyset_for(issuer, state=state, allow_insecure_localhost=allow_insecure_localhost)
    return explain_token(token, None, keys, now=now, providers=providers)


@dataclass(frozen=True)
class ClaimExplanation:
    """One claim, its value and what it means in plain words."""

    name: str
    value: Any
    meaning: str


def _when(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
        delta = int(value - time.time())
        rel = "now" if delta == 0 else f"in {delta} s" if delta > 0 else f"{-delta} s ago"
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({rel})"
    return "not a number of seconds: a MongoDB server refuses it"


_MEANINGS: dict[str, Callable[[Any], str]] = {
    "iss": lambda v: "issuer: who made the token; must equal oidcIdentityProviders 'issuer' exactly",
    "sub": lambda v: (
        "subject: the workload's stable id; the default principalName, so the MongoDB user "
        "is '<authNamePrefix>/' + this"
    ),
    "aud": lambda v: (
        "audience: who the token is for; MongoDB needs exactly one, equal to the configured "
        "'audience'" + (" (this token has several: refused)" if isinstance(v, list) and len(v) != 1 else "")
    ),
    "exp": lambda v: (
        f"expires {_when(v)}; mongod refuses it after that and asks the driver to reauthenticate (error 391)"
    ),
    "nbf": lambda v: f"not valid before {_when(v)}; mongod allows 60 s of clock skew",
    "iat": lambda v: f"issued {_when(v)}; mongod does not check it",
    "jti": lambda v: "token id: unique per token, for replay detection and logs",
    "oid": lambda v: "Entra object id of the identity (managed identity or service principal)",
    "tid": lambda v: "Entra tenant id the identity belongs to",
    "azp": lambda v: "authorized party: the client id that requested the token",
    "appid": lambda v: "Entra v1 client id of the application or managed identity",
    "groups": lambda v: (
        "group memberships; as authorizationClaim each becomes the role "
        "'<authNamePrefix>/<group>' in admin" + ("" if isinstance(v, list) else " (not an array: refused)")
    ),
    "roles": lambda v: "app roles granted to the identity; usable as authorizationClaim",
    "ver": lambda v: (
        "Entra token version, chosen by the resource application's accessTokenAcceptedVersion: "
        "'1.0' has issuer .../<tenant>/ (trailing slash) and aud as requested (api://<app id>), "
        "'2.0' has issuer .../<tenant>/v2.0 and aud the application id"
    ),
    "appidacr": lambda v: "how the client authenticated (v1): 0 public, 1 secret, 2 certificate or assertion",
    "azpacr": lambda v: "how the client authenticated (v2): 0 public, 1 secret, 2 certificate or assertion",
    "email": lambda v: "the service account's e-mail address (a possible principalName)",
    "email_verified": lambda v: "whether Google verified the e-mail address",
    "google": lambda v: "Google Compute Engine details (with format=full): project, zone, instance",
    "kubernetes.io": lambda v: "Kubernetes details: namespace, service account, pod bound to the token",
    "scope": lambda v: "OAuth scopes granted; MongoDB ignores them",
    "client_id": lambda v: "the OAuth client that obtained the token",
    "idtyp": lambda v: "Entra identity type ('app' for workloads)",
    "uti": lambda v: "Entra internal token id",
    "xms_mirid": lambda v: "Azure resource id of the managed identity",
    "auth_time": lambda v: f"when the user last authenticated: {_when(v)}",
    "nonce": lambda v: "OpenID Connect replay protection value",
}


_OPAQUE_CLAIM = (
    "a claim MongoDB does not interpret (usable as principalName, authorizationClaim or logClaims)"
)


def explain_claims(claims: Mapping[str, Any]) -> list[ClaimExplanation]:
    """Each claim in plain words (unknown ones are said to be opaque to MongoDB)."""
    return [
        ClaimExplanation(
            name,
            value,
            _MEANINGS[name](value) if name in _MEANINGS else _OPAQUE_CLAIM,
        )
        for name, value in claims.items()
    ]
