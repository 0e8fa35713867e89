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
cause in plain words and the next step (``explain_error``).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from . import cloudsim, display
from .errors import ConfigError, ServiceError, TokenError, WifError
from .state import StateDir

ENVIRONMENTS = ("test", "azure", "gcp", "k8s")
# Which issuer (authNamePrefix in the kit's mongod.conf) each built-in environment gets tokens from.
KIT_ISSUER_FOR_ENV = {"test": "kit", "azure": "azure", "gcp": "gcp", "k8s": "k8s"}
DEFAULT_PRINCIPAL = {"test": "lesson-app", "k8s": "orders-worker", "callback": "lesson-app"}
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

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        from .tokens import obtain

        started = time.perf_counter()
        issued = obtain(
            self.principal,
            via=self.via,
            audience=self.audience,
            lifetime=self.lifetime,
            fault=self.fault,
            state=self.state,
        )
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
_env_set: dict[str, str | None] = {}  # variables connect() set → their previous value


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
        saved = dict(_env_set)
        _env_set.clear()
    for conn in items:
        conn.close()
    cloudsim.disable()
    for name, previous in saved.items():
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
    record_failure(None)
    return len(items)


def _setenv(name: str, value: str | None) -> None:
    """Set (or, with None, remove) a variable pymongo reads, remembering the original for close_all."""
    with _lock:
        if name not in _env_set:
            _env_set[name] = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# -- errors ----------------------------------------------------------------------------------------
def explain_error(exc: BaseException, *, kit: bool = True, where: str = "") -> WifError:
    """A pymongo (or kit) error as a WifError: the cause in one line and the next step."""
    if isinstance(exc, WifError):
        return exc
    if isinstance(exc, OperationFailure):
        code = exc.code
        if code == 18:
            return TokenError(
                "authentication failed: the server rejected the token",
                hint="run %wif_doctor to see which rule (the server logged the exact reason)",
            )
        if code == 13:
            return ConfigError(
                f"not authorized: {_first_line(exc)}",
                hint="run %wif_doctor to see which role or privilege is missing; "
                "%wif_authorize --group G --role R grants one",
            )
        if code == 391:
            return TokenError(
                "the session's token expired and reauthentication did not succeed (391)",
                hint="make the token source return a fresh token (file, callback); %wif_doctor explains",
            )
        return ServiceError(
            f"the server refused the command (code {code}): {_first_line(exc)}",
            hint="run %wif_doctor for a diagnosis",
        )
    if isinstance(exc, ServerSelectionTimeoutError):
        if kit:
            return ServiceError(
                f"cannot reach the test mongod{where}: it is not running or not answering",
                hint="start it with %wif_up (then %wif_status shows where it listens)",
            )
        return ServiceError(
            f"cannot reach the server{where}: {_first_line(exc)[:200]}",
            hint="check the URI, the network and the cluster's IP access list",
        )
    if isinstance(exc, ConfigurationError):
        return ConfigError(
            f"pymongo refused the connection settings: {_first_line(exc)}",
            hint="fix the URI or the authMechanismProperties",
        )
    if isinstance(exc, (ConnectionFailure, PyMongoError)):
        cause = exc.__cause__ or exc.__context__
        detail = _first_line(cause) if cause is not None else _first_line(exc)
        if "IMDS" in str(exc) or "GCP" in str(exc) or "metadata" in str(exc).lower():
            return TokenError(
                f"the built-in cloud integration could not get a token: {detail[:300]}",
                hint="in the kit: %wif_up and use --env azure/gcp without a URI (metadata hosts are "
                "simulated); on a real host: check the managed identity / service account",
            )
        return ServiceError(f"MongoDB connection failed: {detail[:300]}", hint="run %wif_doctor")
    return WifError(f"{type(exc).__name__}: {_first_line(exc)}", hint="run %wif_doctor")


