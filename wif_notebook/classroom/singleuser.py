"""What a learner's server runs (``python -m wif_notebook.classroom.singleuser [options]``): the
lessons copied into the learner's home, the learner's own kit started, then ``jupyterhub-singleuser``
with the same options.

Any JupyterHub can use it as the single-user command (``Spawner.cmd``; Zero to JupyterHub's
``singleuser.cmd``): the kit then starts with each user's server, in that user's ``WIF_STATE_DIR``
(default ``~/.local/state/wif-notebook``), on the ports kept there or free ones (ports.py), so users
sharing a machine never collide. A kit that fails to start does not keep JupyterLab from starting:
lesson 00 then says what is wrong, as with binder/start.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import WifError
from ..state import StateDir

SOURCE_ENV = "WIF_LESSONS_SOURCE"  # where the lessons are copied from (default: the kit's)


def copy_lessons(home: Path) -> Path:
    """``~/notebooks``: the lessons, copied once; a learner's edits are never overwritten."""
    from ..lessons import default_lessons_dir

    source = Path(os.environ.get(SOURCE_ENV) or default_lessons_dir())
    target = home / "notebooks"
    if not target.exists():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    home = Path.home()
    try:
        os.environ["WIF_LESSONS_DIR"] = str(copy_lessons(home))
    except (OSError, WifError) as exc:  # JupyterLab starts anyway; lesson 00 is where to look
        print(f"wif classroom: cannot copy the lessons into {home}: {exc}", file=sys.stderr)
    try:
        from .. import stack

        up = stack.up(StateDir())
        print(
            f"wif classroom: kit up (IdP {up['idp']['base_url']}, mongod {up['mongod']['port']})", flush=True
        )
    except WifError as exc:
        print(f"wif classroom: the kit did not start: {exc}", file=sys.stderr, flush=True)
    if os.geteuid() == 0 and "--allow-root" not in args:
        args = [*args, "--allow-root"]  # containers and workshop VMs often run everything as root
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub.singleuser", *args])
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
