"""``connect``: a real pymongo ``MongoClient`` logged in with MONGODB-OIDC, and who it turned out to be.

Two modes, decided by the URI:

- **A real deployment** (any URI that is not the kit's test mongod, e.g. ``mongodb+srv://…``):
  nothing is emulated. ``env`` becomes ``authMechanismProperties`` (``ENVIRONMENT``,
  ``TOKEN_RESOURCE``) and pymongo fetches the token itself, exactly as on an Azure VM, a GCP host
  or a Kubernetes pod. The same call works there unchanged.
- **The kit** (no URI, or the kit mongod's URI): the environment the workload would run in is
  set up first — ``test``: a token file and ``OIDC_TOKEN_FILE``; ``k8s``: the IdP's projected
  service-account token file and ``AZURE_FEDERATED_TOKEN_FILE``; ``azure``/``gcp``: pymongo's
  built-in integrations run unmodified against the IdP's metadata endpoints through
  ``wif_notebook.cloudsim``; ``callback``: an ``OIDC_CALLBACK`` that obtains tokens through
  ``wif_notebook.tokens``.

Every client is kept in a registry (``connections()``, ``close_all()``), and the last failed
attempt is kept for the doctor (``last_failure()``). pymongo errors become ``WifError`` with the
cause in plain words and the next step (``driver_errors.explain_error``). Granting roles is
``authorization``; editing the server's providers is ``providers``.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from . import clouds, cloudsim, display
from .driver_errors import explain_error, first_line
from .environ import EnvChanges
from .errors import ConfigError, ServiceError, WifError
from .providers import provider_for_prefix
from .state import StateDir

if TYPE_CHECKING:
    from .tokens import IssuedToken

DEFAULT_TIMEOUT_MS = 10_000

_counter = itertools.count(1)
_lock = threading.Lock()


@dataclass(frozen=True)
class Step:
    """One timed step of a connection."""

    name: str
    ms: float | None
    detail: str = ""


@dataclass
class Failure:
    """A failed ``connect`` (or a later command), kept for ``%wif_doctor``.

    ``token`` is held in memory only so the doctor can check it against the rules; it is never shown.
    """

    error: BaseException
    code: int | None
    message: str
    environment: str | None
    principal: str | None
    app_name: str | None
    started_at: float
    kit: bool
    token: str | None = field(default=None, repr=False)
    resource: str | None = None


class KitCallback(OIDCCallback):
    """pymongo ``OIDC_CALLBACK`` that obtains each token through ``wif_notebook.tokens``.

    pymongo calls ``fetch`` for the first login and again after a 391 or an 18 (token rejected), so
    every call asks the IdP for a fresh token, the way a workload's token source does.
    """

    def __init__(
        self,
        state: StateDir,
        principal: str,
        *,
        audience: str | None = None,
        via: str | None = None,
        lifetime: int | None = None,
        fault: str | None = None,
    ) -> None:
        self.state = state
        self.principal = principal
        self.audience = audience
        self.via = via
        self.lifetime = lifetime
        self.fault = fault
        self.calls: list[Any] = []  # IssuedToken, newest last
        self.elapsed_ms: list[float] = []

    def obtain(self) -> IssuedToken:
        """One token, as ``tokens.obtain`` gets it for this callback's principal."""
        from .tokens import obtain

        return obtain(
            self.principal,
            via=self.via,
            audience=self.audience,
            lifetime=self.lifetime,
            fault=self.fault,
            state=self.state,
        )

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        started = time.perf_counter()
        issued = self.obtain()
        self.elapsed_ms.append(round((time.perf_counter() - started) * 1000, 2))
        self.calls.append(issued)
        expires_in = issued.expires_in
        return OIDCCallbackResult(
            access_token=issued.token,
            expires_in_seconds=max(0, int(expires_in)) if expires_in is not None else None,
        )

    def __repr__(self) -> str:
        extra = f", fault={self.fault!r}" if self.fault else ""
        return f"KitCallback(principal={self.principal!r}, audience={self.audience!r}{extra})"