def _first_line(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"]).splitlines()[0]
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
    from .tokens import obtain

    if callback:
        who = principal or DEFAULT_PRINCIPAL["callback"]
        find(state, who)  # a clear error for an unknown principal, before pymongo calls back
        cb = KitCallback(state, who, audience=resource, lifetime=lifetime, fault=fault)
        return _Plan(
            {"OIDC_CALLBACK": cb},
            f"OIDC_CALLBACK {cb!r}: wif_notebook.tokens.obtain() at the kit IdP on every call",
            callback=cb,
        )
    if env in ("test", "k8s"):
        who = principal or DEFAULT_PRINCIPAL[env]
        p = find(state, who)
        started = time.perf_counter()
        kind = "oidc" if env == "test" else "serviceaccount"
        if kind in p.token_files and resource is None and lifetime is None and fault is None:
            # The IdP writes and refreshes this file itself, like a kubelet (tokens/ in the state dir).
            from .idp.tokenfiles import token_file_path

            path = token_file_path(state, kind)
            token = path.read_text()
            how = "the IdP's projected token file (refreshed by the IdP)"
        else:
            issued = obtain(who, audience=resource, lifetime=lifetime, fault=fault, state=state)
            token = issued.token
            path = _write_token_file(state, who, token)
            how = f"a token for {who} ({issued.method}) written by the kit"
        ms = round((time.perf_counter() - started) * 1000, 2)
        if env == "test":
            _setenv("OIDC_TOKEN_FILE", str(path))
            source = f"OIDC_TOKEN_FILE={path}: {how}"
        else:
            _setenv("AZURE_FEDERATED_TOKEN_FILE", str(path))
            # pymongo lets AWS_WEB_IDENTITY_TOKEN_FILE win over the Azure variable (reference §13).
            _setenv("AWS_WEB_IDENTITY_TOKEN_FILE", None)
            source = f"AZURE_FEDERATED_TOKEN_FILE={path}: {how}"
        return _Plan(
            {"ENVIRONMENT": env},
            source,
            token_ms=ms,
            token_detail="token file prepared (pymongo reads it at each login)",
            token=token,
        )
    # azure / gcp: pymongo's own code, metadata hosts answered by the kit IdP.
    if lifetime is not None or fault is not None:
        raise ConfigError(
            f"--lifetime and --fault need the IdP's mint; the {env} metadata endpoint issues normal tokens",
            hint="use --callback or --env test with --fault/--lifetime",
        )
    audience = (
        resource
        or _provider_audience(state, KIT_ISSUER_FOR_ENV[env])
        or _kit_issuer_audience(state, KIT_ISSUER_FOR_ENV[env])
    )
    if audience is None:
        raise ConfigError(
            f"no audience for ENVIRONMENT:{env}: mongod.conf has no '{env}' provider",
            hint="pass --resource with the audience mongod expects, or run %wif_up",
        )
    target = cloudsim.enable(state, principal=principal)
    where = "Azure IMDS 169.254.169.254" if env == "azure" else "GCP metadata server (host 'metadata')"
    return _Plan(
        {"ENVIRONMENT": env, "TOKEN_RESOURCE": audience},
        f"{where}, answered by the kit IdP at {target} (cloudsim: only metadata hosts redirected)",
        simulated=True,
        notes=[
            "The cloud host simulation stays on while this client may need new tokens; "
            "%wif_reset (or wif_notebook.cloudsim.disable()) switches it off."
        ],
    )


def _plan_real(env: str | None, principal: str | None, resource: str | None, callback: bool) -> _Plan:
    if callback:
        raise ConfigError(
            "--callback obtains tokens from the kit's IdP, so it only works against the kit's mongod",
            hint="leave out the URI to use the kit, or use --env azure|gcp|k8s on a real host",
        )
    if env is None:
        return _Plan({}, "as the URI's authMechanismProperties say (pymongo built-in)")
    props: dict[str, Any] = {"ENVIRONMENT": env}
    if env in ("azure", "gcp"):
        if not resource:
            raise ConfigError(
                f"ENVIRONMENT:{env} needs TOKEN_RESOURCE (the audience the cluster expects)",
                hint="pass --resource, e.g. --resource api://<app-id> (the oidcIdentityProviders audience)",
            )
        props["TOKEN_RESOURCE"] = resource
    elif resource:
        raise ConfigError(
            f"TOKEN_RESOURCE is not allowed with ENVIRONMENT:{env}", hint="drop --resource for test and k8s"
        )
    source = {
        "test": "the file named by OIDC_TOKEN_FILE (pymongo built-in)",
        "k8s": "AZURE_FEDERATED_TOKEN_FILE / AWS_WEB_IDENTITY_TOKEN_FILE / the service-account token "
        "(pymongo built-in)",
        "azure": "Azure IMDS at 169.254.169.254 (pymongo built-in)",
        "gcp": "the GCP metadata server (pymongo built-in)",
    }[env]
    # On Azure a user-assigned managed identity is chosen by its client id, passed as the username.
    username = principal if env == "azure" else None
    return _Plan(props, source, username=username)


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
    if env is not None and env not in ENVIRONMENTS:
        raise ConfigError(f"unknown environment {env!r}", hint=f"use one of {', '.join(ENVIRONMENTS)}")
    if callback and env is not None:
        # pymongo: "OIDC_CALLBACK" cannot be combined with "ENVIRONMENT" (reference §12).
        raise ConfigError("--callback and --env cannot be combined", hint="choose one token source")
    state = state if state is not None else StateDir()
    port = _kit_mongod_port(state)
    kit = uri is None or _is_kit_uri(uri, port)
    if uri is None:
        if port is None:
            down = ServiceError("the test mongod is not running", hint="start it with %wif_up")
            record_failure(
                Failure(down, None, down.what, env, principal, None, time.time(), kit=True, resource=resource)
            )
            raise down
        from .stack import mongodb_uri

        uri = mongodb_uri(port)
    environment = "callback" if callback else (env or ("test" if kit else "uri"))
    app_name = app_name or f"wif-connect-{os.getpid()}-{next(_counter)}"
    started_at = time.time()
    plan: _Plan | None = None
    client: MongoClient[Any] | None = None
    steps: list[Step] = []
    try:
        if kit:
            plan = _plan_kit(
                state,
                environment if environment != "callback" else "test",
                principal,
                resource,
                callback,
                lifetime,
                fault,
            )
        else:
            if lifetime is not None or fault is not None:
                raise ConfigError(
                    "--lifetime and --fault only work against the kit's mongod",
                    hint="leave out the URI to use the kit",
                )
            plan = _plan_real(env, principal, resource, callback)
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
        client = MongoClient(uri, **kwargs)
        client.admin.command("ping")  # the pool's first connection authenticates before this runs
        connect_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        status = client.admin.command("connectionStatus")
        first_ms = (time.perf_counter() - t1) * 1000
    except BaseException as exc:
        if client is not None:
            client.close()
        if isinstance(exc, KeyboardInterrupt):
            raise
        token = plan.token if plan is not None else None
        if plan is not None and plan.callback is not None and plan.callback.calls:
            token = plan.callback.calls[-1].token
        if plan is not None and plan.simulated:
            fetched = [r for r in cloudsim.requests() if r.at >= started_at and r.token]
            token = fetched[-1].token if fetched else None
        record_failure(
            Failure(
                error=exc,
                code=getattr(exc, "code", None),
                message=_first_line(exc),
                environment=environment,
                principal=principal or (plan.callback.principal if plan and plan.callback else None),
                app_name=app_name,
                started_at=started_at,
                kit=kit,
                token=token,
                resource=resource,
            )
        )
        raise explain_error(exc, kit=kit, where=f" at {_redact_uri(uri)}") from exc

    # Token fetch: measured where the kit can see it; inside pymongo otherwise.
    token_claims: dict[str, Any] = _claims_of(plan.token) if plan.token else {}
    if plan.callback is not None and plan.callback.calls:
        steps.append(
            Step("token fetch", sum(plan.callback.elapsed_ms), f"{len(plan.callback.calls)} callback call(s)")
        )
        token_claims = _claims_of(plan.callback.calls[-1].token)
    elif plan.simulated:
        fetched = cloudsim.requests()[seen:]
        ms = sum(r.elapsed_ms for r in fetched)
        steps.append(Step("token fetch", ms, f"{len(fetched)} metadata request(s) by pymongo"))
        if fetched:
            token_claims = dict(fetched[-1].claims)
    elif plan.token_ms is not None:
        steps.append(Step("token fetch", plan.token_ms, plan.token_detail))
    else:
        steps.append(Step("token fetch", None, "inside pymongo (part of connect + authenticate)"))
    steps.append(Step("connect + authenticate", round(connect_ms, 2), "server selection, hello, saslStart"))
    steps.append(Step("first command", round(first_ms, 2), "connectionStatus"))
    info = status.get("authInfo", {})
    conn = Connection(
        client=client,
        uri=_redact_uri(uri),
        environment=environment,
        kit=kit,
        app_name=app_name,
        users=list(info.get("authenticatedUsers", [])),
        roles=list(info.get("authenticatedUserRoles", [])),
        token_source=plan.source,
        token_claims=token_claims,
        steps=steps,
        notes=plan.notes,
        principal=principal or (plan.callback.principal if plan.callback else None),
        started_at=started_at,
    )
    if kit and not conn.roles:
        conn.notes.append(
            "No roles: commands other than hello/ping will fail with 13 until %wif_authorize maps "
            "this workload's group or $external user to a role."
        )
    with _lock:
        _connections[app_name] = conn
    record_failure(None)
    return conn


# -- authorization (createRole / createUser through the administrator) -------------------------------
def admin_client(state: StateDir, *, timeout_ms: int = 5_000) -> MongoClient[Any]:
    """A SCRAM-SHA-256 client as the kit's administrator (``stack.administrator_uri``)."""
    from .stack import administrator_uri

    uri = administrator_uri(state)
    return MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms)


