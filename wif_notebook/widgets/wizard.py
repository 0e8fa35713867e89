"""``Wizard``: the seed's workflow as guided steps, each one re-runnable, errors shown in place.

    identity → token → claims → server configuration → authorize → connect

1. *identity*: pick a workload from the IdP's principals catalog (and, optionally, the audience
   to ask for);
2. *token*: obtain a token the way that kind of workload does (or through the IdP's mint, with a
   fault preset);
3. *claims*: the decoded claims in plain words and the rule book's verdict against the server;
4. *server configuration*: the ``oidcIdentityProviders`` entry the server picks for the token;
5. *authorize*: create the roles ``<authNamePrefix>/<group>`` in admin (or the ``$external`` user
   when the entry has ``useAuthorizationClaim: false``) through the SCRAM administrator;
6. *connect*: a real pymongo ``MongoClient`` with MONGODB-OIDC whose callback returns the token,
   and what ``connectionStatus`` says (user, roles).

The wizard's progress is a dataclass (``Wizard.progress``); a step that fails says why and what to
do next in its own error area and never shows a traceback. The raw token never appears.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from ..errors import ConfigError, ServiceError, TokenError
from ..oidc import ProviderConfig, RuleResult
from ..state import StateDir
from ..tokens import IssuedToken, methods
from ._common import ErrorArea, claims_table, esc, guarded, status_line, table, verdict_table

if TYPE_CHECKING:
    from pymongo import MongoClient

STEPS = (
    ("identity", "1 · Identity: which workload?"),
    ("token", "2 · Token: obtain one as the workload does"),
    ("claims", "3 · Claims: what the token says, and the server's verdict"),
    ("server", "4 · Server configuration: the oidcIdentityProviders entry"),
    ("authorize", "5 · Authorize: give the workload a role"),
    ("connect", "6 · Connect with MONGODB-OIDC"),
)
DEFAULT_METHOD = "(default for this kind of workload)"
NO_FAULT = "(none: a good token)"
ROLES = ("readWrite", "read", "dbAdmin", "dbOwner")
WIZARD_APP_NAME = "wif-wizard"


@dataclass
class WizardState:
    """Everything the wizard has found out so far (a later step reads what earlier ones stored)."""

    principal: str | None = None
    principal_info: dict[str, Any] = field(default_factory=dict)
    audience: str | None = None
    token: IssuedToken | None = None  # repr/str redact the token
    results: list[RuleResult] = field(default_factory=list)
    providers: list[ProviderConfig] | None = None
    provider: ProviderConfig | None = None
    database: str | None = None
    role: str | None = None
    authorized: list[str] = field(default_factory=list)
    client: MongoClient[Any] | None = field(default=None, repr=False)
    connection_status: dict[str, Any] | None = None
    done: dict[str, bool] = field(default_factory=dict)


class Step(w.VBox):
    """One step: a title, its controls, a run button, what it found, and its error area."""

    def __init__(self, key: str, title: str, controls: list[w.Widget], button: w.Button) -> None:
        self.key = key
        self.button = button
        self.result = w.HTML()
        self.result.add_class(f"wif-step-{key}-result")
        self.errors = ErrorArea()
        super().__init__(
            children=[
                w.HTML(f"<h4 style='margin:6px 0'>{esc(title)}</h4>"),
                *controls,
                button,
                self.errors,
                self.result,
            ]
        )
        self.add_class("wif-step")
        self.add_class(f"wif-step-{key}")

    @property
    def visible(self) -> bool:
        return self.layout.display != "none"

    def reveal(self, shown: bool = True) -> None:
        self.layout.display = None if shown else "none"


class _WizardCallback(OIDCCallback):
    """pymongo's OIDC_CALLBACK for the wizard: the step-2 token, or a fresh one once it has expired."""

    def __init__(self, wizard: Wizard) -> None:
        self.wizard = wizard

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        token = self.wizard.progress.token
        if token is None:
            raise TokenError("the wizard has no token yet", hint="run step 2 (token) first")
        if token.expires_in is not None and token.expires_in < 5 and token.fault is None:
            # After a 391 the driver asks again: a real workload fetches a new token here.
            token = self.wizard._obtain_token(fault=None)
        return OIDCCallbackResult(access_token=token.token)