@dataclass
class Connection:
    """A logged-in client and what it took: user, roles, token source, timings."""

    client: MongoClient[Any] = field(repr=False)
    uri: str
    environment: str
    kit: bool
    app_name: str
    users: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    token_source: str
    token_claims: dict[str, Any]
    steps: list[Step]
    notes: list[str] = field(default_factory=list)
    principal: str | None = None
    started_at: float = 0.0

    @property
    def user(self) -> str | None:
        return self.users[0]["user"] if self.users else None

    def close(self) -> None:
        self.client.close()

    def _panel(self) -> display.Panel:
        roles = ", ".join(f"{r['role']}@{r['db']}" for r in self.roles) or "(none)"
        rows: list[tuple[str, Any]] = [
            ("user", f"{self.user}@$external" if self.user else "(not authenticated)"),
            ("roles", roles),
            ("environment", self.environment + (" (kit)" if self.kit else " (no emulation)")),
            ("token from", self.token_source),
        ]
        for name in ("iss", "sub", "aud", "exp"):
            if name in self.token_claims:
                value = self.token_claims[name]
                if name == "exp" and isinstance(value, (int, float)):
                    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
                    value = f"{when} (in {int(value - time.time())} s; then 391 and a new token)"
                rows.append((f"token {name}", value))
        rows.append(("uri", self.uri))
        rows.append(("appName", self.app_name))
        table = (
            ["step", "ms", "detail"],
            [[s.name, "—" if s.ms is None else f"{s.ms:.1f}", s.detail] for s in self.steps],
        )
        return display.Panel(
            f"Connected as {self.user}" if self.user else "Connected",
            rows,
            notes=self.notes,
            tone="ok",
            subtitle="MONGODB-OIDC",
            table=table,
        )

    def __str__(self) -> str:
        return str(self._panel())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._panel()._repr_mimebundle_()


_connections: dict[str, Connection] = {}
_last_failure: Failure | None = None
_env_set = EnvChanges()  # the token-file variables connect() set, restored by close_all


def connections() -> list[Connection]:
    """Open connections made by ``connect``, oldest first."""
    with _lock:
        return list(_connections.values())


def last_failure() -> Failure | None:
    return _last_failure


def record_failure(failure: Failure | None) -> None:
    """Remember a failure for the doctor (``connect`` does it; the magics add command failures)."""
    global _last_failure
    _last_failure = failure


def close_all() -> int:
    """Close every client, switch the cloud simulation off, restore environment variables we set."""
    with _lock:
        items = list(_connections.values())
        _connections.clear()
    for conn in items:
        conn.close()
    cloudsim.disable()
    _env_set.restore()
    record_failure(None)
    return len(items)


# -- the kit's side --------------------------------------------------------------------------------
def _kit_mongod_port(state: StateDir) -> int | None:
    from .mongod import mongod_status

    status = mongod_status(state)
    return int(status["port"]) if status.get("running") else None


def _is_kit_uri(uri: str, port: int | None) -> bool:
    if port is None or not uri.startswith("mongodb://"):
        return False
    hosts = uri[len("mongodb://") :].split("/", 1)[0].split("@")[-1]
    return all(
        h.rsplit(":", 1)[0] in ("127.0.0.1", "localhost") and h.endswith(f":{port}") for h in hosts.split(",")
    )


def _provider_audience(state: StateDir, prefix: str) -> str | None:
    """The audience mongod.conf configures for the provider with ``authNamePrefix`` ``prefix``."""
    try:
        provider = provider_for_prefix(state, prefix)
    except ConfigError:
        return None
    return provider.audience if provider is not None else None


def _kit_issuer_audience(state: StateDir, issuer_id: str) -> str | None:
    from .idp.service import idp_record

    record = idp_record(state)
    info = (record.extra.get("issuers") or {}).get(issuer_id) if record is not None else None
    return str(info["audience"]) if isinstance(info, dict) and "audience" in info else None


def _write_token_file(state: StateDir, principal: str, token: str) -> Path:
    folder = state.subdir(Path("tokens") / "connect")
    path = folder / f"{principal}.jwt"
    state.write_private(path, token)  # no trailing newline: pymongo's k8s reader does not strip
    return path


def _claims_of(token: str) -> dict[str, Any]:
    from .tokens import decode

    try:
        claims = decode(token).claims
    except WifError:
        return {}
    return {k: claims[k] for k in ("iss", "sub", "aud", "exp") if k in claims}


@dataclass
class _Plan:
    properties: dict[str, Any]
    source: str
    username: str | None = None
    token_ms: float | None = None
    token_detail: str = ""
    token: str | None = field(default=None, repr=False)
    callback: KitCallback | None = None
    simulated: bool = False
    notes: list[str] = field(default_factory=list)