def parse_role(text: str, default_db: str = "admin") -> dict[str, str]:
    """``read@test`` → ``{"role": "read", "db": "test"}`` (``db`` defaults to admin)."""
    role, _, db = text.strip().partition("@")
    if not role:
        raise ConfigError(f"empty role in {text!r}", hint="write roles as ROLE@DB, e.g. readWrite@test")
    return {"role": role, "db": db or default_db}


def parse_privilege(text: str) -> dict[str, Any]:
    """``test.orders:find,insert`` → a privilege document; ``test:find`` = every collection of test,
    ``cluster:listDatabases`` = the cluster resource."""
    target, sep, actions = text.strip().partition(":")
    names = [a.strip() for a in actions.split(",") if a.strip()]
    if not sep or not target or not names:
        raise ConfigError(
            f"cannot read the privilege {text!r}",
            hint="write privileges as DB[.COLLECTION]:ACTION[,ACTION], e.g. test.orders:find,insert",
        )
    if target == "cluster":
        return {"resource": {"cluster": True}, "actions": names}
    db, _, coll = target.partition(".")
    return {"resource": {"db": db, "collection": coll}, "actions": names}


@dataclass
class Authorization:
    """What ``authorize`` created or updated, and the equivalent mongosh command."""

    kind: str  # "role" | "user"
    name: str
    db: str
    roles: list[dict[str, Any]]
    privileges: list[dict[str, Any]]
    created: bool
    command: str
    notes: list[str] = field(default_factory=list)

    def _panel(self) -> display.Panel:
        verb = "created" if self.created else "updated"
        rows: list[tuple[str, Any]] = [
            (self.kind, f"{self.name}@{self.db} ({verb})"),
            ("inherits", ", ".join(f"{r['role']}@{r['db']}" for r in self.roles) or "—"),
        ]
        if self.kind == "role":
            rows.append(("privileges", self.privileges or "—"))
        rows.append(("mongosh", self.command))
        return display.Panel(f"Authorized {self.name}", rows, notes=self.notes, tone="ok")

    def __str__(self) -> str:
        return str(self._panel())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._panel()._repr_mimebundle_()


