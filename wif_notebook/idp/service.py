"""Start, stop and talk to the mock IdP process (service name ``idp``).

``start_idp`` is idempotent: if the IdP already runs for this state directory, its record comes
back unchanged. The record's ``extra`` (a contract, docs/ARCHITECTURE.md) is::

    {"base_url": "http://localhost:<port>",
     "issuers": {"kit":   {"issuer": "http://localhost:<port>/kit",   "audience": "api://mongodb-kit"},
                 "azure": {"issuer": "http://localhost:<port>/<tenant>/v2.0", "audience": "<app id>"},
                 "azure-v1": {"issuer": "http://localhost:<port>/<tenant>/", "audience": "api://<v1 app id>"},
                 "gcp":   {...}, "k8s": {...}}}

The admin helpers (``mint``, ``rotate_keys``, ...) call the running IdP's loopback-only
``/_wif/...`` endpoints, so the process that signs tokens is also the one that owns the keys.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .. import services
from ..errors import ServiceError, TokenError
from ..state import ServiceRecord, StateDir

SERVICE = "idp"
MODULE = "wif_notebook.idp"
DEFAULT_PORT = 8123  # what `wif idp start` binds unless told otherwise (as in the reference examples)


def start_idp(state: StateDir, port: int = 0, *, token_refresh: float | None = None) -> ServiceRecord:
    """Start the IdP (port 0 = any free port) unless it already runs; return its record."""
    args = ["--port", str(port)]
    if token_refresh is not None:
        args += ["--token-refresh", str(token_refresh)]
    return services.start(state, SERVICE, MODULE, args)


def stop_idp(state: StateDir) -> bool:
    """Stop the IdP; True if it was running."""
    return services.stop(state, SERVICE)


def idp_record(state: StateDir) -> ServiceRecord | None:
    """The running IdP's record, or None."""
    return services.running_record(state, SERVICE)


def require_idp(state: StateDir) -> ServiceRecord:
    record = idp_record(state)
    if record is None:
        raise ServiceError(
            f"the mock IdP is not running for {state.path}",
            hint="start it with `wif idp start` (or `wif up`)",
        )
    return record


def admin_call(
    record: ServiceRecord, method: str, name: str, body: dict[str, Any] | None = None, *, timeout: float = 10
) -> Any:
    """Call ``/_wif/<name>`` on the running IdP; its error description becomes the exception."""
    url = f"http://{record.host}:{record.port}/_wif/{name}"
    data = json.dumps(body or {}).encode() if method == "POST" else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read())
            description = str(doc.get("error_description") or doc.get("error"))
        except ValueError:
            description = f"HTTP {exc.code}"
        # The IdP appends its own next step to the description (str(WifError)); keep it as the hint.
        description, _, idp_hint = description.partition("\n  next step: ")
        raise TokenError(
            f"the IdP refused /_wif/{name}: {description}",
            hint=idp_hint.strip() or "fix the request as the IdP describes and try again",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(
            f"cannot reach the IdP at {url}: {exc}",
            hint="check `wif idp status`; restart it with `wif idp stop && wif idp start`",
        ) from exc


def mint(
    state: StateDir,
    principal: str,
    *,
    audience: str | None = None,
    lifetime: int | None = None,
    fault: str | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Ask the running IdP for a token: ``{token, fault, expires_at, issuer, principal, kid}``."""
    body: dict[str, Any] = {
        "principal": principal,
        "audience": audience,
        "lifetime": lifetime,
        "fault": fault,
    }
    if full:
        body["format"] = "full"
    result: dict[str, Any] = admin_call(require_idp(state), "POST", "mint", body)
    return result


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
