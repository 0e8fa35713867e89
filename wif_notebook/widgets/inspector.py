"""``TokenInspector``: paste a token or obtain one, then see its parts, its claims in plain words and
the rule book's verdict for each rule against the running server's configuration.

The pasted token sits in a password field; every view shows it redacted or decoded, never whole.
"""

from __future__ import annotations

import json
import time
from typing import Any

import ipywidgets as w

from ..errors import TokenError
from ..oidc import ProviderConfig, RuleResult, first_failure
from ..state import StateDir
from ..tokens import IssuedToken, decode
from ._common import ErrorArea, claims_table, esc, guarded, segments_html, status_line, verdict_table

NO_FAULT = "(none: a good token)"


def server_providers(state: StateDir) -> list[ProviderConfig] | None:
    """The ``oidcIdentityProviders`` the server would use, or None when there is no configuration."""
    from ..mongod import server_providers as configured

    found = configured(state)
    return None if found is None else list(found.providers)


def rule_verdict(
    token: str, state: StateDir, *, now: float | None = None
) -> tuple[list[RuleResult], list[ProviderConfig] | None]:
    """Every rule for ``token`` against the server's configuration (keys fetched from the issuer)."""
    from ..tokens import check_against

    providers = server_providers(state)
    if providers is None:
        from ..oidc import explain_token

        return explain_token(token, None, None, now=now), None
    return check_against(token, providers, now=now, state=state), providers


def validity_text(claims: dict[str, Any], now: float | None = None) -> str:
    """iat / nbf / exp relative to now, and when the server will ask for re-authentication."""
    moment = time.time() if now is None else now
    parts = []
    for name in ("iat", "nbf", "exp"):
        value = claims.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            delta = int(value - moment)
            when = "now" if delta == 0 else f"in {delta} s" if delta > 0 else f"{-delta} s ago"
            parts.append(f"{name} {when}")
    exp = claims.get("exp")
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        parts.append(
            "the server answers 391 to the first command after exp; the driver then reauthenticates"
            if exp > moment
            else "expired: mongod refuses it (18), or answers 391 to a session that used it"
        )
    return "; ".join(parts) or "no time claims"


class TokenInspector(w.VBox):
    """Parts, claims explained and the rule-by-rule verdict of one token."""

    def __init__(self, token: str | IssuedToken | None = None, *, state: StateDir | None = None) -> None:
        self.state = state if state is not None else StateDir()
        self._token: str | None = None
        self.results: list[RuleResult] = []
        self.providers: list[ProviderConfig] | None = None
        self.paste = w.Password(placeholder="paste a JWT (it stays hidden)", layout=w.Layout(width="60%"))
        self.inspect_button = w.Button(description="Inspect", icon="search")
        self.principal = w.Dropdown(description="principal", options=[], style={"description_width": "80px"})
        self.fault = w.Dropdown(description="fault", options=[NO_FAULT], style={"description_width": "50px"})
        self.obtain_button = w.Button(description="Obtain token", icon="key")
        self.errors = ErrorArea()
        self.summary = w.HTML()
        self.parts = w.HTML()
        self.header_view = w.HTML()
        self.claims_view = w.HTML()
        self.validity = w.HTML()
        self.verdict = w.HTML()
        self.verdict.add_class("wif-verdict")
        self.inspect_button.on_click(lambda _b: self.inspect_pasted())
        self.obtain_button.on_click(lambda _b: self.obtain())
        # What one inspection fills in, top to bottom (emptied before the next).
        self._result_views = (
            self.summary,
            self.parts,
            self.header_view,
            self.claims_view,
            self.validity,
            self.verdict,
        )
        super().__init__(
            children=[
                w.HTML("<b>Token inspector</b>"),
                w.HBox([self.paste, self.inspect_button]),
                w.HBox([self.principal, self.fault, self.obtain_button]),
                self.errors,
                *self._result_views,
            ]
        )
        self.add_class("wif-token-inspector")
        guarded(self.errors, self._load_choices)
        if token is not None:
            self.show(token)

    def _load_choices(self) -> None:
        from ..idp.faults import FAULTS
        from ..idp.principals import load_catalog

        self.fault.options = [NO_FAULT, *FAULTS]
        self.principal.options = [p.name for p in load_catalog(self.state)]

    @property
    def token(self) -> str | None:
        """The raw token being inspected (only when asked for in code; never displayed)."""
        return self._token

    def inspect_pasted(self) -> bool:
        text = self.paste.value.strip()
        if not text:
            self.errors.show("no token pasted", "paste a JWT into the field, or obtain one for a principal")
            return False
        ok = self.show(text)
        if ok:
            # Don't keep the raw token in widget state (a saved notebook would store it).
            self.paste.value = ""
        return ok

    def obtain(self) -> bool:
        from ..tokens import obtain

        def run() -> None:
            if not self.principal.value:
                raise TokenError(
                    "no principal chosen", hint="start the services (%wif_up) so the catalog loads"
                )
            fault = None if self.fault.value == NO_FAULT else str(self.fault.value)
            issued = obtain(str(self.principal.value), fault=fault, state=self.state)
            self._render(issued.token)

        return guarded(self.errors, run)

    def show(self, token: str | IssuedToken) -> bool:
        """Inspect ``token``; failures (not a JWT, …) appear in the error area."""
        raw = token.token if isinstance(token, IssuedToken) else token
        return guarded(self.errors, lambda: self._render(raw))

    def _render(self, token: str) -> None:
        self._token = None
        self.results = []
        for view in self._result_views:
            view.value = ""
        decoded = decode(token)  # TokenError says what is malformed
        self._token = token.strip()
        self.parts.value = segments_html(self._token)
        self.header_view.value = (
            f"<div><b>header</b></div><pre>{esc(json.dumps(decoded.header, indent=2))}</pre>"
        )
        self.claims_view.value = "<div><b>claims</b></div>" + claims_table(decoded.claims)
        self.validity.value = f"<div><b>validity</b>: {esc(validity_text(decoded.claims))}</div>"
        self.results, self.providers = rule_verdict(self._token, self.state)
        failed = first_failure(self.results)
        if self.providers is None:
            head = status_line(
                "no server configuration yet: only the token's own rules were checked", "muted"
            )
        elif failed is None:
            head = status_line("the test mongod would accept this token", "ok")
        else:
            head = status_line(f"the test mongod would refuse this token: rule {failed.rule}", "error")
        self.summary.value = f"<div class='wif-verdict-summary'>{head}</div>"
        self.verdict.value = "<div><b>verdict, rule by rule</b></div>" + verdict_table(self.results)
        if failed is not None:
            from ..oidc import rule_by_id

            self.errors.show(
                f"rule {failed.rule} ({failed.title}) fails: {failed.detail}",
                rule_by_id(failed.rule).fix,
            )
