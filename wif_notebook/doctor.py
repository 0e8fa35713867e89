"""The doctor: why did (or would) a MONGODB-OIDC login fail, in plain words, and what to do about it.

``diagnose(token, state=..., last_failure=...)`` looks at what the kit can see:

1. the services (IdP and mongod running?) and mongod.conf (valid? which ``oidcIdentityProviders``);
2. the failure: a ``connect`` failure (``wif_notebook.connect.Failure``) or any pymongo exception
   (``%wif_doctor`` passes the notebook's last exception);
3. mongod's own JSON log, where the server writes the exact reason of every refused login
   (id 20249, ``attr.error``), found through the connection's ``appName`` (id 51800) or by time;
4. the token, checked rule by rule with the rule book (``wif_notebook.oidc``), and then the
   authorization behind it (the ``$external`` user or the role documents) through the administrator.

The result names the failing rule (a rule id of the rule book, or one of the situations in
``SITUATIONS``) with the fix, or says that nothing failed and lists what was checked. The fixes name
commands in the syntax of where the diagnosis is read (``NextSteps``): the magics in a notebook,
the ``wif`` command in a terminal (``diagnose(..., terminal=True)``, as ``wif doctor`` asks).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import display
from .clouds import issuer_mixup_words
from .errors import ConfigError, WifError
from .oidc import (
    RULE_IDS,
    ProviderConfig,
    RuleResult,
    first_failure,
    rule_by_id,
    rule_for_message,
    slash_twin,
)
from .server.log import ID_AUTH_FAILED, ID_AUTH_SUCCEEDED, ID_CLIENT_METADATA
from .state import StateDir

# Failures that are not a token rule.
SITUATIONS = {
    "idp-down": "The identity provider is not running",
    "mongod-down": "The test mongod is not running",
    "config": "mongod.conf is invalid",
    "external-user": "The $external user does not exist",
    "role-missing": "Authenticated, but not authorized (13)",
    "reauth": "The session expired (391) and reauthentication failed",
    "token-source": "No token could be obtained",
    "unknown": "Authentication failed for a reason the doctor does not recognise",
}

LOG_LINES = 4000  # how much of mongod.log the doctor reads (newest lines)

# Reasons the server's session rules (not the token rules) log, → the doctor's situations.
_SESSION_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"UserNotFound: Could not find user"), "external-user"),
    (re.compile(r"Only same user is permitted to re-auth"), "reauth"),
]


def rule_for_reason(reason: str) -> str | None:
    """The rule (or situation) id a mongod log reason names; None when it is not recognised."""
    return rule_for_message(reason, first=_SESSION_REASONS)


@dataclass(frozen=True)
class Check:
    """One thing the doctor looked at."""

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class NextSteps:
    """The commands a diagnosis names, in the syntax of where it is read: the magics in a notebook,
    the ``wif`` command in a terminal; where the command line has no equivalent, the terminal gets
    what does the same there (the mongod.conf edit, the public Python API's call)."""

    state: StateDir
    terminal: bool = False

    def wif(self, line: str) -> str:
        """A command both have: ``token X`` → ``%wif_token X`` (notebook), ```wif token X``` (terminal)."""
        if self.terminal:
            return f"`wif {line}`"
        name, _, rest = line.partition(" ")
        return f"%wif_{name} {rest}".rstrip()

    def provider(self, prefix: str | None, fields: dict[str, Any]) -> str:
        """Change the oidcIdentityProviders entry ``prefix`` (None: add one) to have ``fields``."""
        if not self.terminal:
            pairs = " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in fields.items())
            return f"%wif_mongod set {prefix} {pairs}" if prefix else f"%wif_mongod add {pairs}"
        where = f"in its '{prefix}' entry" if prefix else "as a new entry"
        return (
            f"edit oidcIdentityProviders in {self.state.mongod_conf} ({json.dumps(fields)[1:-1]} {where}), "
            "then restart mongod: `wif mongod stop && wif mongod start`"
        )

    def authorize(self, **options: Any) -> str:
        """``%wif_authorize`` with ``authorization.authorize``'s options (group, user, prefix, roles,
        privileges); in a terminal, that call of the public Python API, run by the interpreter wif
        runs in (``python`` on PATH may be another one) and printing what it created."""
        if self.terminal:
            args = [f"w.StateDir({str(self.state.path)!r})"] + [f"{k}={v!r}" for k, v in options.items()]
            call = ", ".join(args)
            code = f"import wif_notebook as w; print(w.authorize({call}))"
            return f"`{shlex.quote(sys.executable)} -c {shlex.quote(code)}`"
        flags = {"roles": "--role", "privileges": "--privilege"}
        parts = []
        for name, value in options.items():
            for item in value if isinstance(value, list) else [value]:
                parts.append(f"{flags.get(name, '--' + name)} {item}")
        return "%wif_authorize " + " ".join(parts)

    @property
    def log_in_again(self) -> str:
        return "the login again" if self.terminal else "%wif_connect again"


@dataclass
class Diagnosis:
    """The verdict: ``ok``, or the failing ``rule`` with plain words and the fix."""

    ok: bool
    rule: str | None
    title: str
    explanation: str
    fixes: list[str] = field(default_factory=list)
    evidence: list[tuple[str, str]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    rules: list[RuleResult] = field(default_factory=list)

    def __str__(self) -> str:
        head = "OK" if self.ok else f"FAILED [{self.rule}]"
        lines = [f"wif doctor: {head} — {self.title}", "", self.explanation]
        if self.fixes:
            lines.append("")
            lines.append("What to do:" if len(self.fixes) == 1 else "What to do (either):")
            lines += [f"  {i}. {fix}" for i, fix in enumerate(self.fixes, 1)]
        if self.evidence:
            lines.append("")
            lines.append("Evidence:")
            lines += [f"  {where}: {what}" for where, what in self.evidence]
        if self.rules:
            lines.append("")
            lines.append("Token rules (the server's order):")
            for r in self.rules:
                symbol, _ = display.mark(r.passed)
                lines.append(f"  {symbol} {r.rule:<20} {r.detail}")
        lines.append("")
        lines.append("Checked:")
        for c in self.checks:
            symbol, _ = display.mark(c.passed)
            lines.append(f"  {symbol} {c.name}: {c.detail}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = display.esc
        parts = [f'<div style="margin:2px 0 6px 0">{esc(self.explanation)}</div>']
        if self.fixes:
            label = "What to do" if len(self.fixes) == 1 else "What to do (either)"
            items = "".join(f"<li>{esc(f)}</li>" for f in self.fixes)
            parts.append(f"<div><b>{label}</b><ol style='margin:2px 0 6px 0'>{items}</ol></div>")
        if self.evidence:
            rows = [[esc(w), display.code(t)] for w, t in self.evidence]
            parts.append(
                "<div><b>Evidence</b></div>" + display.html_table(["where", "what"], rows, raw_html=True)
            )
        if self.rules:
            rows = []
            for r in self.rules:
                rows.append(
                    [
                        display.mark_html(r.passed),
                        display.code(r.rule),
                        esc(r.title),
                        esc(r.detail),
                    ]
                )
            parts.append(
                "<details><summary>Token rules (the server's order)</summary>"
                + display.html_table(["", "rule", "check", "detail"], rows, raw_html=True)
                + "</details>"
            )
        rows = []
        for c in self.checks:
            rows.append(
                [
                    display.mark_html(c.passed),
                    esc(c.name),
                    esc(c.detail),
                ]
            )
        parts.append(
            "<details"
            + (" open" if self.ok else "")
            + "><summary>What was checked</summary>"
            + display.html_table(["", "check", "result"], rows, raw_html=True)
            + "</details>"
        )
        badge = display.badge("OK", "ok") if self.ok else display.badge(str(self.rule), "fail")
        return display.box(
            f"wif doctor: {self.title}", badge + "".join(parts), tone="ok" if self.ok else "fail"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rule": self.rule,
            "title": self.title,
            "explanation": self.explanation,
            "fixes": list(self.fixes),
            "evidence": [list(e) for e in self.evidence],
            "checks": [c.__dict__ for c in self.checks],
            "rules": [r.__dict__ for r in self.rules],
        }


# -- what the doctor reads -------------------------------------------------------------------------
def log_records(state: StateDir, n: int = LOG_LINES) -> list[dict[str, Any]]:
    """mongod's JSON log entries (newest ``n`` lines), parsed; unparsable lines are skipped."""
    from .mongod import mongod_logs

    out = []
    for line in mongod_logs(state, n):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def _epoch(entry: dict[str, Any]) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(entry["t"]["$date"])).timestamp()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _app_contexts(records: Sequence[dict[str, Any]], app_name: str) -> set[str]:
    ctxs = set()
    for e in records:
        if e.get("id") == ID_CLIENT_METADATA:
            attr = e.get("attr") or {}
            doc = attr.get("doc") or {}
            if (doc.get("application") or {}).get("name") == app_name:
                ctxs.add(str(attr.get("client") or e.get("ctx")))
    return ctxs


@dataclass(frozen=True)
class _LoggedFailure:
    reason: str
    principal: str
    ctx: str
    at: float
    reauth: bool  # an earlier successful login on the same connection: an expired session


def find_logged_failure(
    state: StateDir,
    *,
    app_name: str | None = None,
    since: float | None = None,
    records: list[dict[str, Any]] | None = None,
) -> _LoggedFailure | None:
    """The newest 'Authentication failed' record for ``app_name``'s connections (or since ``since``),
    in ``records`` (default: the log as it is now, ``log_records``)."""
    if records is None:
        records = log_records(state)
    ctxs = _app_contexts(records, app_name) if app_name else set()
    chosen = None
    for e in records:
        if e.get("id") != ID_AUTH_FAILED:
            continue
        attr = e.get("attr") or {}
        if attr.get("mechanism") != "MONGODB-OIDC":
            continue
        if ctxs and e.get("ctx") not in ctxs:
            continue
        if since is not None and _epoch(e) < since - 1:
            continue
        if app_name and not ctxs and since is None:
            continue
        chosen = e
    if chosen is None:
        return None
    ctx = str(chosen.get("ctx"))
    at = _epoch(chosen)
    earlier_success = any(
        e.get("id") == ID_AUTH_SUCCEEDED and e.get("ctx") == ctx and _epoch(e) <= at for e in records
    )
    attr = chosen.get("attr") or {}
    return _LoggedFailure(
        str(attr.get("error", "")), str(attr.get("principalName", "")), ctx, at, earlier_success
    )


def _providers(
    state: StateDir, checks: list[Check], steps: NextSteps
) -> tuple[list[ProviderConfig] | None, bool]:
    from .mongod import server_providers

    try:
        found = server_providers(state)
    except ConfigError as exc:
        checks.append(Check("mongod.conf", False, f"{exc.what} ({exc.hint})"))
        return None, False
    if found is None:
        checks.append(Check("mongod.conf", None, f"not written yet ({steps.wif('up')} writes it)"))
        return None, True
    shown = "; ".join(f"{p.auth_name_prefix}: {p.issuer} (audience {p.audience})" for p in found.providers)
    checks.append(Check("oidcIdentityProviders", bool(found.providers), shown or "empty"))
    return list(found.providers), found.enable_test_commands


def _service_checks(state: StateDir, checks: list[Check]) -> tuple[bool, bool]:
    from .idp.service import idp_record
    from .mongod import mongod_status

    idp = idp_record(state)
    checks.append(Check("identity provider", idp is not None, _idp_detail(idp.extra) if idp else "stopped"))
    status = mongod_status(state)
    running = bool(status.get("running"))
    checks.append(
        Check(
            "mongod",
            running,
            f"{status.get('kind')} on {status.get('host')}:{status.get('port')}" if running else "stopped",
        )
    )
    return idp is not None, running


def _idp_detail(extra: dict[str, Any]) -> str:
    """Where the IdP is, as it is: one port, its issuers in one form (https unless started with
    ``--issuer-scheme http``), the same paths answering in the other."""
    https, http = extra.get("https_base_url"), extra.get("base_url")
    if not https:
        return f"running at {http}"
    if extra.get("issuer_scheme") == "http":
        return f"running at {http} (issuers are http: --issuer-scheme http); the same port answers {https}"
    return f"running at {https} (issuers are https); the same port answers {http} in the clear"


# -- plain words per rule --------------------------------------------------------------------------
def _aud_list(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


_Words = tuple[str, str, list[str]]  # (title, explanation, fixes)


@dataclass(frozen=True)
class _Facts:
    """What the words for a failed rule may quote: the token's claims, the configuration, the log."""

    claims: dict[str, Any]
    providers: Sequence[ProviderConfig]
    principal: str | None
    reason: str
    steps: NextSteps

    @property
    def iss(self) -> Any:
        return self.claims.get("iss")

    @property
    def same_issuer(self) -> list[ProviderConfig]:
        return [p for p in self.providers if p.issuer == self.iss]

    @property
    def who(self) -> str:
        sub = self.claims.get("sub")
        return self.principal or (sub if isinstance(sub, str) else None) or "<principal>"


def _rule_words(
    rule: str,
    claims: dict[str, Any],
    providers: Sequence[ProviderConfig],
    principal: str | None,
    reason: str,
    steps: NextSteps,
) -> _Words:
    """(title, explanation, fixes) for a failed rule, with this token's and configuration's values."""
    facts = _Facts(claims, providers, principal, reason, steps)
    words = _WORDS.get(rule)
    if words is not None:
        return words(facts)
    r = rule_by_id(rule) if rule in RULE_IDS else None
    title = r.title if r else SITUATIONS.get(rule, rule)
    explanation = (r.checks if r else "") + (f" The server logged: {reason}" if reason else "")
    return f"Rule {rule} failed: {title}", explanation.strip(), [r.fix] if r else []


def _audience_words(f: _Facts) -> _Words:
    auds = _aud_list(f.claims)
    if len(auds) != 1:
        return (
            "The token has more than one audience",
            f"The token's aud lists {len(auds)} values ({', '.join(auds)}); MongoDB accepts a token only "
            "when aud holds exactly one value, equal to the configured audience.",
            ["Ask the identity provider for a token with one audience (one resource / TOKEN_RESOURCE)."],
        )
    same_issuer = f.same_issuer
    configured = same_issuer[0].audience if same_issuer else "<configured audience>"
    prefix = same_issuer[0].auth_name_prefix if same_issuer else "<prefix>"
    got = auds[0] if auds else "<none>"
    return (
        "The token's audience is not the one the server expects",
        f"The token says aud = '{got}', but the server's oidcIdentityProviders entry for issuer "
        f"'{f.iss}' expects audience '{configured}'. Both sides must name the same audience.",
        [
            "Ask the identity provider for the configured audience: "
            + f.steps.wif(f"token {f.who} --audience {configured}")
            + f" (pymongo: TOKEN_RESOURCE:{configured}"
            + ("" if f.steps.terminal else f"; %wif_connect --resource {configured}")
            + ").",
            "Or change the provider's audience in mongod.conf to the token's: "
            + f.steps.provider(prefix, {"audience": got})
            + ("." if f.steps.terminal else " (the server restarts with it)."),
        ],
    )


def _provider_words(f: _Facts) -> _Words:
    configured = ", ".join(p.issuer for p in f.providers) or "none"
    use_configured = f"a token from a configured issuer ({f.steps.wif('token PRINCIPAL')})."
    twin = slash_twin(f.iss, [p.issuer for p in f.providers])
    entry = next((p for p in f.providers if p.issuer == twin), None) if twin else None
    if entry is not None:
        # One character apart: the fix is that entry's issuer, not a near-duplicate entry.
        fixes = [
            f"Set the '{entry.auth_name_prefix}' entry's issuer to the token's: "
            + f.steps.provider(entry.auth_name_prefix, {"issuer": f.iss})
            + ".",
            "Or use " + use_configured,
        ]
    else:
        fixes = [
            "Use " + use_configured,
            "Or add an entry for this issuer: "
            + f.steps.provider(None, {"issuer": f.iss, "audience": "<aud>", "authNamePrefix": "<name>"})
            + ".",
        ]
    return (
        "No identity provider is configured for the token's issuer",
        f"The token was issued by '{f.iss}', but the server trusts only: {configured}. "
        "For a workload (one-step) login the server picks the entry whose issuer equals iss."
        + issuer_mixup_words(f.claims, f.providers),
        fixes,
    )


def _issuer_words(f: _Facts) -> _Words:
    return (
        "The token's issuer does not match the provider's",
        f"iss is '{f.iss}', which differs from the configured issuer (every character counts, "
        "including a trailing slash)." + issuer_mixup_words(f.claims, f.providers),
        [rule_by_id("issuer").fix],
    )


def _expired_words(f: _Facts) -> _Words:
    exp = f.claims.get("exp")
    when = f" {int(time.time() - exp)} s ago" if isinstance(exp, (int, float)) else ""
    return (
        "The token has expired",
        f"The token's exp passed{when}. mongod allows no clock skew for expiry.",
        [
            "Fetch a fresh token ("
            + (
                f"{f.steps.wif('token')} fetches one each time"
                if f.steps.terminal
                else "%wif_token / %wif_connect fetch one each time"
            )
            + "). A driver does this by itself only if its token source returns a new token: a token "
            "file must be refreshed.",
        ],
    )


def _external_user_words(f: _Facts) -> _Words:
    provider = next((p for p in f.providers if f.reason and p.auth_name_prefix + "/" in f.reason), None)
    match = re.search(r'Could not find user "([^"]+)"', f.reason)
    user = match.group(1) if match else f"<prefix>/{f.who}"
    prefix = provider.auth_name_prefix if provider else user.split("/", 1)[0]
    return (
        SITUATIONS["external-user"],
        f"The token itself is valid, but the '{prefix}' provider has useAuthorizationClaim: false, so "
        f"the server looks up the user '{user}' in $external for the roles — and it does not exist.",
        [
            f"Create it: {f.steps.authorize(user=user, roles=['readWrite@test'])} "
            "(db.getSiblingDB('$external').createUser({user: ..., roles: [...]})).",
            "Or map groups instead: set useAuthorizationClaim true with an authorizationClaim ("
            + f.steps.provider(prefix, {"useAuthorizationClaim": True, "authorizationClaim": "groups"})
            + ").",
        ],
    )


_WORDS: dict[str, Callable[[_Facts], _Words]] = {
    "audience": _audience_words,
    "provider": _provider_words,
    "issuer": _issuer_words,
    "time.exp": _expired_words,
    "external-user": _external_user_words,
}


# -- the diagnosis ---------------------------------------------------------------------------------
def _token_rules(
    token: str, providers: Sequence[ProviderConfig], test_commands: bool, state: StateDir
) -> tuple[list[RuleResult], dict[str, Any]]:
    from .oidc import keyset_for
    from .tokens import check_against, decode, explain_token

    claims: dict[str, Any] = {}
    keys = None
    try:
        decoded = decode(token)
        claims = dict(decoded.claims)
        iss = decoded.claims.get("iss")
        if isinstance(iss, str):
            keys = keyset_for(iss, state=state, allow_insecure_localhost=test_commands)
    except WifError:
        pass
    if providers:
        results = check_against(token, providers, keys, allow_insecure_localhost=test_commands, state=state)
    else:
        results = explain_token(token, None, keys)
    return results, claims


def _check_authorization(
    state: StateDir, token: str, providers: Sequence[ProviderConfig], checks: list[Check], steps: NextSteps
) -> tuple[str, str, list[str]] | None:
    """After the token passes: does the user / do the roles exist? (title, why, fixes) if not."""
    from .authorization import admin_client
    from .oidc import check_principal, role_names, select_provider_for_token, user_name
    from .tokens import decode

    try:
        provider = select_provider_for_token(providers, token)
        claims = decode(token).claims
        user = user_name(provider, check_principal(claims, provider))
        roles = role_names(provider, claims)
        client = admin_client(state)
    except WifError as exc:
        checks.append(Check("authorization", None, f"not checked: {exc.what}"))
        return None
    try:
        if not provider.use_authorization_claim:
            found = client["$external"].command("usersInfo", user).get("users", [])
            checks.append(Check(f"$external user {user}", bool(found), "exists" if found else "missing"))
            if not found:
                reason = f'Could not find user "{user}"'
                return _rule_words("external-user", claims, providers, None, reason, steps)
            return None
        missing = []
        for role in roles:
            info = client.admin.command("rolesInfo", {"role": role, "db": "admin"}).get("roles", [])
            checks.append(Check(f"role {role}@admin", bool(info), "exists" if info else "not created"))
            if not info:
                missing.append(role)
        if roles and len(missing) == len(roles):
            group = missing[0].split("/", 1)[1]
            return (
                "The token's roles were never created",
                f"The login will succeed as {user}, with role(s) {', '.join(missing)} from the token's "
                f"'{provider.authorization_claim}' claim — but no such role exists in admin, so they grant "
                "nothing and every command fails with 13 (Unauthorized).",
                [
                    "Create the role: "
                    + steps.authorize(group=group, prefix=provider.auth_name_prefix, roles=["readWrite@test"])
                    + " (createRole in admin).",
                ],
            )
        if not roles:
            checks.append(
                Check("roles", False, f"the token's '{provider.authorization_claim}' claim is empty")
            )
    except Exception as exc:  # a check that cannot run must not hide the rest of the diagnosis
        checks.append(Check("authorization", None, f"not checked: {exc}"))
    finally:
        client.close()
    return None


def _from_exception(exc: BaseException) -> Any:
    from .connect import Failure

    return Failure(
        error=exc,
        code=getattr(exc, "code", None),
        message=str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        environment=None,
        principal=None,
        app_name=None,
        started_at=time.time() - 3600,
        kit=True,
    )


def _unauthorized(state: StateDir, failure: Any, checks: list[Check], steps: NextSteps) -> Diagnosis:
    """A 13 on a command: which user, which roles, which exist, what the command needed."""
    from .authorization import admin_client
    from .connect import connections

    message = failure.message.split(", full error")[0]
    match = re.search(r"not authorized on (\S+) to execute command \{ ?(\w+)", failure.message)
    db, command = (match.group(1), match.group(2)) if match else ("<db>", "<command>")
    conns = connections()
    conn = next((c for c in reversed(conns) if c.app_name == failure.app_name), conns[-1] if conns else None)
    evidence = [("error", message)]
    if conn is None:
        return Diagnosis(
            False,
            "role-missing",
            SITUATIONS["role-missing"],
            f"The workload is logged in but may not run {command} on {db}: none of its roles grants it (13).",
            [f"Grant a role that allows it: {steps.authorize(group='GROUP', roles=[f'readWrite@{db}'])}."],
            evidence,
            checks,
        )
    roles = [r for r in conn.roles if r.get("db") == "admin" and "/" in str(r.get("role"))]
    missing: list[str] = []
    try:
        client = admin_client(state)
        try:
            for r in roles:
                info = client.admin.command("rolesInfo", {"role": r["role"], "db": "admin"}).get("roles", [])
                checks.append(
                    Check(f"role {r['role']}@admin", bool(info), "exists" if info else "not created")
                )
                if not info:
                    missing.append(str(r["role"]))
        finally:
            client.close()
    except Exception as exc:  # the administrator may be unreachable; say so and go on
        checks.append(Check("roles", None, f"not checked: {exc}"))
    evidence.append(
        (
            "connectionStatus",
            f"{conn.user}: {', '.join(r['role'] + '@' + r['db'] for r in conn.roles) or 'no roles'}",
        )
    )
    if missing:
        prefix, _, group = missing[0].partition("/")
        return Diagnosis(
            False,
            "role-missing",
            "The token's role was never created",
            f"{conn.user} authenticated fine and holds role {missing[0]} (from its token's groups), but "
            f"that role does not exist in admin, so it grants nothing: {command} on {db} got 13.",
            [f"Create it: {steps.authorize(group=group, prefix=prefix, roles=[f'readWrite@{db}'])}."],
            evidence,
            checks,
        )
    return Diagnosis(
        False,
        "role-missing",
        SITUATIONS["role-missing"],
        f"{conn.user} authenticated, but none of its roles grants {command} on {db} (13).",
        [
            "Add the privilege to its role: "
            + steps.authorize(group="GROUP", privileges=[f"{db}:{command}"])
            + f", or inherit a built-in role: {steps.authorize(group='GROUP', roles=[f'readWrite@{db}'])}."
        ],
        evidence,
        checks,
    )


@dataclass
class _Case:
    """What one diagnosis works from: the services, the configuration, the failure and the token."""

    state: StateDir
    checks: list[Check]
    providers: list[ProviderConfig]
    test_commands: bool
    idp_up: bool
    mongod_up: bool
    failure: Any  # connect.Failure (an exception is converted) or None
    raw: str | None  # the token, when there is one
    steps: NextSteps
    evidence: list[tuple[str, str]] = field(default_factory=list)
    results: list[RuleResult] = field(default_factory=list)
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> Any:
        return getattr(self.failure, "error", None)

    @property
    def code(self) -> Any:
        return getattr(self.failure, "code", None)

    @property
    def kit_failure(self) -> bool:
        """The kit's services only matter for a failure against the kit (not a real cluster's URI)."""
        return self.failure is None or bool(getattr(self.failure, "kit", True))

    def diagnosis(self, rule: str, title: str, why: str, fixes: list[str]) -> Diagnosis:
        return Diagnosis(False, rule, title, why, fixes, self.evidence, self.checks, self.results)


def diagnose(
    token: Any = None, *, state: StateDir | None = None, last_failure: Any = None, terminal: bool = False
) -> Diagnosis:
    """Name the failing rule and the fix for ``token`` and/or ``last_failure`` (see the module doc).

    ``token``: a JWT string or ``IssuedToken``. ``last_failure``: ``connect.Failure`` or an exception.
    With neither, the newest authentication failure in mongod's log (if any) is diagnosed.
    ``terminal``: the fixes name ``wif`` commands instead of magics (``NextSteps``).
    """
    state = state if state is not None else StateDir()
    case = _gather(token, state, last_failure, NextSteps(state, terminal))
    if isinstance(case, Diagnosis):
        return case
    found = _service_problem(case)
    if found is not None:
        return found
    if case.failure is not None and case.code == 13:
        return _unauthorized(case.state, case.failure, case.checks, case.steps)
    logged = _logged_failure(case)
    rule = _token_verdict(case)
    return (
        _from_the_log(case, logged, rule)
        or _before_the_token_checks(case)
        or _authorization_problem(case)
        or _nothing_failed(case)
    )


def _gather(token: Any, state: StateDir, last_failure: Any, steps: NextSteps) -> _Case | Diagnosis:
    """The services, mongod.conf, the failure and the token; a Diagnosis when the configuration is bad."""
    from .tokens import IssuedToken

    checks: list[Check] = []
    idp_up, mongod_up = _service_checks(state, checks)
    providers, test_commands = _providers(state, checks, steps)
    if providers is None and not test_commands:
        return Diagnosis(
            False,
            "config",
            SITUATIONS["config"],
            "The server cannot start (or would refuse to) with this mongod.conf.",
            [c.detail for c in checks if c.name == "mongod.conf"],
            checks=checks,
        )
    failure = _from_exception(last_failure) if isinstance(last_failure, BaseException) else last_failure
    raw = token.token if isinstance(token, IssuedToken) else (str(token).strip() if token else None)
    if raw is None and failure is not None and getattr(failure, "token", None):
        raw = failure.token
    return _Case(state, checks, providers or [], test_commands, idp_up, mongod_up, failure, raw, steps)


def _service_problem(case: _Case) -> Diagnosis | None:
    """A server that cannot be reached, or an IdP that is down, explains everything after it."""
    from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

    failure = case.failure
    unreachable = isinstance(case.error, (ServerSelectionTimeoutError, AutoReconnect))
    kit_down = case.kit_failure and not case.mongod_up and (failure is not None or case.raw is None)
    said = [("error", failure.message[:300])] if failure is not None else []
    if unreachable or kit_down:
        return Diagnosis(
            False,
            "mongod-down",
            SITUATIONS["mongod-down"] if not case.mongod_up else "The server did not answer",
            "The client could not reach a server: nothing was authenticated. "
            + (
                "The kit's test mongod is stopped."
                if not case.mongod_up
                else f"pymongo said: {failure.message}"
            ),
            [
                f"Start it: {case.steps.wif('up')} (or {case.steps.wif('mongod start')}), then "
                f"{case.steps.wif('status')} shows where it listens."
            ],
            said,
            case.checks,
        )
    if not case.idp_up and case.kit_failure:
        return Diagnosis(
            False,
            "idp-down",
            SITUATIONS["idp-down"],
            "Workloads cannot get tokens (token endpoint, Azure IMDS, GCP metadata, token files) and "
            "mongod cannot fetch new signing keys (discovery, JWKS) while the IdP is stopped.",
            [f"Start it: {case.steps.wif('up')} (or `wif idp start`)."],
            said,
            case.checks,
        )
    return None


def _logged_failure(case: _Case) -> _LoggedFailure | None:
    """The server's own reason from its log (for this failure, or the newest unanswered one), noted
    as evidence and as a check."""
    failure = case.failure
    logged = None
    if failure is not None and case.kit_failure:
        records = log_records(case.state)  # read once for both questions below
        app = getattr(failure, "app_name", None)
        since = getattr(failure, "started_at", None)
        logged = find_logged_failure(case.state, app_name=app, since=since, records=records)
        if logged is None and app:
            logged = find_logged_failure(case.state, since=failure.started_at, records=records)
    elif failure is None and case.raw is None:
        records = log_records(case.state)
        logged = find_logged_failure(case.state, since=time.time() - 24 * 3600, records=records)
        if logged is not None and any(
            e.get("id") == ID_AUTH_SUCCEEDED and _epoch(e) > logged.at for e in records
        ):
            logged = None  # a later login worked: the failure is history
    if logged is not None:
        case.evidence.append((f"mongod.log {logged.ctx} (id {ID_AUTH_FAILED})", logged.reason))
        who = (
            f"for {logged.principal}"
            if logged.principal
            else "before the server read a principal from the token (it names none)"
        )
        case.checks.append(Check("mongod log", False, f"authentication failed {who}"))
    elif failure is None and case.raw is None:
        case.checks.append(
            Check("mongod log", True, "no failed MONGODB-OIDC authentication since the last success")
        )
    return logged


def _token_verdict(case: _Case) -> str | None:
    """The rule book's verdict on the token (the rule the server reports first), if there is one."""
    if case.raw is None:
        return None
    case.results, case.claims = _token_rules(case.raw, case.providers, case.test_commands, case.state)
    failed = first_failure(case.results)
    rule = failed.rule if failed is not None else None
    case.checks.append(Check("token rules", rule is None, "all passed" if rule is None else f"{rule} failed"))
    return rule


def _from_the_log(case: _Case, logged: _LoggedFailure | None, rule: str | None) -> Diagnosis | None:
    """What the server actually logged wins over the kit's reading of the token."""
    reason = logged.reason if logged is not None else ""
    log_rule = rule_for_reason(reason) if logged is not None else None
    if logged is not None and logged.reauth and log_rule in ("time.exp", "reauth"):
        return _failed_reauthentication(case, logged)
    if log_rule == "external-user" and rule is None:
        return case.diagnosis(
            "external-user",
            *_rule_words("external-user", case.claims, case.providers, None, reason, case.steps),
        )
    if log_rule is not None:
        rule = log_rule
        if rule == "audience" and not case.claims:
            case.claims = _claims_named_in(reason)
    if rule is not None:
        principal = getattr(case.failure, "principal", None)
        words = _rule_words(rule, case.claims, case.providers, principal, reason, case.steps)
        return case.diagnosis(rule, *words)
    if logged is not None:
        return case.diagnosis(
            "unknown",
            SITUATIONS["unknown"],
            f"The server refused the login and logged: {reason}",
            [f"Read the server's log around it: {case.steps.wif('mongod logs')}"],
        )
    return None


def _claims_named_in(reason: str) -> dict[str, Any]:
    """The iss and aud a "Unknown audience name" reason quotes (when the token itself is not at hand)."""
    m = re.search(r"Unknown audience name '([^']*)' for Identity Provider '([^']*)'", reason)
    return {"aud": m.group(1), "iss": m.group(2)} if m else {}


def _failed_reauthentication(case: _Case, logged: _LoggedFailure) -> Diagnosis:
    _title, why, fixes = _rule_words("time.exp", case.claims, case.providers, None, logged.reason, case.steps)
    return case.diagnosis(
        "time.exp",
        SITUATIONS["reauth"],
        "This connection had logged in successfully; when its token's exp passed the server answered "
        "391 (ReauthenticationRequired) and the driver reauthenticated — but its token source handed "
        f"back a token the server refused ({logged.reason}). " + why,
        fixes
        + [
            "With ENVIRONMENT:test or k8s, keep the token file fresh (the kit IdP rewrites its files); "
            "with a callback, return a new token on every call."
        ],
    )


def _before_the_token_checks(case: _Case) -> Diagnosis | None:
    """A failure that is not 18: the login never reached the server's token checks."""
    failure = case.failure
    if failure is None or case.code == 18:
        return None
    error = case.error
    return Diagnosis(
        False,
        "token-source"
        if not isinstance(error, WifError) or "token" in failure.message.lower()
        else "unknown",
        SITUATIONS["token-source"],
        f"The login did not reach the server's token checks: {failure.message}",
        [getattr(error, "hint", None) or f"Check the token source, then try {case.steps.log_in_again}."],
        [("error", failure.message[:300])],
        case.checks,
    )


def _authorization_problem(case: _Case) -> Diagnosis | None:
    """A token that passes: do its user / roles exist?"""
    if case.raw is None or not case.mongod_up:
        return None
    problem = _check_authorization(case.state, case.raw, case.providers, case.checks, case.steps)
    if problem is None:
        return None
    title, why, fixes = problem
    situation = "external-user" if "external" in title or "$external" in why else "role-missing"
    return case.diagnosis(situation, title, why, fixes)


def _nothing_failed(case: _Case) -> Diagnosis:
    what = "this token" if case.raw is not None else "the services, mongod.conf and the log"
    return Diagnosis(
        True,
        None,
        "nothing failed",
        f"The doctor found no problem with {what}: every check below passed.",
        [],
        case.evidence,
        case.checks,
        case.results,
    )
