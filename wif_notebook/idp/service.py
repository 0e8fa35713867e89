"""Start, stop and talk to the mock IdP process (service name ``idp``).

``start_idp`` is idempotent: if the IdP already runs for this state directory, its record comes
back unchanged. The record's ``extra`` (a contract, docs/ARCHITECTURE.md) is::

    {"base_url": "http://localhost:<port>",          # the same port in the clear (metadata endpoints)
     "https_base_url": "https://localhost:<port>",   # TLS with the kit CA's certificate
     "issuer_scheme": "https",                        # the default issuer form (idp/issuers.py)
     "vendor_proxy": "http://127.0.0.1:<port>",       # the vendor-host proxy (idp/vendorproxy.py)
     "issuers": {"kit": {"issuer": "https://localhost:<port>/kit",       # the default form
                         "audience": "api://mongodb-kit",
                         "https_issuer": "https://localhost:<port>/kit",
                         "http_issuer": "http://localhost:<port>/kit"},
                 "azure": {...},     # Entra v2: https://localhost:<port>/<tenant>/v2.0
                 "azure-v1": {...},  # Entra v1: https://localhost:<port>/<tenant>/ (trailing slash)
                 "gcp": {...}, "k8s": {...}}}

The admin helpers (``mint``, ``rotate_keys``, ...) call the running IdP's loopback-only
``/_wif/...`` endpoints through the kit's HTTP client, so the process that signs tokens is also the
one that owns the keys. ``mint`` is the one mint path (``tokens.mint`` wraps its answer).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .. import ports, services
from ..errors import ServiceError, TokenError
from ..httpclient import DEFAULT_TIMEOUT, Client
from ..state import ServiceRecord, StateDir
from .issuers import DEFAULT_ISSUER_SCHEME

SERVICE = "idp"
MODULE = "wif_notebook.idp"
DEFAULT_PORT = ports.DEFAULTS[SERVICE]  # as in the reference examples; WIF_IDP_DEFAULT_PORT moves it


def start_idp(
    state: StateDir,
    port: int | None = 0,
    *,
    token_refresh: float | None = None,
    issuer_scheme: str = DEFAULT_ISSUER_SCHEME,
    metadata_bind: str | None = None,
) -> ServiceRecord:
    """Start the IdP unless it already runs; return its record.

    ``port``: None = the port kept for this state directory, else the default, else a free one
    (``ports.choose``); 0 = any free port; otherwise exactly that port, refused with its holder if busy.
    ``issuer_scheme`` is the default issuer form (``https``, or ``http`` for enableTestCommands
    only); an IdP that already runs keeps the form it was started with (``issuer_scheme`` in its
    record). ``metadata_bind`` (``HOST:PORT``) adds a plain-http listener at a fixed metadata
    address (``server.serve``).
    """
    existing = idp_record(state)
    if existing is not None:
        return existing
    from .vendorproxy import PORT_NAME

    kept_proxy = ports.kept_ports(state).get(PORT_NAME)
    avoid: set[int] = set()
    while True:
        chosen = ports.choose(state, SERVICE, avoid=frozenset(avoid)) if port is None else port
        if port is not None:
            ports.require_free(SERVICE, port)
        args = ["--port", str(chosen), "--issuer-scheme", issuer_scheme]
        if token_refresh is not None:
            args += ["--token-refresh", str(token_refresh)]
        if metadata_bind is not None:
            args += ["--metadata-bind", metadata_bind]
        try:
            record = services.start(state, SERVICE, MODULE, args)
        except ServiceError:
            # Another kit bound the port we chose between our check and our bind: choose again.
            if port is None and len(avoid) < 3 and not ports.is_free(chosen):
                avoid.add(chosen)
                continue
            raise
        ports.keep(state, SERVICE, record.port)
        return _note_proxy_move(record, kept_proxy)


def _note_proxy_move(record: ServiceRecord, kept_port: int | None) -> ServiceRecord:
    """The record, with ``vendor_proxy_note`` in its ``extra`` when the vendor-host proxy could not
    have its kept port back (``vendorproxy.start`` moved it), for the caller to show: a workload's
    shell that exported the old ``HTTPS_PROXY`` is stale. Not written to the record's file: it is
    news of this start only."""
    from .vendorproxy import moved_words

    url = record.extra.get("vendor_proxy")
    if kept_port is None or not isinstance(url, str) or urlsplit(url).port == kept_port:
        return record
    return replace(record, extra={**record.extra, "vendor_proxy_note": moved_words(kept_port, url)})


def stop_idp(state: StateDir) -> bool:
    """Stop the IdP; True if it was running."""
    return services.stop(state, SERVICE)


def idp_record(state: StateDir) -> ServiceRecord | None:
    """The running IdP's record, or None."""
    return services.running_record(state, SERVICE)


def require_idp(state: StateDir, *, what: str | None = None, hint: str | None = None) -> ServiceRecord:
    """The running IdP's record; when it is not running, a ServiceError in the caller's words (``what``,
    ``hint``: what needed the IdP and how to start it from where the user is)."""
    record = idp_record(state)
    if record is None:
        raise ServiceError(
            what or f"the mock IdP is not running for {state.path}",
            hint=hint or "start it with `wif idp start` (or `wif up`)",
        )
    return record


