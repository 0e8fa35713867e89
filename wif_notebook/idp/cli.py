"""``wif idp start|stop|status|principals|rotate-keys|retire-key`` and ``wif env``."""

from __future__ import annotations

import argparse
from typing import Any

from .. import services, tls
from ..cli import command, json_flag, port_option, print_json, state_from
from ..clouds import common_env, env_context, workload_exports
from ..stack import mongodb_uri
from .faults import FAULTS
from .issuers import ISSUERS
from .keys import SUPPORTED_ALGS
from .principals import load_catalog
from .service import DEFAULT_PORT, idp_record, require_idp, retire_key, rotate_keys, start_idp, stop_idp
from .tokenfiles import env_exports, platforms, render_exports


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    idp = subparsers.add_parser("idp", help="the mock identity provider", parents=[parent])
    sub = idp.add_subparsers(dest="idp_command", metavar="ACTION")
    idp.set_defaults(func=lambda args: (idp.print_help(), 2)[1])

    p = command(sub, "start", "start the IdP (idempotent)", parent, cmd_start, with_json=True)
    port_option(p, "--port", "port", DEFAULT_PORT)
    command(sub, "stop", "stop the IdP", parent, cmd_stop)
    command(sub, "status", "is it running, where, with which keys", parent, cmd_status, with_json=True)
    command(sub, "principals", "list the principals catalog", parent, cmd_principals, with_json=True)
    p = command(
        sub, "rotate-keys", "add a signing key; old keys stay published", parent, cmd_rotate, with_json=True
    )
    p.add_argument("--issuer", choices=list(ISSUERS), help="only this issuer (default: all)")
    p.add_argument("--alg", choices=list(SUPPORTED_ALGS), default="RS256")
    p = command(sub, "retire-key", "stop publishing an old key", parent, cmd_retire, with_json=True)
    p.add_argument("--issuer", choices=list(ISSUERS), help="only this issuer (default: all)")
    p.add_argument("--kid", help="the key to retire (default: the oldest one that does not sign)")
    command(
        sub, "faults", "list the fault presets of `wif token --fault`", parent, cmd_faults, with_json=True
    )

    env = subparsers.add_parser(
        "env",
        help="print shell export lines: token files and the kit CA; with --principal, that workload's host",
        description='Apply with: eval "$(wif env)"  or  eval "$(wif env --principal NAME)"',
        parents=[parent],
    )
    env.add_argument(
        "--platform",
        choices=platforms(),
        default="aks",
        help="which cloud's token-file variable to export (default aks)",
    )
    env.add_argument(
        "--principal",
        metavar="NAME",
        help="the environment that principal's workload has on its real host (SDK variables, CA "
        "bundle, its client secret if it has one; HTTPS_PROXY to the kit's vendor-host proxy for "
        "Azure and Google Cloud)",
    )
    json_flag(env)
    env.set_defaults(func=cmd_env)


def _where(record: Any) -> str:
    """Both forms of the one port: https (issuers) and plain http (metadata endpoints)."""
    https = record.extra.get("https_base_url")
    return f"{https} (and {record.extra['base_url']})" if https else str(record.extra["base_url"])


def _describe(record: Any) -> dict[str, Any]:
    return {"running": True, "pid": record.pid, "port": record.port, **record.extra}


def cmd_start(args: argparse.Namespace) -> int:
    state = state_from(args)
    record = start_idp(state, args.port)
    if args.json:
        print_json(_describe(record))
        return 0
    print(f"mock IdP running at {_where(record)} (pid {record.pid})")
    for issuer_id, info in record.extra["issuers"].items():
        print(f"  {issuer_id:6} issuer {info['issuer']}  audience {info['audience']}")
    print(f'  trust the kit CA {tls.paths(state).ca_cert} elsewhere with: eval "$(wif env)"')
    if record.extra.get("vendor_proxy_note"):
        print(f"  note: {record.extra['vendor_proxy_note']}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    print("mock IdP stopped" if stop_idp(state_from(args)) else "mock IdP was not running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state = state_from(args)
    record = idp_record(state)
    if args.json:
        print_json(_describe(record) if record else {"running": False})
        return 0 if record else 3
    if record is None:
        print("mock IdP: not running (start it with `wif idp start`)")
        return 3
    print(f"mock IdP: running at {_where(record)} (pid {record.pid})")
    for issuer_id, info in record.extra["issuers"].items():
        print(f"  {issuer_id:6} {info['issuer']}")
    return 0


def cmd_principals(args: argparse.Namespace) -> int:
    principals = load_catalog(state_from(args))
    if args.json:
        print_json([p.public() for p in principals])
        return 0
    rows = [("NAME", "KIND", "ISSUER", "INFRASTRUCTURE", "SUBJECT", "GROUPS")]
    for p in principals:
        rows.append((p.name, p.kind, p.issuer_id, p.infrastructure, p.subject, ",".join(p.groups) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    result = rotate_keys(state_from(args), args.issuer, args.alg)
    lines = [
        f"{issuer_id}: now signing with {key['kid']} ({key['alg']}); published: {', '.join(key['published'])}"
        for issuer_id, key in result["rotated"].items()
    ]
    return _print_key_change(args, result, lines)


def cmd_retire(args: argparse.Namespace) -> int:
    result = retire_key(state_from(args), args.issuer, args.kid)
    lines = [
        f"{issuer_id}: retired {kid} (no longer in the JWKS)" for issuer_id, kid in result["retired"].items()
    ]
    return _print_key_change(args, result, lines)


def _print_key_change(args: argparse.Namespace, result: dict[str, Any], lines: list[str]) -> int:
    """A key rotation or retirement: the JSON result, or ``lines`` and what became of the token files."""
    if args.json:
        print_json(result)
        return 0
    for line in lines:
        print(line)
    files = result.get("token_files")
    if files:
        print(f"token files signed again with the current keys: {', '.join(files)}")
    elif "token_files" not in result:  # the IdP is stopped: it writes them when it starts
        print("the IdP is stopped: it writes the token files with the current keys when it starts")
    return 0


def cmd_faults(args: argparse.Namespace) -> int:
    if args.json:
        print_json([f.to_json() for f in FAULTS.values()])
        return 0
    for f in FAULTS.values():
        print(f"{f.name:24} {f.rule:20} {f.description}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    state = state_from(args)
    record = require_idp(state)
    if args.principal:
        # Printed on request only, never written to the env file: it may hold a client secret.
        env = workload_exports(state, args.principal)
        if args.json:
            print_json(env)
        else:
            print(render_exports(env), end="")
        return 0
    env = env_exports(state, load_catalog(state), record.extra["base_url"], platform=args.platform)
    env.update(common_env(env_context(state)))
    # Where this state directory's mongod listens (its port may not be the default: ports.py).
    mongod = services.running_record(state, "mongod")
    if mongod is not None:
        env["MONGODB_URI"] = mongodb_uri(mongod.port)
    text = render_exports(env)
    state.write_private(state.env_file, text)
    if args.json:
        print_json(env)
    else:
        print(text, end="")
    return 0
