"""``wif doctor [TOKEN|-]``: why would (or did) this login fail — the same diagnosis as ``%wif_doctor``.

Without a token it diagnoses the newest failed MONGODB-OIDC authentication in mongod's log (or
says that nothing failed). Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .cli import json_flag, print_json, state_from


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "doctor", help="why would (or did) a MONGODB-OIDC login fail, and the fix", parents=[parent]
    )
    p.add_argument("token", nargs="?", default=None, help="a JWT, or - to read it from stdin")
    json_flag(p)
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose

    token = args.token
    if token == "-":
        token = sys.stdin.read().strip()
    result = diagnose(token or None, state=state_from(args))
    if args.json:
        print_json(result.to_json())
    else:
        print(result)
    return 0 if result.ok else 1
