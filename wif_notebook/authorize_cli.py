"""``wif authorize``: what ``%wif_authorize`` does, from a terminal.

Map a group (an authorization-claim value) to a role, or create the ``$external`` user of a
principal, on the kit's test mongod (or the MongoDB server ``mongod.conf`` and ``admin.json`` of the
state directory describe). The options are declared once here, for this command and the magic.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli import command, state_from

# authorization.authorize's parameters as command-line options: (flags, add_argument keywords).
OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--group", "-g"), {"default": None, "help": "map this group (authorization claim value) to a role"}),
    (("--user", "-u"), {"default": None, "help": "create this $external user (PREFIX/PRINCIPAL)"}),
    (
        ("--principal", "-p"),
        {"default": None, "help": "create the $external user of this catalog principal"},
    ),
    (
        ("--prefix",),
        {"default": None, "help": "authNamePrefix (default: kit for groups, the principal's issuer)"},
    ),
    (
        ("--role", "-r"),
        {
            "dest": "roles",
            "metavar": "ROLE",
            "action": "append",
            "default": [],
            "help": "inherit ROLE@DB (repeatable)",
        },
    ),
    (
        ("--privilege",),
        {
            "dest": "privileges",
            "metavar": "PRIVILEGE",
            "action": "append",
            "default": [],
            "help": "DB[.COLL]:ACTION[,ACTION] (repeatable)",
        },
    ),
)
# The parameter each option fills: its dest, else its long flag's name.
OPTION_NAMES = tuple(str(kw.get("dest", flags[0].lstrip("-"))) for flags, kw in OPTIONS)


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = command(
        subparsers,
        "authorize",
        "map a group to a role, or create a workload's $external user (as %%wif_authorize)",
        parent,
        cmd_authorize,
        description="Authorize a workload on the test mongod: createRole '<prefix>/<group>' in admin "
        "for a group of the token's authorization claim, or an $external user for a principal; "
        "e.g. wif authorize --group lesson-readers --role read@test",
    )
    for flags, keywords in OPTIONS:
        p.add_argument(*flags, **keywords)


def cmd_authorize(args: argparse.Namespace) -> int:
    from .authorization import authorize

    print(authorize(state_from(args), **{name: getattr(args, name) for name in OPTION_NAMES}))
    return 0
