"""`wif classroom` refuses what it cannot do in plain words, before starting anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def classroom(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook", "classroom", *args, "--dir", str(tmp_path / "room")],
        capture_output=True,
        text=True,
        env=full,
        timeout=60,
    )


def test_a_missing_proxy_says_how_to_install_it(tmp_path: Path) -> None:
    result = classroom(tmp_path, "up", "--learners", "2", WIF_CHP=str(tmp_path / "no-such-proxy"))
    assert result.returncode == 1
    assert "is not an executable configurable-http-proxy" in result.stderr
    assert "next step: point WIF_CHP at one (npm install configurable-http-proxy)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "room" / "classroom.json").exists()


def test_a_room_without_learners_is_refused(tmp_path: Path) -> None:
    result = classroom(tmp_path, "up", "--learners", "0")
    assert result.returncode == 1
    assert "--learners must be between 1 and 200, not 0" in result.stderr


def test_status_and_down_of_a_classroom_that_never_ran(tmp_path: Path) -> None:
    status = classroom(tmp_path, "status")
    assert status.returncode == 3
    assert "no classroom runs in" in status.stdout and "wif classroom up --learners N" in status.stdout
    down = classroom(tmp_path, "down")
    assert down.returncode == 0 and "was not running" in down.stdout