def provider_for_prefix(state: StateDir, prefix: str) -> Any | None:
    """The running configuration's entry with ``authNamePrefix`` ``prefix`` (None: no such entry)."""
    from .mongod import server_providers

    found = server_providers(state)
    if found is None:
        return None
    return next((p for p in found.providers if p.auth_name_prefix == prefix), None)


def authorize(
    state: StateDir,
    *,
    group: str | None = None,
    user: str | None = None,
    principal: str | None = None,
    prefix: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    privileges: list[str] | tuple[str, ...] = (),
) -> Authorization:
    """Map a group to a role (``createRole "<prefix>/<group>"`` in admin), or create the ``$external``
    user ``<prefix>/<principal>`` — with the given inherited roles (``ROLE@DB``) and privileges."""
    from pymongo.errors import OperationFailure as _OperationFailure

    from .oidc import auth_name

    chosen = [x for x in (group, user, principal) if x]
    if len(chosen) != 1:
        raise ConfigError(
            "say what to authorize: exactly one of --group, --user or --principal",
            hint="e.g. %wif_authorize --group lesson-readers --role read@test",
        )
    role_refs = [parse_role(r) for r in roles]
    privilege_docs = [parse_privilege(p) for p in privileges]
    if not role_refs and not privilege_docs:
        raise ConfigError(
            "no role or privilege to grant", hint="add --role ROLE@DB and/or --privilege DB.COLL:ACTIONS"
        )
    notes: list[str] = []
    if group:
        prefix = prefix or "kit"
        provider = provider_for_prefix(state, prefix)
        if provider is not None and not provider.use_authorization_claim:
            raise ConfigError(
                f"the '{prefix}' provider has useAuthorizationClaim: false, so groups give no roles",
                hint=f"create its $external user instead: %wif_authorize --principal NAME --role ROLE@DB "
                f"(or --user {prefix}/<principal>)",
            )
        from .idp.issuers import AZURE_GROUPS

        value = AZURE_GROUPS.get(group, group) if prefix == "azure" else group
        if value != group:
            notes.append(f"Entra puts group object ids in 'groups': {group} is {value}.")
        name, db, kind = auth_name(prefix, value), "admin", "role"
    else:
        if principal:
            from .idp.principals import find

            who = find(state, principal)
            prefix = prefix or who.issuer_id
            provider = provider_for_prefix(state, prefix)
            claim = provider.principal_name if provider is not None else "sub"
            value = who.subject if claim == "sub" else str(who.claims.get(claim, who.subject))
            name = auth_name(prefix, value)
        else:
            assert user is not None
            name = user if "/" in user or prefix is None else auth_name(prefix, user)
            provider = provider_for_prefix(state, name.split("/", 1)[0])
        if privilege_docs:
            raise ConfigError(
                "a user gets privileges through roles", hint="use --role ROLE@DB (create a role with --group)"
            )
        if provider is not None and provider.use_authorization_claim:
            notes.append(
                f"The '{provider.auth_name_prefix}' provider takes roles from the token's "
                f"'{provider.authorization_claim}' claim: this user document is not consulted at login."
            )
        db, kind = "$external", "user"
    client = admin_client(state)
    created = True
    try:
        target = client[db]
        if kind == "role":
            try:
                target.command("createRole", name, privileges=privilege_docs, roles=role_refs)
            except _OperationFailure as exc:
                if exc.code != 51002:  # RoleAlreadyExists
                    raise
                target.command("updateRole", name, privileges=privilege_docs, roles=role_refs)
                created = False
            command = (
                f"db.getSiblingDB('admin').createRole({{role: {name!r}, privileges: {privilege_docs}, "
                f"roles: {role_refs}}})"
            )
        else:
            try:
                target.command("createUser", name, roles=role_refs)
            except _OperationFailure as exc:
                if exc.code != 51003:  # UserAlreadyExists
                    raise
                target.command("updateUser", name, roles=role_refs)
                created = False
            command = f"db.getSiblingDB('$external').createUser({{user: {name!r}, roles: {role_refs}}})"
    except PyMongoError as exc:
        raise explain_error(exc, kit=True) from exc
    finally:
        client.close()
    return Authorization(kind, name, db, role_refs, privilege_docs, created, command, notes)


