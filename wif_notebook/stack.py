"""The whole kit at once: ``up``, ``down``, ``status`` and ``reset`` for the IdP and mongod.

These functions return plain dicts, so the ``wif`` command line, the magics and tests show the same
facts. ``up`` is idempotent: services that already run are reused, never restarted, unless the
mongod.conf they depend on changed (the IdP moved to another port, ``--port`` changed).

URIs ``up`` reports:

- ``mongodb_uri``: ``mongodb://127.0.0.1:<port>/?authMechanism=MONGODB-OIDC&directConnection=true``;
  add ``authMechanismProperties`` (e.g. ``ENVIRONMENT:test`` with ``OIDC_TOKEN_FILE``) or a callback.
- ``admin_uri_redacted`` and ``admin_credentials_file``: the SCRAM-SHA-256 administrator created at
  first start (``root``), its password shown as ``****``, and the 0600 ``admin.json`` that holds it.
  No returned dict (nor ``wif up --json``, nor a display) carries the password: a program that logs
  in as the administrator asks ``administrator_uri(state)`` for the full URI.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import mongod, ports
from .errors import StateError, WifError
from .idp.issuers import DEFAULT_ISSUER_SCHEME
from .state import ServiceRecord, StateDir

# What a kit state directory may contain (state.py's layout, plus admin.json). Anything else means the
# folder is not (only) the kit's, and `reset` refuses to wipe it.
KIT_ENTRIES = frozenset(
    {
        "keys",
        "principals.yaml",
        "mongod.conf",
        "db",
        "logs",
        "run",
        "tokens",
        "env",
        "tls",  # the kit CA and the IdP's certificate (tls.py): a reset rotates the CA
        "admin.json",
        "ports.json",  # ports.PORTS_FILE: the ports kept for this state directory
        "progress",  # lessons.PROGRESS_DIR: the learning record, kept by reset (PRESERVED)
        "progress.json",  # where progress lived before progress/; kept too until the next check moves it
    }
)
# Reset the kit, not the learning record: what `reset` leaves in place.
PRESERVED = frozenset({"progress", "progress.json"})


def mongodb_uri(port: int, host: str = "127.0.0.1") -> str:
    return f"mongodb://{host}:{port}/?authMechanism=MONGODB-OIDC&directConnection=true"


def admin_uri(port: int, user: str, password: str | None, host: str = "127.0.0.1") -> str:
    """The administrator's URI; ``password=None`` gives the form displays show (``****``)."""
    secret = "****" if password is None else quote(password, safe="")
    return (
        f"mongodb://{quote(user, safe='')}:{secret}@{host}:{port}/"
        "?authSource=admin&authMechanism=SCRAM-SHA-256&directConnection=true"
    )


def _idp_info(record: ServiceRecord | None) -> dict[str, Any]:
    if record is None:
        return {"running": False}
    return {
        "running": True,
        "pid": record.pid,
        "port": record.port,
        "base_url": record.extra.get("base_url"),
        "https_base_url": record.extra.get("https_base_url"),
        "issuer_scheme": record.extra.get("issuer_scheme"),
        "issuers": record.extra.get("issuers", {}),
        # News of this start (``service.start_idp``): the vendor-host proxy moved to another port.
        **({"note": record.extra["vendor_proxy_note"]} if "vendor_proxy_note" in record.extra else {}),
    }


def _ca(state: StateDir) -> dict[str, Any]:
    """Where the kit CA is (what a client outside the kit must trust), once it exists."""
    from . import tls

    if not tls.exists(state):
        return {}
    files = tls.paths(state)
    return {"ca_file": str(files.ca_cert), "ca_bundle": str(files.bundle)}


def _kit_issuer(record: ServiceRecord | None) -> str | None:
    """The ``kit`` issuer URL the running IdP announced (None while it is stopped)."""
    kit = (record.extra.get("issuers") or {}).get("kit") if record is not None else None
    return kit.get("issuer") if isinstance(kit, dict) else None


def _uris(state: StateDir, record: ServiceRecord | None) -> dict[str, Any]:
    from .server.authz import read_admin_credentials

    if record is None:
        return {}
    out: dict[str, Any] = {"mongodb_uri": mongodb_uri(record.port)}
    creds = read_admin_credentials(state.path)
    if creds is not None:
        out["admin_uri_redacted"] = admin_uri(record.port, creds[0], None)
        out["admin_credentials_file"] = str(state.path / "admin.json")
    return out