def _plan_kit(
    state: StateDir,
    env: str,
    principal: str | None,
    resource: str | None,
    callback: bool,
    lifetime: int | None = None,
    fault: str | None = None,
) -> _Plan:
    """Prepare the environment a workload of kind ``env`` would have, inside this process."""
    from .idp.principals import find

    plan = _connect_plan(env)  # with callback: the default environment's (``_plan``)
    if callback:
        who = principal or plan.principal or ""
        find(state, who)  # a clear error for an unknown principal, before pymongo calls back
        cb = KitCallback(state, who, audience=resource, lifetime=lifetime, fault=fault)
        return _Plan(
            {"OIDC_CALLBACK": cb},
            f"OIDC_CALLBACK {cb!r}: wif_notebook.tokens.obtain() at the kit IdP on every call",
            callback=cb,
        )
    if plan.file is not None:
        return _plan_token_file(state, plan, plan.file, principal, resource, lifetime, fault)
    # A metadata environment (azure, gcp): pymongo's own code, metadata hosts answered by the kit IdP.
    if lifetime is not None or fault is not None:
        raise ConfigError(
            f"--lifetime and --fault need the IdP's mint; the {env} metadata endpoint issues normal tokens",
            hint="use --callback or --env test with --fault/--lifetime",
        )
    # The issuer (authNamePrefix in the kit's mongod.conf) the environment's platform owns.
    cloud = clouds.connect_environments()[env]
    issuer_id = cloud.issuer_ids[0]
    audience = resource or _provider_audience(state, issuer_id) or _kit_issuer_audience(state, issuer_id)
    if audience is None:
        raise ConfigError(
            f"no audience for ENVIRONMENT:{env}: mongod.conf has no '{env}' provider",
            hint="pass --resource with the audience mongod expects, or run %wif_up",
        )
    target = cloudsim.enable(state, principal=principal)
    service = cloud.metadata.service if cloud.metadata else plan.token_source
    redirected = "(cloudsim: only metadata hosts redirected)"
    return _Plan(
        {"ENVIRONMENT": env, "TOKEN_RESOURCE": audience},
        f"{service}, answered by the kit IdP at {target} {redirected}",
        simulated=True,
        notes=[
            "The cloud host simulation stays on while this client may need new tokens; "
            "%wif_reset (or wif_notebook.cloudsim.disable()) switches it off."
        ],
    )


def _plan_token_file(
    state: StateDir,
    plan: clouds.ConnectPlan,
    file: clouds.ConnectFile,
    principal: str | None,
    resource: str | None,
    lifetime: int | None,
    fault: str | None,
) -> _Plan:
    """A token-file environment (test, k8s): point its variable at the principal's token file."""
    from .idp.principals import find
    from .tokens import obtain

    who = principal or plan.principal or ""
    p = find(state, who)
    started = time.perf_counter()
    if file.token_file in p.token_files and resource is None and lifetime is None and fault is None:
        # The IdP writes and refreshes this file itself, like a kubelet (tokens/ in the state dir).
        from .idp.tokenfiles import token_file_path

        path = token_file_path(state, file.token_file)
        token = path.read_text()
        how = "the IdP's projected token file (refreshed by the IdP)"
    else:
        issued = obtain(p, audience=resource, lifetime=lifetime, fault=fault, state=state)
        token = issued.token
        path = _write_token_file(state, who, token)
        how = f"a token for {who} ({issued.method}) written by the kit"
    ms = round((time.perf_counter() - started) * 1000, 2)
    _env_set.set(file.variable, str(path))
    for variable in file.cleared:
        _env_set.set(variable, None)
    return _Plan(
        {"ENVIRONMENT": plan.environment},
        f"{file.variable}={path}: {how}",
        token_ms=ms,
        token_detail="token file prepared (pymongo reads it at each login)",
        token=token,
    )


def _connect_plan(env: str) -> clouds.ConnectPlan:
    """The plan of a known environment (``_check_token_source`` refused the others)."""
    plan = clouds.connect_environments()[env].connect
    assert plan is not None  # connect_environments lists only platforms with one
    return plan


def _default_env() -> str:
    """The kit's default environment: the first one of the registry (the kit's own, ``test``)."""
    return next(iter(clouds.connect_environments()))


