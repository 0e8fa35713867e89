"""binder/: what repo2docker installs and runs (requirements.txt, postBuild, start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from wif_notebook import stack
from wif_notebook.state import StateDir

BINDER = Path(__file__).resolve().parents[2] / "binder"
VENV_BIN = str(Path(sys.executable).parent)


def _start(tmp_path: Path, *command: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        "WIF_STATE_DIR": str(tmp_path / "state"),
        "WIF_UP_ARGS": "--idp-port 0 --port 0",  # never the fixed ports a real launch uses
        **extra,
    }
    env.pop("WIF_LESSONS_DIR", None)
    return subprocess.run(
        [str(BINDER / "start"), *command], env=env, capture_output=True, text=True, timeout=60
    )


def test_requirements_install_the_repository_itself() -> None:
    lines = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "." in lines or "-e ." in lines


def test_postbuild_and_start_are_executable_bash_scripts() -> None:
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"binder/{name} is not executable"
        assert path.read_text().startswith("#!/bin/bash\n")
    assert "set -euo pipefail" in (BINDER / "postBuild").read_text()
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_start_brings_the_services_up_and_then_runs_the_command(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    try:
        done = _start(tmp_path, "sh", "-c", 'echo "lessons in $WIF_LESSONS_DIR"')
        assert done.returncode == 0, done.stderr
        assert f"lessons in {BINDER.parent / 'notebooks'}" in done.stdout
        now = stack.status(state)
        assert now["idp"]["running"] and now["mongod"]["running"]
        again = _start(tmp_path, "true")  # a second launch reuses the running services
        assert again.returncode == 0, again.stderr
        assert stack.status(state)["idp"]["pid"] == now["idp"]["pid"]
    finally:
        stack.down(state)


def test_start_hands_over_even_when_the_services_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("not a directory")
    done = _start(tmp_path, "sh", "-c", "exit 7")
    assert done.returncode == 7  # exec'd: the command's own exit status, Jupyter still starts
    assert "00-preflight.ipynb" in done.stderr