def administrator_uri(state: StateDir) -> str:
    """The administrator's full URI, password included, for a program that logs in as it (the kit
    never prints it; ``wif up`` shows ``admin_uri_redacted`` and the path of ``admin.json``)."""
    from . import services
    from .errors import ServiceError
    from .server.authz import read_admin_credentials

    record = services.running_record(state, mongod.SERVICE)
    if record is None:
        raise ServiceError("the test mongod is not running", hint="start it with %wif_up (or `wif up`)")
    creds = read_admin_credentials(state.path)
    if creds is None:
        raise ServiceError(
            "the administrator's credentials are missing (admin.json in the state directory)",
            hint="%wif_reset then %wif_up creates them again",
        )
    return admin_uri(record.port, *creds)


def up(
    state: StateDir,
    *,
    idp_port: int | None = None,
    port: int | None = None,
    issuer_scheme: str = DEFAULT_ISSUER_SCHEME,
) -> dict[str, Any]:
    """Start the IdP, then mongod with the kit's configuration; return where everything is.

    A port left out (None) is the one kept for this state directory, else the default if free, else
    a free one (``ports.choose``); an explicit busy port is refused with its holder.
    ``issuer_scheme`` ``http`` publishes the plain-http issuer form by default (enableTestCommands
    only; e.g. for a real Enterprise mongod that cannot trust the kit CA): idp/issuers.py.
    """
    from .idp.service import idp_record, start_idp

    before = {"idp": idp_record(state) is not None, "mongod": mongod.mongod_status(state)["running"]}
    idp = start_idp(state, idp_port, issuer_scheme=issuer_scheme)
    if idp_port not in (None, 0) and idp.port != idp_port:
        raise StateError(
            f"the IdP already runs on port {idp.port}, not {idp_port}",
            hint="stop it first (`wif down`), or leave out --idp-port",
        )
    try:
        record = mongod.start_mongod(state, port)
    except WifError:
        if not before["idp"]:
            from .idp.service import stop_idp

            stop_idp(state)  # a refused `up` leaves nothing half-started behind
        raise
    return {
        "state_dir": str(state.path),
        "issuer": _kit_issuer(idp),
        "issuers": idp.extra.get("issuers", {}),
        "idp": _idp_info(idp),
        "mongod": mongod.mongod_status(state),
        "started": [name for name, running in before.items() if not running],
        **_ca(state),
        "ports": ports.kept_ports(state),
        **_uris(state, record),
    }


def down(state: StateDir) -> dict[str, Any]:
    """Stop mongod, then the IdP."""
    from .idp.service import stop_idp

    stopped_mongod = mongod.stop_mongod(state)
    stopped_idp = stop_idp(state)
    return {"state_dir": str(state.path), "stopped": {"mongod": stopped_mongod, "idp": stopped_idp}}


def status(state: StateDir) -> dict[str, Any]:
    """Both services as they are now."""
    from . import services
    from .idp.service import idp_record

    record = services.running_record(state, mongod.SERVICE)
    idp = idp_record(state)
    return {
        "state_dir": str(state.path),
        "issuer": _kit_issuer(idp),
        "idp": _idp_info(idp),
        "mongod": mongod.mongod_status(state),
        **_ca(state),
        "ports": ports.kept_ports(state),
        **_uris(state, record),
    }


def check_kit_state_dir(path: Path) -> list[str]:
    """The entries ``reset`` would remove; StateError if the folder does not look like the kit's."""
    resolved = path.resolve()
    if resolved == Path("/") or resolved == Path.home().resolve():
        raise StateError(
            f"refusing to wipe {resolved}: it is not a kit state directory",
            hint="pass the kit's own folder with --state-dir or WIF_STATE_DIR",
        )
    if not resolved.exists():
        return []
    entries = sorted(p.name for p in resolved.iterdir())
    # Hidden names are the atomic-write temporaries of state.write_private.
    foreign = [e for e in entries if e not in KIT_ENTRIES and not e.startswith(".")]
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise StateError(
            f"refusing to wipe {resolved}: it holds files the kit did not create ({shown})",
            hint="move them elsewhere, or remove the folder yourself if it is really the kit's",
        )
    return entries


def reset(state: StateDir) -> dict[str, Any]:
    """Stop both services and empty the state directory (only if it holds nothing but the kit's
    files), keeping the learner's progress (``PRESERVED``)."""
    entries = [e for e in check_kit_state_dir(state.path) if e not in PRESERVED]
    stopped = down(state)["stopped"]
    for name in entries:
        target = state.path / name
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StateError(
                f"cannot remove {target}: {exc.strerror or exc}",
                hint="check its permissions, then run `wif reset` again",
            ) from exc
    state.ensure()
    kept = sorted(e for e in PRESERVED if (state.path / e).exists())
    return {"state_dir": str(state.path), "stopped": stopped, "removed": entries, "kept": kept}
