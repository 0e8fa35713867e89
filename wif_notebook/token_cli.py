"""``wif token`` and ``wif claims``: get a token like a workload does, and see what a server makes of it.

``wif token PRINCIPAL`` prints the raw JWT on stdout and nothing else (it is the explicit request
for a raw token, so it can be piped: ``wif token billing-api | wif claims -``); on a terminal it
warns first (on stderr) that the token is a live credential, and ``-o FILE`` writes it 0600 instead
(a shell redirect would create a file with the umask's mode). ``wif claims`` never prints the raw
token.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import tokens
from .cli import json_flag, print_json, state_from
from .clouds import issuer_mixup_words
from .errors import ConfigError, TokenError, WifError
from .mongod import server_providers as mongod_server_providers
from .oidc import (
    RuleResult,
    explain_token,
    first_failure,
    keyset_for,
    rule_by_id,
)
from .state import StateDir, read_text, write_private


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "token",
        help="print a signed JWT for a principal (the raw token, on stdout)",
        parents=[parent],
        description="Obtain a token the way the principal's workload does and print the raw JWT.",
    )
    p.add_argument("principal", metavar="PRINCIPAL", help="a name from `wif idp principals`")
    p.add_argument("--audience", help="the audience (TOKEN_RESOURCE) to request")
    p.add_argument("--lifetime", type=int, metavar="SECONDS", help="token lifetime (uses the IdP's mint)")
    p.add_argument(
        "--fault", metavar="NAME", help="a fault preset that breaks one server rule (uses the mint)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the token to FILE (mode 0600) instead of stdout; a shell redirect creates a file "
        "others may read",
    )
    p.add_argument(
        "--via",
        choices=list(tokens.methods()),
        help="how to obtain it (default: the way this kind of principal does); federated: the "
        "Kubernetes token of the workload traded for an Entra token (orders-identity or orders-worker)",
    )
    p.set_defaults(func=cmd_token)

    p = subparsers.add_parser(
        "claims",
        help="decode, verify and explain a token; check it against the server's configuration",
        parents=[parent],
        description="Decode a JWT, verify its signature against the issuer's JWKS, check every "
        "MONGODB-OIDC rule against the test server's mongod.conf, and explain each claim. "
        "Exit status 1 when a rule fails.",
    )
    p.add_argument(
        "token", nargs="?", default="-", metavar="TOKEN|-", help="the JWT, a file holding it, or - for stdin"
    )
    json_flag(p)
    p.set_defaults(func=cmd_claims)


def cmd_token(args: argparse.Namespace) -> int:
    issued = tokens.obtain(
        args.principal,
        via=args.via,
        audience=args.audience,
        lifetime=args.lifetime,
        fault=args.fault,
        state=state_from(args),
    )
    if args.output:
        path = Path(args.output).expanduser()
        try:
            write_private(path, issued.token + "\n")
        except OSError as exc:
            raise TokenError(
                f"cannot write the token to {path}: {exc.strerror or exc}",
                hint="choose a writable path, e.g. -o ./token.jwt",
            ) from exc
        print(f"wif token: wrote {issued.redacted} to {path} (mode 0600)", file=sys.stderr)
        return 0
    if sys.stdout.isatty():
        # Asked for, so printed; but a live bearer token on a screen is worth a word.
        print(
            "wif token: this is a live bearer token: anyone who sees it can log in as "
            f"{issued.principal or args.principal} until it expires; use -o FILE (0600) or a pipe "
            "(wif token ... | wif claims -) to keep it off the screen",
            file=sys.stderr,
        )
    print(issued.token)
    return 0


# What a token argument may be (`wif claims`, `wif doctor`): said when it is none of them.
_TOKEN_ARGUMENT_HINT = "pass the token itself, the path of a file holding it, or - to read it from stdin"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a token is usually longer than a file name may be
        return False


# A file name's extension (``t.jwt``, ``token.txt``): a JWT has two dots and starts with ``eyJ``.
_FILE_EXTENSION = re.compile(r"^[^.\s]+\.[A-Za-z][A-Za-z0-9]{0,5}$")


def _names_a_path(arg: str) -> bool:
    """An argument written as a path (``/tmp/t.jwt``, ``~/t``, ``./t``) or as a file name with an
    extension (``t.jwt``), which no JWT is: base64url has no ``/`` and a JWT starts with ``eyJ``."""
    if arg.startswith("eyJ"):
        return False
    return "/" in arg or os.sep in arg or arg.startswith("~") or bool(_FILE_EXTENSION.match(arg))


def read_token(arg: str, *, command: str) -> str:
    """The token a command's ``TOKEN|-`` argument gives: the JWT itself, the content of a file
    holding it (e.g. ``wif token billing-api -o t.jwt``), or stdin for ``-``."""
    if arg == "-":
        if sys.stdin.isatty():
            raise TokenError(
                "no token given",
                hint=f"pass the token as an argument, or pipe it: `wif token billing-api | wif {command} -`",
            )
        piped = sys.stdin.read().strip()
        if not piped:
            raise TokenError(
                "no token on stdin: what was piped in is empty",
                hint=f"check the command before the pipe: `wif token billing-api | wif {command} -`",
            )
        return piped
    from_file = read_token_file(arg)
    return from_file if from_file is not None else arg.strip()


def read_token_file(arg: str, *, hint: str = _TOKEN_ARGUMENT_HINT) -> str | None:
    """The token in the file ``arg`` names (an existing file, or an argument written as a path or
    a file name); None when ``arg`` is written as a token. A missing, unreadable or empty file is a
    TokenError saying so, with ``hint`` (what a token argument may be where it was given)."""
    path = Path(arg).expanduser()
    if not (_is_file(path) or _names_a_path(arg)):
        return None
    token = read_text(
        path,
        TokenError,
        f"cannot read the token file {path}",
        hint,
        missing=(f"the token file {path} does not exist", hint),
    ).strip()
    if not token:
        # Said here: an empty string downstream reads as "no token given" (or, for the doctor,
        # "diagnose the last failure"), which is not what happened.
        raise TokenError(f"the token file {path} is empty", hint=f"write a token into it first, or {hint}")
    return token


def analyse(token: str, state: StateDir) -> dict[str, Any]:
    """Everything ``wif claims`` reports, as one JSON-ready document."""
    decoded = tokens.decode(token)
    report: dict[str, Any] = {
        "token": tokens.redact(token.strip()),
        "header": decoded.header,
        "claims": decoded.claims,
        "explanations": [asdict(c) for c in tokens.explain_claims(decoded.claims)],
    }
    issuer = decoded.claims.get("iss")
    verify_keys = (
        keyset_for(issuer, state=state, allow_insecure_localhost=True) if isinstance(issuer, str) else None
    )
    try:
        verified = tokens.verify(token, verify_keys, state=state)
        report["signature"] = {"verified": True, **asdict(verified)}
    except WifError as exc:
        report["signature"] = {"verified": False, "reason": exc.what, "hint": exc.hint}

    try:
        found = mongod_server_providers(state)
    except ConfigError as exc:
        found = None
        report["server"] = {"config": str(state.mongod_conf), "error": exc.what, "hint": exc.hint}
    if found is not None:
        report["server"] = {
            "config": found.source,
            "enableTestCommands": found.enable_test_commands,
            "oidcIdentityProviders": [p.to_document() for p in found.providers],
        }
        keys = verify_keys if found.enable_test_commands else None
        if keys is None and isinstance(issuer, str):
            keys = keyset_for(issuer, state=state, allow_insecure_localhost=found.enable_test_commands)
        results = tokens.check_against(
            token, found.providers, keys, allow_insecure_localhost=found.enable_test_commands, state=state
        )
    else:
        report.setdefault("server", None)
        results = explain_token(token, None, verify_keys)
    report["rules"] = [asdict(r) for r in results]
    failed = first_failure(results)  # the rule book's verdict: the rule the server reports
    report["rule"] = failed.rule if failed is not None else None
    report["verdict"] = _verdict(results, failed, found is not None)
    if failed is not None and failed.rule in ("provider", "issuer") and found is not None:
        report["verdict"] += issuer_mixup_words(decoded.claims, found.providers)
    report["ok"] = failed is None and report["signature"]["verified"]
    return report


def _verdict(results: list[RuleResult], failed: RuleResult | None, have_config: bool) -> str:
    if failed is not None:
        return (
            f"a MongoDB server would refuse this token: rule {failed.rule!r} ({failed.title}): "
            f"{failed.detail}. "
            'The client only sees error 18 "Authentication failed."; the reason is in the server log.'
        )
    if not have_config:
        return (
            "no rule failed, but the provider rules were not checked (no mongod.conf in the state directory)"
        )
    if any(r.passed is None for r in results):
        return "no rule failed, but some could not be evaluated (see above)"
    user = next((r.detail for r in results if r.rule == "principal"), "")
    return f"a MongoDB server with this configuration would accept this token: {user}"


_MARK = {True: "PASS", False: "FAIL", None: "skip"}


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render(report: dict[str, Any]) -> str:
    """The human-readable ``wif claims`` report."""
    lines = [f"token      {report['token']}"]
    header = report["header"]
    lines.append("header     " + "  ".join(f"{k}={_short(v, 50)}" for k, v in header.items()))
    lines.append("")
    lines.append("claims")
    width = max((len(c["name"]) for c in report["explanations"]), default=3)
    for c in report["explanations"]:
        lines.append(f"  {c['name']:<{width}}  {_short(c['value'])}")
        lines.append(f"  {'':<{width}}    {c['meaning']}")
    lines.append("")
    sig = report["signature"]
    if sig["verified"]:
        lines.append(f"signature  verified ({sig['alg']}, key {sig['kid']!r} from {sig['jwks_uri']})")
    else:
        lines.append(f"signature  NOT verified: {sig['reason']}")
        if sig.get("hint"):
            lines.append(f"           next step: {sig['hint']}")
    server = report.get("server")
    if server is None:
        lines.append("server     no mongod.conf and no running IdP: provider rules not checked")
    elif "error" in server:
        lines.append(f"server     {server['config']} is invalid: {server['error']}")
        if server.get("hint"):
            lines.append(f"           next step: {server['hint']}")
    else:
        n = len(server["oidcIdentityProviders"])
        flag = "on" if server["enableTestCommands"] else "off"
        lines.append(f"server     {server['config']}: {n} identity provider(s), enableTestCommands {flag}")
    lines.append("")
    lines.append(
        "rules (the server reports the one that fails; the others say why they pass or are not reached)"
    )
    rule_width = max(len(r["rule"]) for r in report["rules"])
    for r in report["rules"]:
        lines.append(f"  {_MARK[r['passed']]}  {r['rule']:<{rule_width}}  {r['detail']}")
        if r["passed"] is False:
            lines.append(f"        {'':<{rule_width}}  fix: {rule_by_id(r['rule']).fix}")
    lines.append("")
    lines.append(report["verdict"])
    return "\n".join(lines)


def cmd_claims(args: argparse.Namespace) -> int:
    token = read_token(args.token, command="claims")
    state = state_from(args)
    try:
        report = analyse(token, state)
    except TokenError:
        _remember_refused(state, token)  # not even a JWT: the doctor can still say why
        raise
    _remember_refused(state, None if report["ok"] else token)
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1


def _remember_refused(state: StateDir, token: str | None) -> None:
    """Keep the last refused token (0600, never printed) for `wif doctor`; a good one clears it."""
    if token is None:
        state.shown_token_file.unlink(missing_ok=True)
    else:
        state.subdir(state.run_dir.name)
        state.write_private(state.shown_token_file, token.strip())
