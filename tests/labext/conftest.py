"""Fixtures for the labextension's Python side: lesson notebooks and a jupyter-server with the
wif_notebook server extension (pytest-jupyter's jp_serverapp / jp_fetch).

pytest-jupyter's fixtures and its async-test hooks are imported here rather than declared in
``pytest_plugins`` (which only the root conftest may do), so they apply to this folder only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403

from wif_notebook import stack
from wif_notebook.state import StateDir


def write_lesson(
    folder: Path,
    name: str,
    *,
    heading: str | None = None,
    lesson: dict[str, Any] | None = None,
    cell_exercises: list[str] | None = None,
) -> Path:
    """A small lesson notebook (nbformat 4) in ``folder``."""
    cells: list[dict[str, Any]] = []
    if heading is not None:
        cells.append({"cell_type": "markdown", "metadata": {}, "source": [f"# {heading}\n", "\n", "Text."]})
    for ex in cell_exercises or []:
        cells.append(
            {
                "cell_type": "code",
                "metadata": {"wif": {"exercise": ex}},
                "source": f"# check {ex}",
                "outputs": [],
                "execution_count": None,
            }
        )
    meta: dict[str, Any] = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    }
    if lesson is not None:
        meta["wif"] = {"lesson": lesson}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells}))
    return path


@pytest.fixture
def lessons_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty lessons folder, exported as WIF_LESSONS_DIR."""
    folder = tmp_path / "root" / "lessons"
    folder.mkdir(parents=True)
    monkeypatch.setenv("WIF_LESSONS_DIR", str(folder))
    return folder


@pytest.fixture(name="jp_root_dir")
def root_with_lessons(tmp_path: Path) -> Path:
    # The Jupyter root holds the lessons folder, so lesson paths come out as "lessons/<name>".
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(name="jp_server_config")
def server_config_with_wif() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"wif_notebook.jupyter_server_ext": True}}}


@pytest.fixture
def stopped_after(state: StateDir) -> Iterator[StateDir]:
    """The test's state directory; whatever the test started is stopped afterwards."""
    try:
        yield state
    finally:
        stack.down(state)
