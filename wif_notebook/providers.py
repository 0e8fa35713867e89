"""The server's ``oidcIdentityProviders`` as the kit edits them: read (``providers_view``,
``provider_for_prefix``), change (``set_provider``, ``add_provider``, ``remove_provider``), validated by
the rule book before mongod.conf is written and a running mongod restarted; ``restore_default_config``
goes back to the kit's generated file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import display
from .errors import ConfigError
from .state import StateDir


def provider_for_prefix(state: StateDir, prefix: str) -> Any | None:
    """The running configuration's entry with ``authNamePrefix`` ``prefix`` (None: no such entry)."""
    from .mongod import server_providers

    found = server_providers(state)
    if found is None:
        return None
    return next((p for p in found.providers if p.auth_name_prefix == prefix), None)


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


def _served_port(port: int, running: dict[str, Any]) -> int:
    """The port a rewritten mongod.conf names: port 0 meant "any free port" once, so the file now
    says which one the running server got, and its restart (and every client's URI) keeps it."""
    return int(running["port"]) if port == 0 and running.get("running") else port


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
    running = mongod_status(state)
    cfg = replace(cfg, port=_served_port(cfg.port, running))
    lines = render_config(cfg).splitlines(keepends=True)
    # Not the "Generated" marker: the kit must not regenerate a file the user changed on purpose.
    text = f"{EDITED_MARKER}; `%wif_mongod reset` restores the kit's default.\n" + "".join(lines[1:])
    parse_config(text, source=str(state.mongod_conf))
    state.write_private(state.mongod_conf, text)
    restarted = False
    if running.get("running"):
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

    running = mongod_status(state)
    port = _served_port(_load_config(state).port, running)
    write_config(state, default_config(state, idp_record(state), port=port))
    restarted = False
    if running.get("running"):
        start_mongod(state)
        restarted = True
    view = providers_view(state)
    view.change, view.restarted = "restored the kit's default configuration", restarted
    return view
