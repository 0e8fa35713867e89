"""``wif token`` and ``wif claims``: get a token like a workload does, and see what a server makes of it.

``wif token PRINCIPAL`` prints the raw JWT on stdout and nothing else (it is the explicit request
for a raw token, so it can be piped: ``wif token billing-api | wif claims -``). ``wif claims``
never prints the raw token.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from . import tokens
from .cli import json_flag, print_json, state_from
from .errors import ConfigError, TokenError, WifError
from .oidc import (
    KeySetCache,
    ProviderConfig,
    RuleResult,
    explain_token,
    first_failure,
    parse_oidc_identity_providers,
    rule_by_id,
)
from .state import StateDir


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
        "--via",
        choices=list(tokens.METHODS),
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
    p.add_argument("token", nargs="?", default="-", metavar="TOKEN|-", help="the JWT, or - for stdin")
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
    print(issued.token)
    return 0


def _read_token(arg: str) -> str:
    if arg == "-":
        if sys.stdin.isatty():
            raise TokenError(
                "no token given",
                hint="pass the token as an argument, or pipe it: `wif token billing-api | wif claims -`",
            )
        return sys.stdin.read().strip()
    return arg.strip()


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class ServerConfig:
    """The oidcIdentityProviders a token is checked against, and where they came from."""

    providers: list[ProviderConfig]
    enable_test_commands: bool
    source: str


def server_providers(state: StateDir) -> ServerConfig | None:
    """The providers of the state directory's mongod.conf (setParameter.oidcIdentityProviders).

    Without a mongod.conf, the configuration ``wif up`` would write for the running IdP (one
    workload entry per issuer, prefix = issuer id; kit and azure map ``groups`` to roles, gcp and
    k8s use $external users). None when there is neither. ConfigError (mongod's message) when the
    file is invalid.
    """
    path = state.mongod_conf
    if not path.exists():
        return _kit_default_config(state)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="fix the YAML, or regenerate it with `wif up`"
        ) from exc
    params = (doc.get("setParameter") or {}) if isinstance(doc, dict) else {}
    test_commands = _truthy(params.get("enableTestCommands", False))
    value = params.get("oidcIdentityProviders")
    providers = (
        [] if value is None else parse_oidc_identity_providers(value, enable_test_commands=test_commands)
    )
    return ServerConfig(providers, test_commands, str(path))


def _kit_default_config(state: StateDir) -> ServerConfig | None:
    from .idp.service import idp_record

    record = idp_record(state)
    issuers = record.extra.get("issuers") if record is not None else None
    if not isinstance(issuers, dict) or not issuers:
        return None
    entries: list[dict[str, Any]] = []
    for issuer_id, info in issuers.items():
        entry: dict[str, Any] = {
            "issuer": info["issuer"],
            "audience": info["audience"],
            "authNamePrefix": issuer_id,
            "supportsHumanFlows": False,
        }
        if issuer_id in ("gcp", "k8s"):  # their tokens carry no groups claim
            entry["useAuthorizationClaim"] = False
        else:
            entry["authorizationClaim"] = "groups"
        entries.append(entry)
    providers = parse_oidc_identity_providers(entries, enable_test_commands=True)
    return ServerConfig(
        providers, True, "the kit's default configuration (no mongod.conf yet; `wif up` writes it)"
    )


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
    verify_keys = KeySetCache(issuer, allow_insecure_localhost=True) if isinstance(issuer, str) else None
    try:
        verified = tokens.verify(token, verify_keys)
        report["signature"] = {"verified": True, **asdict(verified)}
    except WifError as exc:
        report["signature"] = {"verified": False, "reason": exc.what, "hint": exc.hint}

    try:
        found = server_providers(state)
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
            keys = KeySetCache(issuer, allow_insecure_localhost=found.enable_test_commands)
        results = tokens.check_against(
            token, found.providers, keys, allow_insecure_localhost=found.enable_test_commands
        )
    else:
        report.setdefault("server", None)
        results = explain_token(token, None, verify_keys)
    report["rules"] = [asdict(r) for r in results]
    failed = first_failure(results)
    report["verdict"] = _verdict(results, failed, found is not None)
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
    else:
        n = len(server["oidcIdentityProviders"])
        flag = "on" if server["enableTestCommands"] else "off"
        lines.append(f"server     {server['config']}: {n} identity provider(s), enableTestCommands {flag}")
    lines.append("")
    lines.append("rules (in the order a MongoDB server applies them)")
    rule_width = max(len(r["rule"]) for r in report["rules"])
    for r in report["rules"]:
        lines.append(f"  {_MARK[r['passed']]}  {r['rule']:<{rule_width}}  {r['detail']}")
        if r["passed"] is False:
            lines.append(f"        {'':<{rule_width}}  fix: {rule_by_id(r['rule']).fix}")
    lines.append("")
    lines.append(report["verdict"])
    return "\n".join(lines)


def cmd_claims(args: argparse.Namespace) -> int:
    token = _read_token(args.token)
    report = analyse(token, state_from(args))
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1