class Wizard(w.VBox):
    """The guided identity → token → claims → server → authorize → connect walk-through."""

    def __init__(self, *, state: StateDir | None = None) -> None:
        self.state_dir = state if state is not None else StateDir()
        self.progress = WizardState()
        # 1 identity
        self.principal = w.Dropdown(description="principal", options=[], style={"description_width": "90px"})
        self.audience = w.Text(
            description="audience",
            placeholder="leave empty: the workload's usual audience",
            style={"description_width": "90px"},
            layout=w.Layout(width="70%"),
        )
        # 2 token
        self.method = w.Dropdown(
            description="method",
            # Every method but the federated exchange (it needs a pair of principals).
            options=[DEFAULT_METHOD, *(m for m in methods() if m != "federated")],
            style={"description_width": "90px"},
            layout=w.Layout(width="420px"),
        )
        self.fault = w.Dropdown(description="fault", options=[NO_FAULT], style={"description_width": "90px"})
        # 5 authorize
        self.database = w.Text(value="shop", description="database", style={"description_width": "90px"})
        self.role = w.Dropdown(description="role", options=list(ROLES), style={"description_width": "90px"})

        def button(text: str, icon: str) -> w.Button:
            return w.Button(
                description=text, icon=icon, layout=w.Layout(width="fit-content", min_width="180px")
            )

        controls: dict[str, list[w.Widget]] = {
            "identity": [self.principal, self.audience],
            "token": [w.HBox([self.method, self.fault])],
            "claims": [],
            "server": [],
            "authorize": [w.HBox([self.database, self.role])],
            "connect": [],
        }
        buttons = {
            "identity": button("Use this identity", "user"),
            "token": button("Obtain token", "key"),
            "claims": button("Decode and check", "search"),
            "server": button("Show server entry", "server"),
            "authorize": button("Authorize", "unlock"),
            "connect": button("Connect", "plug"),
        }
        self.steps: dict[str, Step] = {}
        for key, title in STEPS:
            step = Step(key, title, controls[key], buttons[key])
            step.button.on_click(lambda _b, k=key: self.run(k))
            self.steps[key] = step
        runners = {
            "identity": self._identity,
            "token": self._token,
            "claims": self._claims,
            "server": self._server,
            "authorize": self._authorize,
            "connect": self._connect,
        }
        self._runners = runners
        super().__init__(children=[w.HTML("<h3>MONGODB-OIDC, step by step</h3>"), *self.steps.values()])
        self.add_class("wif-wizard")
        for i, step in enumerate(self.steps.values()):
            step.reveal(i == 0)
        guarded(self.steps["identity"].errors, self._load_catalog)

    # -- driving ---------------------------------------------------------------------------------
    def run(self, key: str) -> bool:
        """Run (or re-run) one step; True when it succeeded. Later steps are shown once it has."""
        step = self.steps[key]
        for later in self._after(key):
            self.progress.done[later] = False
        ok = guarded(step.errors, self._runners[key])
        self.progress.done[key] = ok
        keys = list(self.steps)
        if ok and keys.index(key) + 1 < len(keys):
            self.steps[keys[keys.index(key) + 1]].reveal()
        return ok

    def _after(self, key: str) -> list[str]:
        keys = list(self.steps)
        return keys[keys.index(key) + 1 :]

    def _require(self, key: str) -> None:
        if not self.progress.done.get(key):
            title = dict(STEPS)[key]
            raise ConfigError(
                f"step {title.split(':')[0]} has not succeeded yet", hint=f"run '{title}' first"
            )

    def _load_catalog(self) -> None:
        from ..idp.faults import FAULTS
        from ..idp.principals import load_catalog

        self.fault.options = [NO_FAULT, *FAULTS]
        names = [p.name for p in load_catalog(self.state_dir)]
        self.principal.options = names
        if names and self.principal.value is None:
            self.principal.value = names[0]

    # -- the steps -------------------------------------------------------------------------------
    def _identity(self) -> None:
        from ..idp.principals import find

        if not self.principal.options:
            self._load_catalog()
        if not self.principal.value:
            raise ConfigError("no principal chosen", hint="pick a workload in the list")
        who = find(self.state_dir, str(self.principal.value))
        self.progress.principal = who.name
        self.progress.principal_info = who.public()
        self.progress.audience = self.audience.value.strip() or None
        rows = [
            ["kind", esc(who.kind)],
            ["runs on", esc(who.infrastructure)],
            ["issuer", esc(who.issuer_id)],
            ["subject (sub)", f"<code>{esc(who.subject)}</code>"],
            ["groups", esc(", ".join(who.groups) or "(none)")],
            ["audience asked for", esc(self.progress.audience or f"{who.default_audience} (its default)")],
        ]
        self.steps["identity"].result.value = table(["", ""], rows)

    def _obtain_token(self, *, fault: str | None) -> IssuedToken:
        from ..tokens import obtain

        if self.progress.principal is None:
            raise ConfigError("no identity chosen", hint="run step 1 first")
        via = None if self.method.value == DEFAULT_METHOD else str(self.method.value)
        if fault is not None and via not in (None, "mint"):
            raise ConfigError(
                f"a fault preset needs the IdP's mint, not {via}", hint="set method to the default or 'mint'"
            )
        issued = obtain(
            self.progress.principal,
            via=via,
            audience=self.progress.audience,
            fault=fault,
            state=self.state_dir,
        )
        self.progress.token = issued
        return issued

    def _token(self) -> None:
        self._require("identity")
        self.progress.token = None
        fault = None if self.fault.value == NO_FAULT else str(self.fault.value)
        issued = self._obtain_token(fault=fault)
        expires = (
            f"in {int(issued.expires_in)} s" if issued.expires_in is not None else "never (refused by mongod)"
        )
        rows = [
            ["token", f"<code>{esc(issued.redacted)}</code>"],
            ["method", esc(issued.method)],
            ["from", f"<code>{esc(issued.source)}</code>"],
            ["took", f"{issued.elapsed_ms:.1f} ms"],
            ["expires", esc(expires)],
        ]
        if issued.fault:
            rows.append(["fault", esc(f"{issued.fault.get('name')}: breaks rule {issued.fault.get('rule')}")])
        self.steps["token"].result.value = table(["", ""], rows)

    def _claims(self) -> None:
        from ..oidc import first_failure, rule_by_id
        from .inspector import rule_verdict, validity_text

        self._require("token")
        token = self.progress.token
        assert token is not None
        claims = token.claims
        self.progress.results, self.progress.providers = rule_verdict(token.token, self.state_dir)
        failed = first_failure(self.progress.results)
        verdict = (
            status_line("the server would accept this token", "ok")
            if failed is None
            else status_line(f"the server would refuse this token (18): rule {failed.rule}", "error")
        )
        self.steps["claims"].result.value = (
            "<div><b>claims</b></div>"
            + claims_table(claims)
            + f"<div><b>validity</b>: {esc(validity_text(claims))}</div>"
            + f"<div class='wif-verdict-summary'>{verdict}</div>"
            + verdict_table(self.progress.results)
        )
        if failed is not None:
            raise TokenError(
                f"rule {failed.rule} ({failed.title}) fails: {failed.detail}",
                hint=rule_by_id(failed.rule).fix,
            )

    def _server(self) -> None:
        from ..oidc import select_provider_for_token
        from .inspector import server_providers

        self._require("token")
        token = self.progress.token
        assert token is not None
        providers = server_providers(self.state_dir)
        if not providers:
            raise ServiceError(
                "the test mongod has no oidcIdentityProviders configured",
                hint="start the services (%wif_up) to write the kit's mongod.conf",
            )
        self.progress.providers = providers
        self.progress.provider = select_provider_for_token(providers, token.token)  # RuleFailure: no entry
        p = self.progress.provider
        how = (
            f"roles come from the token's '{p.authorization_claim}' claim: "
            f"'{p.auth_name_prefix}/<group>' in admin"
            if p.use_authorization_claim
            else f"useAuthorizationClaim is false: the user '{p.auth_name_prefix}/<{p.principal_name}>' "
            "must exist in $external"
        )
        self.steps["server"].result.value = (
            "<div>The server picks the entry for this token's <code>iss</code> and <code>aud</code>; "
            f"{esc(how)}.</div>"
            f"<pre>{esc(json.dumps(p.to_document(), indent=2))}</pre>"
            f"<div>mongod.conf: <code>{esc(str(self.state_dir.mongod_conf))}</code></div>"
        )

    def _grants(self) -> tuple[list[str], str | None]:
        """(roles in admin the token grants, or [] ; the $external user when roles come from the user)."""
        from ..oidc import check_principal, role_names, user_name

        p, token = self.progress.provider, self.progress.token
        assert p is not None and token is not None
        if p.use_authorization_claim:
            return role_names(p, token.claims), None
        # RuleFailure (mongod's reason) when the token lacks the principalName claim.
        return [], user_name(p, check_principal(token.claims, p))

    def _admin_client(self) -> MongoClient[Any]:
        from ..authorization import admin_client

        # ServiceError: mongod stopped, no administrator, or its password refused.
        return admin_client(self.state_dir, app_name=f"{WIZARD_APP_NAME}-admin")

    def _authorize(self) -> None:
        self._require("server")
        database = self.database.value.strip()
        if not database:
            raise ConfigError(
                "no database given", hint="name the database the workload should use, e.g. shop"
            )
        role = str(self.role.value)
        roles, user = self._grants()
        if user is None and not roles:
            raise ConfigError(
                "the token grants no roles: its authorization claim is empty",
                hint="add the principal to a group (groups in principals.yaml), obtain a new token, "
                "or use an entry with useAuthorizationClaim: false and a $external user",
            )
        grant = [{"role": role, "db": database}]
        done: list[str] = []
        admin = self._admin_client()
        try:
            if user is not None:
                ext = admin["$external"]
                if ext.command("usersInfo", user)["users"]:
                    ext.command("grantRolesToUser", user, roles=grant)
                    done.append(f"granted {role}@{database} to the existing user {user} in $external")
                else:
                    ext.command("createUser", user, roles=grant)
                    done.append(f"created the user {user} in $external with {role}@{database}")
            for name in roles:
                if admin.admin.command("rolesInfo", name)["roles"]:
                    admin.admin.command("grantRolesToRole", name, roles=grant)
                    done.append(f"role {name} in admin now also inherits {role}@{database}")
                else:
                    admin.admin.command("createRole", name, privileges=[], roles=grant)
                    done.append(f"created the role {name} in admin, inheriting {role}@{database}")
        finally:
            admin.close()
        self.progress.database, self.progress.role, self.progress.authorized = database, role, done
        self.steps["authorize"].result.value = "<ul>" + "".join(f"<li>{esc(d)}</li>" for d in done) + "</ul>"

    def _connect(self) -> None:
        from pymongo import MongoClient
        from pymongo.errors import OperationFailure

        from ..stack import status

        self._require("token")
        if self.progress.client is not None:
            self.progress.client.close()
            self.progress.client = None
        self.progress.connection_status = None
        info = status(self.state_dir)
        uri = info.get("mongodb_uri")
        if not uri:
            raise ServiceError(
                "the test mongod is not running", hint="start the services with %wif_up (or `wif up`)"
            )
        started = time.time()
        client: MongoClient[Any] = MongoClient(
            uri,
            authMechanismProperties={"OIDC_CALLBACK": _WizardCallback(self)},
            serverSelectionTimeoutMS=5000,
            appName=WIZARD_APP_NAME,
        )
        try:
            reply = client.admin.command("connectionStatus", showPrivileges=True)
        except OperationFailure as exc:
            client.close()
            if exc.code == 18:
                reason = self._logged_reason(started)
                raise TokenError(
                    "the server answered 18 AuthenticationFailed ('Authentication failed.')"
                    + (f"; its log says: {reason}" if reason else ""),
                    hint="the claims step names the failing rule and its fix; "
                    "obtain a good token and connect again",
                ) from None
            raise
        self.progress.client = client
        self.progress.connection_status = dict(reply)
        auth = reply.get("authInfo", {})
        users = ", ".join(f"{u['user']} @ {u['db']}" for u in auth.get("authenticatedUsers", []))
        roles = (
            ", ".join(f"{r['role']} @ {r['db']}" for r in auth.get("authenticatedUserRoles", [])) or "(none)"
        )
        rows = [
            ["user", f"<span class='wif-connected-user'>{esc(users)}</span>"],
            ["roles", f"<span class='wif-connected-roles'>{esc(roles)}</span>"],
            ["privileges", esc(f"{len(auth.get('authenticatedUserPrivileges', []))} resource(s)")],
        ]
        self.steps["connect"].result.value = (
            status_line("connected with MONGODB-OIDC", "ok")
            + table(["", ""], rows)
            + "<div>The client is <code>wizard.client</code>; "
            "<code>wif_notebook.plots.authorization_graph(wizard.connection_status)</code> "
            "draws why it may act.</div>"
        )

    def _logged_reason(self, since: float) -> str | None:
        """The server's own reason for the last 18 since ``since`` (mongod.log, 'Authentication failed')."""
        from ..flow import collect

        failures = [m for m in collect(self.state_dir, since=since - 1).messages if m.code == 18]
        if not failures:
            return None
        detail = failures[-1].detail
        marker = "server log reason: "
        return detail.split(marker, 1)[1].rsplit("; mongod.log", 1)[0] if marker in detail else detail

    # -- conveniences --------------------------------------------------------------------------
    @property
    def client(self) -> MongoClient[Any] | None:
        """The connected MongoClient after step 6."""
        return self.progress.client

    @property
    def connection_status(self) -> dict[str, Any] | None:
        return self.progress.connection_status

    def close(self) -> None:
        if self.progress.client is not None:
            self.progress.client.close()
            self.progress.client = None
        super().close()