# -- the server's oidcIdentityProviders (mongod.conf) ---------------------------------------------------
EDITED_MARKER = "# Edited with wif-notebook (%wif_mongod)"
_LIST_FIELDS = ("requestScopes", "logClaims")


def parse_field_value(name: str, text: str) -> Any:
    """``key=value`` text as mongod's field type: JSON where it parses, lists for list fields."""
    import json

    text = text.strip()
    if name in _LIST_FIELDS and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _load_config(state: StateDir) -> Any:
    from .idp.service import idp_record
    from .mongod import ensure_config

    return ensure_config(state, idp_record=idp_record(state))


@dataclass
class ProvidersView:
    """The ``oidcIdentityProviders`` entries of mongod.conf, and what just changed."""

    path: str
    entries: list[dict[str, Any]]
    change: str = ""
    restarted: bool = False

    def _panel(self) -> display.Panel:
        columns = ["authNamePrefix", "issuer", "audience", "roles from", "other fields"]
        rows = []
        for e in self.entries:
            roles = (
                f"claim '{e.get('authorizationClaim')}'"
                if e.get("useAuthorizationClaim", True)
                else "$external user documents"
            )
            shown = {"authNamePrefix", "issuer", "audience", "authorizationClaim", "useAuthorizationClaim"}
            others = {k: v for k, v in e.items() if k not in shown}
            rows.append([e.get("authNamePrefix"), e.get("issuer"), e.get("audience"), roles, others or "—"])
        notes = [self.change] if self.change else []
        if self.restarted:
            notes.append("mongod restarted with the new configuration.")
        return display.Panel(
            "oidcIdentityProviders", [("mongod.conf", self.path)], notes=notes, table=(columns, rows)
        )

    def __str__(self) -> str:
        return str(self._panel())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._panel()._repr_mimebundle_()


