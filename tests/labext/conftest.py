"""Fixtures for the labextension's Python side: lesson notebooks and a jupyter-server with the
wif_notebook server extension (pytest-jupyter's jp_serverapp / jp_fetch).

pytest-jupyter's fixtures and its async-test hooks are imported here rather than declared in
``pytest_plugins`` (which only the root conftest may do), so they apply to this folder only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_core import utils as jupyter_core_utils
from pytest_jupyter.jupyter_server import *  # noqa: F403

from wif_notebook import stack
from wif_notebook.state import StateDir

# What the status payload says of both services before anything started (or after a stop).
BOTH_DOWN = {"idp": {"running": False}, "mongod": {"running": False}}
# Its entry for lesson 01 written under lessons/ with one of its two exercises passed.
LESSON_01_HALF_DONE = {
    "id": "01-what-is-wif",
    "title": "What is WIF?",
    "path": "lessons/01-what-is-wif.ipynb",
    "done": 1,
    "total": 2,
}


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
    for number, cell in enumerate(cells):
        cell["id"] = f"cell-{number}"  # nbformat 4.5 requires one per cell
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells}))
    return path


@pytest.fixture(name="jp_asyncio_loop", autouse=True)
def own_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop per test for the server and the test body, closed afterwards.

    pytest-jupyter's own fixture takes (and closes) whatever loop is current. When the browser
    tests ran first in the same session, that is Playwright's: its sync API marks its loop as
    running in this thread until the session ends. So set that one aside while a server test runs,
    and point jupyter_core's per-context loop (what pytest-jupyter runs async tests on) at ours.
    """
    outer = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    token = jupyter_core_utils._loop.set(loop)
    try:
        yield loop
    finally:
        loop.close()
        jupyter_core_utils._loop.reset(token)
        asyncio.set_event_loop(None)
        asyncio._set_running_loop(outer)


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
