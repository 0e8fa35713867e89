"""The kit installed from its wheel, not the checkout: the panel opens a lesson with the keyboard.

A wheel puts the lessons in ``<prefix>/share/wif-notebook/notebooks``, outside any folder
JupyterLab serves; the panel must still open them (the server copies one into ``wif-lessons/``)
or say why it cannot. The wheel is built from this checkout (``pip wheel``) and installed with
``--no-deps`` into a fresh prefix whose interpreter borrows this venv's third-party packages (a
.pth line), so wif_notebook, its labextension, its server-extension config and its lessons all
come from the wheel, and the test does not spend minutes installing JupyterLab again.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook.tls import ROOTS_VARIABLES

from .conftest import Lab, running_lab
from .test_labextension import open_panel

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
LESSON = "01-what-is-wif"


def _run(*cmd: str | Path, **kw: Any) -> None:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=240, **kw)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}"


def _clean_env() -> dict[str, str]:
    """This environment without what points at the checkout (run from outside it, too), and
    without a CA bundle variable naming a file that is gone: an in-process ``%wif_up`` earlier in
    the session exports the kit's bundle from a state directory that was deleted since."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "WIF_LESSONS_DIR") and not (k in ROOTS_VARIABLES and not Path(v).exists())
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh prefix with the kit's wheel installed in it; returns its python."""
    work = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", REPO, env=_clean_env())
    (wheel,) = (work / "dist").glob("wif_notebook-*.whl")
    prefix = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", prefix, env=_clean_env())
    python = prefix / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # Third-party packages from this venv; a plain path line, so its editable wif_notebook finder
    # (a .pth that runs code) is not loaded and the wheel's copy is the only one.
    (site / "zz-borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: without it pip uninstalls this venv's (editable) wif-notebook first.
    _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--ignore-installed",
        "--prefix",
        prefix,
        wheel,
        env=_clean_env(),
    )
    where = subprocess.check_output(
        [python, "-c", "import wif_notebook; print(wif_notebook.__file__)"],
        text=True,
        env=_clean_env(),
        cwd=work,
    )
    assert where.startswith(str(site)), where
    assert (prefix / "share" / "wif-notebook" / "notebooks" / f"{LESSON}.ipynb").is_file()
    assert importlib.metadata.version("wif-notebook")  # this venv's own install is untouched
    return python


@pytest.fixture
def wheel_lab(installed: Path, tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    # JupyterLab's own assets (themes, schemas) from this venv; extensions from the prefix.
    env = dict(_clean_env(), JUPYTERLAB_DIR=str(Path(sys.prefix) / "share" / "jupyter" / "lab"))
    with running_lab(installed, root, tmp_path / "state", tmp_path / "home", env) as lab:
        yield lab


def _focus_lesson(page: Any, lab: Lab) -> None:
    """Open the Workload Identity panel and put the keyboard's focus on the lesson's entry."""
    page.goto(lab.lab_url())
    lesson = open_panel(page).locator(f'[data-lesson="{LESSON}"]')
    lesson.wait_for(timeout=15_000)
    lesson.focus()


def test_a_lesson_installed_from_the_wheel_opens_from_the_panel(wheel_lab: Lab, page: Any) -> None:
    _focus_lesson(page, wheel_lab)
    page.keyboard.press("Enter")
    page.locator(f'.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("{LESSON}.ipynb")').wait_for(timeout=30_000)
    page.locator(".jp-NotebookPanel:visible .jp-MarkdownOutput").first.wait_for(timeout=30_000)
    assert (wheel_lab.root / "wif-lessons" / f"{LESSON}.ipynb").is_file()


def test_a_lesson_that_cannot_be_copied_says_why_and_what_to_do(wheel_lab: Lab, page: Any) -> None:
    (wheel_lab.root / "wif-lessons").write_text("a file where the lessons folder would go")
    _focus_lesson(page, wheel_lab)
    page.keyboard.press(" ")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=15_000)
    text = dialog.inner_text()
    assert "Cannot open the lesson" in text
    assert f"cannot copy the lesson {LESSON}.ipynb" in text and "Next step:" in text
