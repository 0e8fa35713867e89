"""The ``wif`` command line (a contract, see docs/ARCHITECTURE.md).

This module only builds the parser and reports errors. Each area registers its own sub-commands
(``register(subparsers)`` in the modules of ``COMMAND_MODULES``), and every handler is a thin
function over the same Python API that the magics use.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .errors import WifError
from .state import StateDir

# Areas that add sub-commands, in the order they appear in `wif --help`.
COMMAND_MODULES: list[str] = [
    "wif_notebook.idp.cli",
    "wif_notebook.token_cli",
    "wif_notebook.mongod_cli",
    "wif_notebook.authorize_cli",
    "wif_notebook.doctor_cli",
    "wif_notebook.selftest",
    "wif_notebook.classroom.cli",
    "wif_notebook.export.cli",
    "wif_notebook.lab_cli",
]

Handler = Callable[[argparse.Namespace], int]

# The magic lines a `wif` command does the same as (`%wif_X ...` → `wif X ...`), so an error printed
# in a terminal names what works there (`for_terminal`). A magic not here has no such command (e.g.
# %wif_connect, %wif_flow, %wif_mongod set/add/remove/reset, a bare %wif_mongod) and stays as written.
TERMINAL_EQUIVALENTS: tuple[str, ...] = (
    "up",
    "status",
    "reset",
    "doctor",
    "token",
    "claims",
    "authorize",
    "export",
    "mongod start",
    "mongod stop",
    "mongod status",
    "mongod logs",
    "idp principals",
    "idp rotate-keys",
    "idp retire-key",
)
_MAGIC = re.compile(r"%wif_(" + "|".join(map(re.escape, TERMINAL_EQUIVALENTS)) + r")\b")


def common_parent() -> argparse.ArgumentParser:
    """Options every sub-command accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--state-dir",
        default=None,
        help="state directory (default: $WIF_STATE_DIR or ~/.local/state/wif-notebook)",
    )
    return parent


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def command(
    sub: Any,
    name: str,
    help: str,
    parent: argparse.ArgumentParser,
    func: Handler,
    *,
    with_json: bool = False,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """One sub-command: its parser (with ``parent``'s common options), ``--json`` if it has one,
    and its handler; returned for the options of its own."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help, parents=[parent], description=description
    )
    if with_json:
        json_flag(parser)
    parser.set_defaults(func=func)
    return parser


def port_option(parser: argparse.ArgumentParser, flag: str, what: str, usual: int) -> None:
    """A service's port option: None (the default) keeps this state directory's port (``ports.py``)."""
    parser.add_argument(
        flag,
        type=port_arg,
        default=None,
        help=f"{what} (default: the one kept for this state directory, else {usual} if free, else any "
        "free one; 0: any free port)",
    )


def port_arg(text: str) -> int:
    """An argparse ``type`` for TCP ports, so a typo fails before anything is written to mongod.conf."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 0-65535 (0: any free port)")
    return port


def state_from(args: argparse.Namespace) -> StateDir:
    return StateDir(getattr(args, "state_dir", None))


def print_json(doc: Any) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True, default=str))


def print_doc(args: argparse.Namespace, doc: Any, text: Callable[[Any], None]) -> int:
    """Print ``doc`` as JSON under ``--json``, else through ``text``; the handler's exit code."""
    if args.json:
        print_json(doc)
    else:
        text(doc)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wif",
        description="MongoDB Workload Identity Federation kit: a mock identity provider, "
        "token tools and a test mongod that accepts MONGODB-OIDC.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parent = common_parent()
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub, parent)
    return parser


def for_terminal(text: str) -> str:
    """``text`` (an error's message and hint, written for the notebook) as read in a terminal: each
    magic of ``TERMINAL_EQUIVALENTS`` becomes its ``wif`` command, unless ``text`` already names that
    command (hints written for both, e.g. "%wif_up (or `wif up`)", would otherwise say it twice)."""

    def command(match: re.Match[str]) -> str:
        line = f"wif {match.group(1)}"
        return match.group(0) if re.search(rf"\b{re.escape(line)}\b", text) else line

    return _MAGIC.sub(command, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return func(args)
    except WifError as exc:
        print(f"wif: {for_terminal(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `wif ... | head` closed the pipe: not an error of the kit. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
