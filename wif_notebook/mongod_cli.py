"""``wif mongod config|start|stop|status|logs`` and the whole-kit commands ``wif up|down|status|reset``.

Thin handlers over ``wif_notebook.mongod`` and ``wif_notebook.stack``; ``--json`` prints the same
dicts those functions return. Text output never shows the administrator's password.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import mongod, stack
from .cli import command, port_arg, port_option, print_doc, print_json, state_from
from .idp.issuers import DEFAULT_ISSUER_SCHEME, ISSUER_SCHEMES
from .idp.service import DEFAULT_PORT as IDP_DEFAULT_PORT
from .idp.service import idp_record


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    m = subparsers.add_parser(
        "mongod", help="the test mongod (or a real Enterprise mongod)", parents=[parent]
    )
    sub = m.add_subparsers(dest="mongod_command", metavar="ACTION", required=True)

    command(sub, "config", "write (if missing) and print mongod.conf", parent, cmd_config, with_json=True)
    p = command(sub, "start", "start mongod with mongod.conf (idempotent)", parent, cmd_start, with_json=True)
    p.add_argument("--port", type=port_arg, default=None, help="net.port (0: any free port)")
    command(sub, "stop", "stop mongod", parent, cmd_stop)
    command(sub, "status", "which mongod runs, where", parent, cmd_status, with_json=True)
    p = command(sub, "logs", "the last lines of mongod's JSON log", parent, cmd_logs)
    p.add_argument("-n", type=int, default=20, help="number of lines (default 20)")

    p = command(subparsers, "up", "start the IdP and mongod (idempotent)", parent, cmd_up, with_json=True)
    port_option(p, "--idp-port", "IdP port", IDP_DEFAULT_PORT)
    port_option(p, "--port", "mongod port", mongod.DEFAULT_PORT)
    p.add_argument(
        "--issuer-scheme",
        choices=ISSUER_SCHEMES,
        default=DEFAULT_ISSUER_SCHEME,
        help="issuer form tokens and mongod.conf use: https (default, production shape) or http "
        "(enableTestCommands only, e.g. a real mongod that does not trust the kit CA)",
    )
    command(subparsers, "down", "stop mongod and the IdP", parent, cmd_down)
    command(subparsers, "status", "show the IdP and mongod", parent, cmd_status_all, with_json=True)
    command(subparsers, "reset", "stop both and wipe the state directory", parent, cmd_reset, with_json=True)


# -- wif mongod ... --------------------------------------------------------------------------------
def cmd_config(args: argparse.Namespace) -> int:
    state = state_from(args)
    cfg = mongod.ensure_config(state, idp_record=idp_record(state))
    if args.json:
        print_json(
            {
                "path": str(state.mongod_conf),
                "port": cfg.port,
                "bindIp": cfg.bind_ip,
                "dbPath": str(cfg.db_path),
                "logPath": str(cfg.log_path) if cfg.log_path else None,
                "authorization": cfg.authorization,
                "enableTestCommands": cfg.enable_test_commands,
                "authenticationMechanisms": cfg.authentication_mechanisms,
                "oidcIdentityProviders": [p.to_document() for p in cfg.oidc_providers],
                "setParameter": cfg.set_parameters,
            }
        )
    else:
        print(f"# {state.mongod_conf}")
        print(state.mongod_conf.read_text(), end="")
    return 0


def _mongod_line(status: dict[str, Any]) -> str:
    if not status["running"]:
        return "stopped"
    return f"running  {status['kind']} on {status['host']}:{status['port']} (pid {status['pid']})"


def cmd_start(args: argparse.Namespace) -> int:
    state = state_from(args)
    mongod.start_mongod(state, args.port)
    return print_doc(args, mongod.mongod_status(state), _print_started)


def _print_started(status: dict[str, Any]) -> None:
    print(f"mongod  {_mongod_line(status)}")
    print(f"config  {status['config']}")
    print(f"uri     {stack.mongodb_uri(status['port'])}")


def cmd_stop(args: argparse.Namespace) -> int:
    stopped = mongod.stop_mongod(state_from(args))
    print("mongod stopped" if stopped else "mongod was not running")
    return 0


def _print_mongod_status(status: dict[str, Any]) -> None:
    print(f"mongod      {_mongod_line(status)}")
    print(f"config      {status['config']}{'' if status['config_exists'] else ' (not written yet)'}")
    print(f"log         {status['log']}")
    enterprise = status.get("enterprise_mongod") or status.get("enterprise_problem") or "none found"
    print(f"enterprise  {enterprise}")


def cmd_status(args: argparse.Namespace) -> int:
    return print_doc(args, mongod.mongod_status(state_from(args)), _print_mongod_status)


def cmd_logs(args: argparse.Namespace) -> int:
    for line in mongod.mongod_logs(state_from(args), args.n):
        print(line)
    return 0


# -- wif up / down / status / reset ----------------------------------------------------------------
def _print_summary(doc: dict[str, Any]) -> None:
    idp = doc["idp"]
    print(f"state_dir    {doc['state_dir']}")
    if idp["running"]:
        others = ", ".join(i for i in idp.get("issuers", {}) if i != "kit")
        print(f"idp          running  {idp.get('https_base_url') or idp['base_url']} (pid {idp['pid']})")
        print(f"issuer       {doc.get('issuer')}" + (f"   (also {others}: --json)" if others else ""))
        if idp.get("note"):
            print(f"             note: {idp['note']}")
    else:
        print("idp          stopped")
    if doc.get("ca_file"):
        print(f'kit CA       {doc["ca_file"]}   (trust it elsewhere: eval "$(wif env)")')
    print(f"mongod       {_mongod_line(doc['mongod'])}")
    if doc["mongod"].get("tls_note"):
        print(f"             note: {doc['mongod']['tls_note']}")
    kept = doc.get("ports") or {}
    if kept:
        shown = ", ".join(f"{name} {port}" for name, port in sorted(kept.items()))
        print(f"ports        {shown}   (kept for this state directory)")
    if "mongodb_uri" in doc:
        print(f"mongodb_uri  {doc['mongodb_uri']}")
    if "admin_uri_redacted" in doc:
        print(f"admin_uri    {doc['admin_uri_redacted']}   (password: {doc['admin_credentials_file']})")


def cmd_up(args: argparse.Namespace) -> int:
    doc = stack.up(state_from(args), idp_port=args.idp_port, port=args.port, issuer_scheme=args.issuer_scheme)
    return print_doc(args, doc, _print_up)


def _print_up(doc: dict[str, Any]) -> None:
    print(f"wif up: started {', '.join(doc['started']) or 'nothing (both were running)'}")
    _print_summary(doc)


def cmd_down(args: argparse.Namespace) -> int:
    doc = stack.down(state_from(args))
    for name, was in doc["stopped"].items():
        print(f"{name:<7}{'stopped' if was else 'was not running'}")
    return 0


def cmd_status_all(args: argparse.Namespace) -> int:
    return print_doc(args, stack.status(state_from(args)), _print_summary)


def cmd_reset(args: argparse.Namespace) -> int:
    return print_doc(args, stack.reset(state_from(args)), _print_reset)


def _print_reset(doc: dict[str, Any]) -> None:
    print(f"wif reset: stopped {[k for k, v in doc['stopped'].items() if v] or 'nothing'}")
    print(f"removed {len(doc['removed'])} entries from {doc['state_dir']}")
    if doc["kept"]:
        print(f"kept the lesson progress ({', '.join(doc['kept'])})")