def admin_call(
    record: ServiceRecord,
    method: str,
    name: str,
    body: dict[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    state: StateDir | None = None,
) -> Any:
    """Call ``/_wif/<name>`` on the running IdP; its error description becomes the exception."""
    # The admin endpoints answer only on loopback, in the clear: the record's own address.
    url = f"http://{record.host}:{record.port}/_wif/{name}"
    data = json.dumps(body or {}).encode() if method == "POST" else None
    response = Client(state=state, timeout=timeout).request(
        method,
        url,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        data=data,
        hint="check `wif idp status`; restart it with `wif idp stop && wif idp start`",
    )
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if response.ok and doc is not None:
        return doc
    if isinstance(doc, dict):
        description = str(doc.get("error_description") or doc.get("error"))
    else:
        description = f"HTTP {response.status}: {response.text[:200]}"
    # The IdP appends its own next step to the description (str(WifError)); keep it as the hint.
    description, _, idp_hint = description.partition("\n  next step: ")
    raise TokenError(
        f"the IdP refused /_wif/{name}: {description}",
        hint=idp_hint.strip() or "fix the request as the IdP describes and try again",
    )


def mint(
    state: StateDir,
    principal: str,
    *,
    audience: str | None = None,
    lifetime: int | None = None,
    fault: str | None = None,
    full: bool = False,
    issuer_scheme: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """Ask the running IdP for a token: ``{token, fault, expires_at, issuer, principal, kid}``.

    ``issuer_scheme`` picks the issuer form (``https``/``http``; default: the IdP's default form).
    """
    body: dict[str, Any] = {
        "principal": principal,
        "audience": audience,
        "lifetime": lifetime,
        "fault": fault,
    }
    if full:
        body["format"] = "full"
    if issuer_scheme is not None:
        body["issuer_scheme"] = issuer_scheme
    result: dict[str, Any] = admin_call(
        require_idp(state), "POST", "mint", body, timeout=timeout, state=state
    )
    return result


def good_claims(state: StateDir, principal: str, *, audience: str | None = None) -> dict[str, Any]:
    """The claims of the good token the IdP would issue ``principal`` for ``audience`` now, computed
    here from the catalog and the platforms' claim shapers (no request, no signature): what mongod
    would read from it, for a question such as "which user would this principal log in as"."""
    import time

    from .keys import KeyStore
    from .minting import DEFAULT_LIFETIME, Minter
    from .principals import find_in, load_catalog

    catalog = load_catalog(state)
    who = find_in(catalog, principal)
    record = idp_record(state)
    # The running IdP's issuer form and port, else its default form on the port kept for ``state``.
    if record is not None:
        scheme, port = str(record.extra.get("issuer_scheme") or DEFAULT_ISSUER_SCHEME), record.port
    else:
        scheme = DEFAULT_ISSUER_SCHEME
        port = ports.kept_ports(state).get(SERVICE) or ports.default_port(SERVICE)
    # The key store is only read when a token is signed, which this never does.
    minter = Minter(KeyStore(state), f"{scheme}://localhost:{port}", lambda: catalog)
    return minter.claims_for(
        who, minter.audience_for(who, audience), now=int(time.time()), lifetime=DEFAULT_LIFETIME
    )


def rotate_keys(state: StateDir, issuer: str | None = None, alg: str = "RS256") -> dict[str, Any]:
    """Add a signing key (to one issuer or all) on the running IdP, or on disk if it is stopped.

    The running IdP rewrites its token files with the new key at once (``token_files`` in the
    answer); a stopped one writes them when it starts.
    """
    record = idp_record(state)
    if record is not None:
        result: dict[str, Any] = admin_call(record, "POST", "rotate-keys", {"issuer": issuer, "alg": alg})
        return result
    from .issuers import ISSUERS
    from .keys import KeyStore

    store = KeyStore(state)
    rotated = {}
    for issuer_id in [issuer] if issuer else list(ISSUERS):
        if issuer_id not in ISSUERS:
            raise TokenError(f"no issuer {issuer_id!r}", hint=f"use one of {', '.join(ISSUERS)}")
        keys = store.issuer(issuer_id)
        new = keys.rotate(alg)
        rotated[issuer_id] = {"kid": new.kid, "alg": new.alg, "published": keys.published_kids()}
    return {"rotated": rotated}


def retire_key(state: StateDir, issuer: str | None = None, kid: str | None = None) -> dict[str, Any]:
    """Stop publishing a key (the oldest non-signing one, or ``kid``).

    The running IdP rewrites its token files at once (``token_files`` in the answer), so none is
    left signed by the retired key. Nothing to retire is an error that says to rotate first.
    """
    record = idp_record(state)
    if record is not None:
        result: dict[str, Any] = admin_call(record, "POST", "retire-key", {"issuer": issuer, "kid": kid})
        return result
    from .issuers import ISSUERS
    from .keys import KeyStore

    if issuer is not None and issuer not in ISSUERS:
        raise TokenError(f"no issuer {issuer!r}", hint=f"use one of {', '.join(ISSUERS)}")
    # The token files are rewritten when the IdP starts again, with the keys that are left.
    return {"retired": KeyStore(state).retire([issuer] if issuer else list(ISSUERS), kid)}
