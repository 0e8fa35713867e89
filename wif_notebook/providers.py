"""The server's ``oidcIdentityProviders`` as the kit edits them: read (``providers_view``,
``configured_providers``, ``provider_for_prefix``, ``require_provider``), change (``set_provider``,
``add_provider``, ``remove_provider``), validated by the rule book before mongod.conf is written and a
running mongod restarted; ``restore_default_config`` goes back to the kit's generated file.

Each operation reads mongod.conf and the IdP's record once and works on what it read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import display
from .errors import ConfigError
from .state import StateDir

if TYPE_CHECKING:
    from .mongod import MongodConfig
    from .oidc import ProviderConfig


def configured_providers(state: StateDir) -> list[ProviderConfig]:
    """The running configuration's entries (``mongod.server_providers``); empty when there is none."""
    from .mongod import server_providers

    found = server_providers(state)
    return list(found.providers) if found is not None else []


def provider_for_prefix(state: StateDir, prefix: str) -> ProviderConfig | None:
    """The running configuration's entry with ``authNamePrefix`` ``prefix`` (None: no such entry)."""
    return next((p for p in configured_providers(state) if p.auth_name_prefix == prefix), None)


def require_provider(providers: Sequence[ProviderConfig], prefix: str) -> ProviderConfig:
    """The entry with ``authNamePrefix`` ``prefix``; a ConfigError naming the known prefixes when no
    entry has it (a user or role under another prefix is one no token ever logs in as)."""
    if not providers:
        # No running configuration yet (the kit was never started here), not a wrong prefix.
        raise ConfigError(
            "the test mongod has no oidcIdentityProviders configuration yet",
            hint="start the kit first: `wif up` (in a notebook: %wif_up), which writes mongod.conf with "
            "the kit's providers and starts mongod",
        )
    found = next((p for p in providers if p.auth_name_prefix == prefix), None)
    if found is None:
        known = ", ".join(p.auth_name_prefix for p in providers)
        raise ConfigError(
            f"mongod.conf has no oidcIdentityProviders entry with authNamePrefix {prefix!r}",
            hint=f"use one of: {known} (`wif mongod config` or %wif_mongod shows them; %wif_mongod reset "
            "restores the kit's)",
        )
    return found


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


def _load_config(state: StateDir) -> MongodConfig:
    """mongod.conf as the launcher would start it (``ensure_config``), read once per operation."""
    from .idp.service import idp_record
    from .mongod import ensure_config

    return ensure_config(state, idp_record=idp_record(state))


def _documents(cfg: MongodConfig) -> list[dict[str, Any]]:
    return [p.to_document() for p in cfg.oidc_providers]


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
    return ProvidersView(str(state.mongod_conf), _documents(_load_config(state)))


def _served_port(port: int, running: dict[str, Any]) -> int:
    """The port a rewritten mongod.conf names: port 0 meant "any free port" once, so the file now
    says which one the running server got, and its restart (and every client's URI) keeps it."""
    return int(running["port"]) if port == 0 and running.get("running") else port


def _write_providers(
    state: StateDir, cfg: MongodConfig, entries: list[dict[str, Any]], change: str
) -> ProvidersView:
    """Validate ``entries`` with the rule book, write mongod.conf (``cfg``, the file as read, with
    these entries), restart a running mongod."""
    import json
    from dataclasses import replace

    from .mongod import mongod_status, parse_config, render_config
    from .oidc import parse_oidc_identity_providers

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
    return ProvidersView(
        str(state.mongod_conf), _documents(cfg), change=change, restarted=_restart_if_running(state, running)
    )


def _restart_if_running(state: StateDir, running: dict[str, Any]) -> bool:
    """Restart a mongod that was running (it applies the newer file); whether it was restarted."""
    from .mongod import start_mongod

    if not running.get("running"):
        return False
    start_mongod(state)  # restarts: the file is newer than the running server
    return True


def set_provider(state: StateDir, prefix: str, changes: dict[str, Any]) -> ProvidersView:
    """Change fields of the entry with ``authNamePrefix`` ``prefix`` (value None removes a field)."""
    cfg = _load_config(state)
    require_provider(cfg.oidc_providers, prefix)
    entries = _documents(cfg)
    entry = next(e for e in entries if e.get("authNamePrefix") == prefix)
    for name, value in changes.items():
        if value is None:
            entry.pop(name, None)
        else:
            entry[name] = value
    shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    return _write_providers(state, cfg, entries, f"{prefix}: set {shown}")


def add_provider(state: StateDir, entry: dict[str, Any]) -> ProvidersView:
    cfg = _load_config(state)
    entries = _documents(cfg) + [dict(entry)]
    return _write_providers(state, cfg, entries, f"added the entry for {entry.get('issuer')}")


def remove_provider(state: StateDir, prefix: str) -> ProvidersView:
    cfg = _load_config(state)
    require_provider(cfg.oidc_providers, prefix)
    kept = [e for e in _documents(cfg) if e.get("authNamePrefix") != prefix]
    return _write_providers(state, cfg, kept, f"removed {prefix}")


def restore_default_config(state: StateDir) -> ProvidersView:
    """Write the kit's generated mongod.conf again (keeping the port) and restart a running mongod."""
    from .idp.service import idp_record
    from .mongod import default_config, ensure_config, mongod_status, write_config

    record = idp_record(state)
    running = mongod_status(state)
    port = _served_port(ensure_config(state, idp_record=record).port, running)
    cfg = default_config(state, record, port=port)
    write_config(state, cfg)
    return ProvidersView(
        str(state.mongod_conf),
        _documents(cfg),
        change="restored the kit's default configuration",
        restarted=_restart_if_running(state, running),
    )