def providers_view(state: StateDir) -> ProvidersView:
    cfg = _load_config(state)
    return ProvidersView(str(state.mongod_conf), [p.to_document() for p in cfg.oidc_providers])


def _write_providers(state: StateDir, entries: list[dict[str, Any]], change: str) -> ProvidersView:
    """Validate ``entries`` with the rule book, write mongod.conf (as edited), restart a running mongod."""
    import json
    from dataclasses import replace

    from .mongod import mongod_status, parse_config, render_config, start_mongod
    from .oidc import parse_oidc_identity_providers

    cfg = _load_config(state)
    # ConfigError carries the message a real mongod would print for this value.
    providers = parse_oidc_identity_providers(
        json.dumps(entries), enable_test_commands=cfg.enable_test_commands
    )
    params = dict(cfg.set_parameters)
    params["oidcIdentityProviders"] = json.dumps([p.to_document() for p in providers])
    cfg = replace(cfg, oidc_providers=providers, set_parameters=params)
    lines = render_config(cfg).splitlines(keepends=True)
    # Not the "Generated" marker: the kit must not regenerate a file the user changed on purpose.
    text = f"{EDITED_MARKER}; `%wif_mongod reset` restores the kit's default.\n" + "".join(lines[1:])
    parse_config(text, source=str(state.mongod_conf))
    state.write_private(state.mongod_conf, text)
    restarted = False
    if mongod_status(state).get("running"):
        start_mongod(state)  # restarts: the file is newer than the running server
        restarted = True
    return ProvidersView(
        str(state.mongod_conf), [p.to_document() for p in providers], change=change, restarted=restarted
    )


def set_provider(state: StateDir, prefix: str, changes: dict[str, Any]) -> ProvidersView:
    """Change fields of the entry with ``authNamePrefix`` ``prefix`` (value None removes a field)."""
    entries = providers_view(state).entries
    entry = next((e for e in entries if e.get("authNamePrefix") == prefix), None)
    if entry is None:
        known = ", ".join(str(e.get("authNamePrefix")) for e in entries) or "none"
        raise ConfigError(
            f"no oidcIdentityProviders entry with authNamePrefix {prefix!r}",
            hint=f"use one of: {known} (%wif_mongod shows them)",
        )
    for name, value in changes.items():
        if value is None:
            entry.pop(name, None)
        else:
            entry[name] = value
    shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    return _write_providers(state, entries, f"{prefix}: set {shown}")


def add_provider(state: StateDir, entry: dict[str, Any]) -> ProvidersView:
    entries = providers_view(state).entries + [dict(entry)]
    return _write_providers(state, entries, f"added the entry for {entry.get('issuer')}")


def remove_provider(state: StateDir, prefix: str) -> ProvidersView:
    entries = providers_view(state).entries
    kept = [e for e in entries if e.get("authNamePrefix") != prefix]
    if len(kept) == len(entries):
        raise ConfigError(f"no entry with authNamePrefix {prefix!r}", hint="%wif_mongod shows the entries")
    return _write_providers(state, kept, f"removed {prefix}")


def restore_default_config(state: StateDir) -> ProvidersView:
    """Write the kit's generated mongod.conf again (keeping the port) and restart a running mongod."""
    from .idp.service import idp_record
    from .mongod import default_config, mongod_status, start_mongod, write_config

    port = _load_config(state).port
    write_config(state, default_config(state, idp_record(state), port=port))
    restarted = False
    if mongod_status(state).get("running"):
        start_mongod(state)
        restarted = True
    view = providers_view(state)
    view.change, view.restarted = "restored the kit's default configuration", restarted
    return view
