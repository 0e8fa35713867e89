"""``wif selftest``: is this image ready for a workshop? Checks a learner image with only the kit
installed (no tests, no pytest): the kit imports, both services start in a throw-away state
directory on free ports, the IdP signs a token, pymongo logs in with MONGODB-OIDC, the lessons are
found. Each check says what failed and what to do; the exit code is 0 only if all pass.

It never touches the learner's own state directory or the default ports: a room check run on a
learner's server leaves that learner's kit alone.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .cli import json_flag, print_json
from .errors import WifError
from .state import StateDir


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    fix: str = ""
    seconds: float = 0.0


def _kit() -> tuple[str, str]:
    import wif_notebook

    missing = []
    for module in ("pymongo", "jwt", "cryptography", "yaml", "IPython"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise WifError(
            f"wif-notebook {wif_notebook.__version__} is installed, but {', '.join(missing)} "
            "cannot be imported",
            hint="reinstall the kit with its dependencies: pip install --force-reinstall wif-notebook",
        )
    return f"wif-notebook {wif_notebook.__version__} from {Path(wif_notebook.__file__).parent}", ""


def _lessons(lessons_dir: Path | None) -> tuple[str, str]:
    from .lessons import catalog, default_lessons_dir

    folder = lessons_dir or default_lessons_dir()
    found = catalog(folder)
    if not found:
        raise WifError(
            f"no lesson notebooks in {folder}",
            hint="copy the kit's notebooks/ there, or point WIF_LESSONS_DIR at them",
        )
    exercises = sum(len(lesson.exercises) for lesson in found)
    return f"{len(found)} lessons ({exercises} exercises) in {folder}", ""


def run(lessons_dir: Path | None = None) -> list[Check]:
    """Every check, in order; the services' checks run in a temporary state directory."""
    checks: list[Check] = []

    def step(name: str, work: Callable[[], tuple[str, str]], fix: str) -> bool:
        started = time.perf_counter()
        try:
            detail, _ = work()
            checks.append(Check(name, True, detail, seconds=time.perf_counter() - started))
            return True
        except WifError as exc:
            checks.append(Check(name, False, exc.what, exc.hint or fix, time.perf_counter() - started))
        except Exception as exc:  # a broken image shows up as any error: report it, keep checking
            checks.append(
                Check(name, False, f"{type(exc).__name__}: {exc}", fix, time.perf_counter() - started)
            )
        return False

    step("kit", _kit, "pip install wif-notebook (or this repository) into the image")
    folder = Path(tempfile.mkdtemp(prefix="wif-selftest-"))
    state = StateDir(folder / "state")
    try:
        from . import stack

        up: dict[str, Any] = {}

        def services() -> tuple[str, str]:
            up.update(stack.up(state, idp_port=0, port=0))
            return f"IdP {up['idp']['base_url']}, mongod port {up['mongod']['port']}", ""

        def token() -> tuple[str, str]:
            from .tokens import obtain

            issued = obtain("lesson-app", state=state)
            return f"{issued.method} token for {issued.principal} from {issued.issuer}", ""

        def login() -> tuple[str, str]:
            from .connect import connect

            conn = connect(state=state, callback=True, timeout_ms=10_000)
            try:
                user = conn.users[0]["user"] if conn.users else "?"
            finally:
                conn.close()
            return f"pymongo logged in with MONGODB-OIDC as {user}", ""

        started = step("services", services, "read the log named above; `wif doctor` explains")
        if started:
            step("token", token, "`wif doctor` explains; check the IdP's log in the state directory")
            step("login", login, "`wif doctor` explains the failing rule")
        step("lessons", lambda: _lessons(lessons_dir), "set WIF_LESSONS_DIR to the lessons folder")
    finally:
        try:
            stack.down(state)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return checks


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "selftest",
        help="check this machine or image for a workshop: kit, services, a token, a login, lessons",
        parents=[parent],
    )
    p.add_argument(
        "--lessons-dir", default=None, help="where the lessons are (default: WIF_LESSONS_DIR or the kit's)"
    )
    json_flag(p)
    p.set_defaults(func=cmd_selftest)


def cmd_selftest(args: argparse.Namespace) -> int:
    checks = run(Path(args.lessons_dir) if args.lessons_dir else None)
    ok = all(c.passed for c in checks) and len(checks) == 5
    if args.json:
        print_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        for c in checks:
            print(f"{'✔' if c.passed else '✘'} {c.name:9} {c.detail}")
            if not c.passed:
                print(f"  next step: {c.fix}")
        print("selftest: ready for the workshop" if ok else "selftest: NOT ready (see ✘ above)")
    return 0 if ok else 1
