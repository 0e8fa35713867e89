"""``wif classroom up | status | down`` (the parser; the work is in hub.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..cli import json_flag, port_arg, print_doc
from . import hub


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    room = subparsers.add_parser(
        "classroom",
        help="a JupyterHub workshop on this machine, with the instructor's room view",
        parents=[parent],
    )
    sub = room.add_subparsers(dest="classroom_command", metavar="ACTION", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--dir",
        default=None,
        help=f"the classroom directory (default: ${hub.ENV_VAR} or ~/.local/state/wif-classroom)",
    )

    p = sub.add_parser("up", help="start JupyterHub for N learners (idempotent)", parents=[parent, where])
    p.add_argument("--learners", type=int, required=True, help="how many learners (learner1..N)")
    p.add_argument(
        "--port", type=port_arg, default=None, help="the hub's port (default 8000 if free, else any)"
    )
    p.add_argument(
        "--show-passwords", action="store_true", help="print the passwords (otherwise only their files)"
    )
    p.add_argument(
        "--start-servers", action="store_true", help="also start every learner's server now (warm the room)"
    )
    json_flag(p)
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("status", help="the hub and every learner", parents=[parent, where])
    json_flag(p)
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("down", help="stop the hub, every learner's server and kit", parents=[parent, where])
    json_flag(p)
    p.set_defaults(func=cmd_down)


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.dir).expanduser().absolute() if args.dir else hub.default_dir()


def cmd_up(args: argparse.Namespace) -> int:
    folder = _dir(args)
    doc = hub.up(folder, args.learners, port=args.port, show_passwords=args.show_passwords)
    if args.start_servers:
        doc["servers_started"] = hub.start_servers(folder)
    return print_doc(args, doc, _print_up)


def _print_up(doc: dict[str, Any]) -> None:
    learners = doc["login"]["learners"]
    instructor = doc["login"]["instructor"]
    print(f"hub       {doc['hub_url']}")
    print(f"room      {doc['room_url']}   (instructor only)")
    print(
        f"learners  {learners['usernames'][0]} .. {learners['usernames'][-1]}, password in "
        f"{learners['password_file']}" + (f": {learners['password']}" if "password" in learners else "")
    )
    print(
        f"instructor {instructor['username']}, password in {instructor['password_file']}"
        + (f": {instructor['password']}" if "password" in instructor else "")
    )
    print(f"isolation {doc['isolation']['spawner']}: {doc['isolation']['not_separate']}")
    where = "" if doc["classroom_dir"] == str(hub.default_dir()) else f" --dir {doc['classroom_dir']}"
    print(f"stop it with: wif classroom down{where}")


def cmd_status(args: argparse.Namespace) -> int:
    doc = hub.status(_dir(args))
    print_doc(args, doc, _print_status)
    return 0 if doc["running"] else 3


def _print_status(doc: dict[str, Any]) -> None:
    if not doc["running"]:
        print(f"no classroom runs in {doc['classroom_dir']} (start one with `wif classroom up --learners N`)")
        return
    print(f"hub {doc['hub_url']}  room {doc['room_url']}")
    for learner in doc["learner_status"]:
        kit = learner["kit"]
        print(
            f"  {learner['name']:<10} server {learner['server']:<8} idp {'up' if kit['idp'] else 'down':<5}"
            f" mongod {'up' if kit['mongod'] else 'down':<5} active {learner['last_activity'] or 'never'}"
        )


def cmd_down(args: argparse.Namespace) -> int:
    doc = hub.down(_dir(args))
    return print_doc(
        args,
        doc,
        lambda d: print(
            f"classroom {'stopped' if d['stopped'] else 'was not running'} ({d['classroom_dir']})"
        ),
    )
