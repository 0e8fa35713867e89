"""``ProviderForm``: one ``oidcIdentityProviders`` entry as a form that validates as you type.

Every change runs the rule book's parser (``parse_oidc_identity_providers``), so the message under
the form is the one a real mongod would print at startup, followed by how to fix it; a valid entry
shows its JSON and the mongod.conf lines that configure it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import ipywidgets as w

from ..display import TONES
from ..errors import ConfigError
from ..oidc import ProviderConfig, parse_oidc_identity_providers
from ._common import FAIL, OK, esc

# mongod field name → (label, kind, placeholder). Order: the server's IDL struct.
_TEXT_FIELDS: dict[str, tuple[str, str]] = {
    "issuer": ("issuer", "https://login.example.com/tenant/v2.0 (required)"),
    "audience": ("audience", "api://my-mongodb (required)"),
    "authNamePrefix": ("authNamePrefix", "kit (required; users become <prefix>/<principal>)"),
    "matchPattern": ("matchPattern", "only for human flows with several IdPs, e.g. @example\\.com$"),
    "clientId": ("clientId", "required when supportsHumanFlows is true"),
    "requestScopes": ("requestScopes", "comma-separated, e.g. api://my-mongodb/.default"),
    "principalName": ("principalName", "claim naming the user (default: sub)"),
    "authorizationClaim": ("authorizationClaim", "claim listing groups, e.g. groups"),
    "logClaims": ("logClaims", "comma-separated (default: iss, sub)"),
}
_LIST_FIELDS = ("requestScopes", "logClaims")


def _as_document(provider: ProviderConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    if provider is None:
        return {}
    if isinstance(provider, ProviderConfig):
        return provider.to_document()
    return dict(provider)


class ProviderForm(w.VBox):
    """An ``oidcIdentityProviders`` entry form with live validation (mongod's messages)."""

    def __init__(
        self, provider: ProviderConfig | Mapping[str, Any] | None = None, *, enable_test_commands: bool = True
    ) -> None:
        doc = _as_document(provider)
        self.fields: dict[str, w.Text] = {}
        for name, (label, placeholder) in _TEXT_FIELDS.items():
            value = doc.get(name, "")
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            self.fields[name] = w.Text(
                value=str(value),
                description=label,
                placeholder=placeholder,
                style={"description_width": "150px"},
                layout=w.Layout(width="95%"),
            )
        self.use_authorization_claim = w.Checkbox(
            value=bool(doc.get("useAuthorizationClaim", True)),
            description="useAuthorizationClaim",
            indent=False,
        )
        self.supports_human_flows = w.Checkbox(
            value=bool(doc.get("supportsHumanFlows", True)), description="supportsHumanFlows", indent=False
        )
        self.jwks_poll_secs = w.IntText(
            value=int(doc.get("JWKSPollSecs", 0)),
            description="JWKSPollSecs",
            style={"description_width": "150px"},
        )
        self.enable_test_commands = w.Checkbox(
            value=enable_test_commands,
            description="enableTestCommands (allows http://localhost issuers)",
            indent=False,
        )
        self.message = w.HTML()
        self.message.add_class("wif-provider-message")
        self.json_view = w.HTML()
        self.conf_view = w.HTML()
        self.provider: ProviderConfig | None = None
        self.error: ConfigError | None = None
        children: list[w.Widget] = [
            w.HTML("<b>oidcIdentityProviders entry</b>"),
            *self.fields.values(),
            w.HBox([self.use_authorization_claim, self.supports_human_flows]),
            self.jwks_poll_secs,
            self.enable_test_commands,
            self.message,
            self.json_view,
            self.conf_view,
        ]
        super().__init__(children=children)
        self.add_class("wif-provider-form")
        for widget in [
            *self.fields.values(),
            self.use_authorization_claim,
            self.supports_human_flows,
            self.jwks_poll_secs,
            self.enable_test_commands,
        ]:
            widget.observe(self._changed, names="value")
        self.validate()

    def document(self) -> dict[str, Any]:
        """The entry as mongod spells it; empty optional fields are left out (mongod's defaults apply)."""
        doc: dict[str, Any] = {}
        for name, field in self.fields.items():
            text = field.value.strip()
            if not text:
                continue
            doc[name] = (
                [part.strip() for part in text.split(",") if part.strip()] if name in _LIST_FIELDS else text
            )
        # Booleans and the poll period appear only when they differ from mongod's defaults.
        if not self.use_authorization_claim.value:
            doc["useAuthorizationClaim"] = False
        if not self.supports_human_flows.value:
            doc["supportsHumanFlows"] = False
        if self.jwks_poll_secs.value:
            doc["JWKSPollSecs"] = int(self.jwks_poll_secs.value)
        return doc

    def _changed(self, change: dict[str, Any]) -> None:
        self.validate()

    def validate(self) -> ProviderConfig | None:
        """Parse the entry as mongod does; update the message and the JSON / mongod.conf views."""
        doc = self.document()
        try:
            self.provider = parse_oidc_identity_providers(
                [doc], enable_test_commands=self.enable_test_commands.value
            )[0]
            self.error = None
        except ConfigError as exc:
            self.provider, self.error = None, exc
            self.message.value = (
                f"<div style='color:{TONES['fail']}'><b>{FAIL} mongod would refuse to start:</b> "
                f"<span class='wif-mongod-message'>{esc(exc.what)}</span></div>"
                f"<div>next step: {esc(exc.hint or '')}</div>"
            )
            self.json_view.value = self.conf_view.value = ""
            return None
        self.message.value = (
            f"<div style='color:{TONES['ok']}'><b>{OK} valid</b>: mongod accepts this entry</div>"
        )
        full = self.provider.to_document()
        self.json_view.value = f"<div><b>JSON</b></div><pre>{esc(json.dumps(full, indent=2))}</pre>"
        self.conf_view.value = f"<div><b>mongod.conf</b></div><pre>{esc(self.mongod_conf_snippet())}</pre>"
        return self.provider

    def mongod_conf_snippet(self) -> str:
        """The ``setParameter`` lines of mongod.conf for this entry (empty when it is invalid)."""
        if self.provider is None:
            return ""
        text = json.dumps([self.provider.to_document()]).replace("'", "''")  # YAML single-quote escaping
        lines = ["setParameter:"]
        if self.enable_test_commands.value:
            lines.append("  enableTestCommands: 1")
        lines += [
            "  authenticationMechanisms: SCRAM-SHA-256,MONGODB-OIDC",
            f"  oidcIdentityProviders: '{text}'",
        ]
        return "\n".join(lines) + "\n"
