"""``wif export TARGET [--out DIR] [--json]``: production artifacts from the kit's configuration.

Without ``--out`` the files are printed after a summary (placeholders, notes); with ``--out DIR``
they are written there (0600 for the private ones) and only the summary is printed; ``--json``
prints the whole artifact set (files, placeholders, notes, sources) as one JSON document.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..cli import json_flag, print_json, state_from
from .targets import TARGETS


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    targets = "\n".join(f"  {name:<11} {line}" for name, (_, line) in TARGETS.items())
    p = subparsers.add_parser(
        "export",
        help="production artifacts (Enterprise, Atlas, Azure, Google Cloud, Kubernetes) from the kit",
        description="Export what you built in the kit for a real deployment. Values only the real "
        "cloud knows are named placeholders such as <TENANT_ID>, listed with where to find them.\n\n"
        f"targets:\n{targets}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[parent],
    )
    # Not argparse choices: an unknown target gets the kit's error with its next step.
    p.add_argument("target", metavar="TARGET", help=f"one of: {', '.join(TARGETS)}")
    p.add_argument("--out", metavar="DIR", default=None, help="write the files into DIR")
    json_flag(p)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from . import export

    result = export(state_from(args), args.target)
    written = [str(path) for path in result.write(args.out)] if args.out else []
    if args.json:
        doc = result.to_json()
        if args.out:
            doc["written"] = written
        print_json(doc)
    elif args.out:
        print(result)
        print("written:")
        for path in written:
            print(f"  {path}")
    else:
        print(result.text(), end="")
    return 0