def _plan_real(env: str | None, principal: str | None, resource: str | None, callback: bool) -> _Plan:
    if callback:
        raise ConfigError(
            "--callback obtains tokens from the kit's IdP, so it only works against the kit's mongod",
            hint="leave out the URI to use the kit, or use --env azure|gcp|k8s on a real host",
        )
    if env is None:
        return _Plan({}, "as the URI's authMechanismProperties say (pymongo built-in)")
    props: dict[str, Any] = {"ENVIRONMENT": env}
    plan = _connect_plan(env)
    if plan.token_resource:
        if not resource:
            raise ConfigError(
                f"ENVIRONMENT:{env} needs TOKEN_RESOURCE (the audience the cluster expects)",
                hint="pass --resource, e.g. --resource api://<app-id> (the oidcIdentityProviders audience)",
            )
        props["TOKEN_RESOURCE"] = resource
    elif resource:
        without = [e for e in clouds.connect_environments() if not _connect_plan(e).token_resource]
        raise ConfigError(
            f"TOKEN_RESOURCE is not allowed with ENVIRONMENT:{env}",
            hint=f"drop --resource for {' and '.join(without)}",
        )
    username = principal if plan.username_is_client_id else None
    return _Plan(props, plan.token_source, username=username)


def _redact_uri(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return uri


def connect(
    uri: str | None = None,
    *,
    env: str | None = None,
    principal: str | None = None,
    callback: bool = False,
    resource: str | None = None,
    state: StateDir | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    app_name: str | None = None,
    lifetime: int | None = None,
    fault: str | None = None,
) -> Connection:
    """Log in with MONGODB-OIDC and return the ``Connection`` (``.client`` is the ``MongoClient``).

    ``lifetime`` and ``fault`` (kit only: test, k8s, callback) get the token from the IdP's mint,
    e.g. ``fault="expired"`` to watch the server refuse it. Raises WifError (with the next step) on
    failure; the failure is kept for ``wif_notebook.doctor.diagnose``.
    """
    _check_token_source(env, callback)
    state = state if state is not None else StateDir()
    port = _kit_mongod_port(state)
    kit = uri is None or _is_kit_uri(uri, port)
    if uri is None:
        uri = _kit_uri(port, env, principal, resource)
    attempt = _Attempt(
        environment="callback" if callback else (env or (_default_env() if kit else "uri")),
        principal=principal,
        resource=resource,
        kit=kit,
        app_name=app_name or f"wif-connect-{os.getpid()}-{next(_counter)}",
        started_at=time.time(),
    )
    plan: _Plan | None = None
    try:
        plan = _plan(state, attempt, env, callback, lifetime, fault)
        login = _log_in(uri, plan, attempt.app_name, timeout_ms)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        record_failure(_failure(exc, attempt, plan))
        raise explain_error(exc, kit=kit, where=f" at {_redact_uri(uri)}") from exc
    conn = _connection(uri, attempt, plan, login)
    with _lock:
        _connections[attempt.app_name] = conn
    record_failure(None)
    return conn


def _check_token_source(env: str | None, callback: bool) -> None:
    environments = clouds.connect_environments()
    if env is not None and env not in environments:
        raise ConfigError(f"unknown environment {env!r}", hint=f"use one of {', '.join(environments)}")
    if callback and env is not None:
        # pymongo: "OIDC_CALLBACK" cannot be combined with "ENVIRONMENT" (reference §12).
        raise ConfigError("--callback and --env cannot be combined", hint="choose one token source")


def _kit_uri(port: int | None, env: str | None, principal: str | None, resource: str | None) -> str:
    """The kit mongod's URI; its absence is a failure the doctor should see, like a refused login."""
    if port is None:
        down = ServiceError("the test mongod is not running", hint="start it with %wif_up")
        record_failure(
            Failure(down, None, down.what, env, principal, None, time.time(), kit=True, resource=resource)
        )
        raise down
    from .stack import mongodb_uri

    return mongodb_uri(port)


@dataclass(frozen=True)
class _Attempt:
    """Who is logging in, and how: what a ``Connection`` or a ``Failure`` records of the attempt."""

    environment: str
    principal: str | None
    resource: str | None
    kit: bool
    app_name: str
    started_at: float


def _plan(
    state: StateDir,
    attempt: _Attempt,
    env: str | None,
    callback: bool,
    lifetime: int | None,
    fault: str | None,
) -> _Plan:
    if attempt.kit:
        kit_env = attempt.environment if attempt.environment != "callback" else _default_env()
        return _plan_kit(state, kit_env, attempt.principal, attempt.resource, callback, lifetime, fault)
    if lifetime is not None or fault is not None:
        raise ConfigError(
            "--lifetime and --fault only work against the kit's mongod",
            hint="leave out the URI to use the kit",
        )
    return _plan_real(env, attempt.principal, attempt.resource, callback)


@dataclass
class _Login:
    """A client whose first connection authenticated, and what the login took."""

    client: MongoClient[Any]
    status: dict[str, Any]
    connect_ms: float
    first_ms: float
    metadata_seen: int  # cloudsim requests before this login: the ones after it are pymongo's


def _log_in(uri: str, plan: _Plan, app_name: str, timeout_ms: int) -> _Login:
    kwargs: dict[str, Any] = {
        "authMechanism": "MONGODB-OIDC",
        "appName": app_name,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
    }
    if plan.properties:
        kwargs["authMechanismProperties"] = plan.properties
    if plan.username:
        kwargs["username"] = plan.username
    seen = len(cloudsim.requests())
    t0 = time.perf_counter()
    client: MongoClient[Any] = MongoClient(uri, **kwargs)
    try:
        client.admin.command("ping")  # the pool's first connection authenticates before this runs
        connect_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        status = client.admin.command("connectionStatus")
        first_ms = (time.perf_counter() - t1) * 1000
    except BaseException:
        client.close()
        raise
    return _Login(client, status, connect_ms, first_ms, seen)


def _failure(exc: BaseException, attempt: _Attempt, plan: _Plan | None) -> Failure:
    """The failed attempt for the doctor, with the token the server was shown (where the kit saw it)."""
    token = plan.token if plan is not None else None
    if plan is not None and plan.callback is not None and plan.callback.calls:
        token = plan.callback.calls[-1].token
    if plan is not None and plan.simulated:
        fetched = [r for r in cloudsim.requests() if r.at >= attempt.started_at and r.token]
        token = fetched[-1].token if fetched else None
    return Failure(
        error=exc,
        code=getattr(exc, "code", None),
        message=first_line(exc),
        environment=attempt.environment,
        principal=_principal(attempt, plan),
        app_name=attempt.app_name,
        started_at=attempt.started_at,
        kit=attempt.kit,
        token=token,
        resource=attempt.resource,
    )


def _principal(attempt: _Attempt, plan: _Plan | None) -> str | None:
    if attempt.principal:
        return attempt.principal
    return plan.callback.principal if plan is not None and plan.callback is not None else None


def _token_fetch(plan: _Plan, metadata_seen: int) -> tuple[Step, dict[str, Any]]:
    """The token-fetch step and the claims of the token used: measured where the kit can see it
    (callback, metadata requests, a token file it wrote), inside pymongo otherwise."""
    claims: dict[str, Any] = _claims_of(plan.token) if plan.token else {}
    if plan.callback is not None and plan.callback.calls:
        calls = plan.callback.calls
        step = Step("token fetch", sum(plan.callback.elapsed_ms), f"{len(calls)} callback call(s)")
        return step, _claims_of(calls[-1].token)
    if plan.simulated:
        fetched = cloudsim.requests()[metadata_seen:]
        step = Step(
            "token fetch",
            sum(r.elapsed_ms for r in fetched),
            f"{len(fetched)} metadata request(s) by pymongo",
        )
        return step, dict(fetched[-1].claims) if fetched else claims
    if plan.token_ms is not None:
        return Step("token fetch", plan.token_ms, plan.token_detail), claims
    return Step("token fetch", None, "inside pymongo (part of connect + authenticate)"), claims


def _connection(uri: str, attempt: _Attempt, plan: _Plan, login: _Login) -> Connection:
    fetch, token_claims = _token_fetch(plan, login.metadata_seen)
    steps = [
        fetch,
        Step("connect + authenticate", round(login.connect_ms, 2), "server selection, hello, saslStart"),
        Step("first command", round(login.first_ms, 2), "connectionStatus"),
    ]
    info = login.status.get("authInfo", {})
    conn = Connection(
        client=login.client,
        uri=_redact_uri(uri),
        environment=attempt.environment,
        kit=attempt.kit,
        app_name=attempt.app_name,
        users=list(info.get("authenticatedUsers", [])),
        roles=list(info.get("authenticatedUserRoles", [])),
        token_source=plan.source,
        token_claims=token_claims,
        steps=steps,
        notes=plan.notes,
        principal=_principal(attempt, plan),
        started_at=attempt.started_at,
    )
    if attempt.kit and not conn.roles:
        conn.notes.append(
            "No roles: commands other than hello/ping will fail with 13 until %wif_authorize maps "
            "this workload's group or $external user to a role."
        )
    return conn
