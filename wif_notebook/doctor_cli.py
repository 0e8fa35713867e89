"""``wif doctor [TOKEN|FILE|-]``: why would (or did) this login fail — the same diagnosis as ``%wif_doctor``.

Without a token it diagnoses the newest failed MONGODB-OIDC authentication in mongod's log; when
nothing failed there, the last token `wif claims` refused (kept 0600 in the state directory, shown
only redacted); else it says that nothing failed. Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli import json_flag, print_json, state_from
from .state import StateDir


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "doctor", help="why would (or did) a MONGODB-OIDC login fail, and the fix", parents=[parent]
    )
    p.add_argument(
        "token", nargs="?", default=None, metavar="TOKEN|-", help="the JWT, a file holding it, or - for stdin"
    )
    json_flag(p)
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose
    from .token_cli import read_token

    state = state_from(args)
    token = read_token(args.token, command="doctor") if args.token else None
    result = diagnose(token, state=state, terminal=True)
    note = None
    if result.ok and not token:
        # Nothing failed in mongod's log; but `wif claims` may just have refused a token.
        shown = _last_refused(state)
        if shown is not None:
            from .tokens import redact

            result = diagnose(shown, state=state, terminal=True)
            note = (
                f"No failed login in mongod's log; this is the token `wif claims` refused last "
                f"({redact(shown)}). Pass a token to diagnose another."
            )
    if args.json:
        doc = result.to_json()
        if note is not None:
            doc["note"] = note
        print_json(doc)
    else:
        if note is not None:
            print(note, end="\n\n")
        print(result)
    return 0 if result.ok else 1


def _last_refused(state: StateDir) -> str | None:
    try:
        text = state.shown_token_file.read_text().strip()
    except OSError:
        return None
    return text or None
