"""Where the lessons are found: a source checkout, or where a wheel install (Binder) put them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from wif_notebook import lessons

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[2]


def _shared_data_target(source: str) -> str:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        shared = tomllib.load(fh)["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    return str(shared[source])


def test_the_wheel_ships_the_lessons_where_the_kit_looks_for_them() -> None:
    assert _shared_data_target("notebooks") == lessons.SHARED_LESSONS.as_posix()


def test_a_source_checkout_uses_its_notebooks_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lessons.ENV_VAR, raising=False)
    assert lessons.default_lessons_dir() == ROOT / "notebooks"
    monkeypatch.setenv(lessons.ENV_VAR, "/somewhere/else")
    assert lessons.default_lessons_dir() == Path("/somewhere/else")


def test_a_non_editable_install_finds_the_lessons_under_its_prefix(tmp_path: Path) -> None:
    # The layout `pip install .` leaves: the package in site-packages (no pyproject.toml next to
    # it, no notebooks/), the shared-data under the environment's prefix.
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    shutil.copytree(
        ROOT / "wif_notebook",
        Path(site) / "wif_notebook",
        ignore=shutil.ignore_patterns("__pycache__", "labextension"),
    )
    shutil.copytree(ROOT / "notebooks", env / _shared_data_target("notebooks"))
    probe = (
        "from wif_notebook import lessons; print(lessons.default_lessons_dir()); "
        "print(len(lessons.catalog()))"
    )
    # A bare environment: wif_notebook.lessons needs no third-party package.
    environ = {k: v for k, v in os.environ.items() if k not in (lessons.ENV_VAR, "PYTHONPATH")}
    done = subprocess.run(
        [python, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=environ, timeout=60
    )
    assert done.returncode == 0, done.stderr
    found, count = done.stdout.split()
    assert Path(found) == env / "share" / "wif-notebook" / "notebooks"
    assert int(count) == len(lessons.catalog(ROOT / "notebooks")) > 0
    assert sys.prefix != str(env)
