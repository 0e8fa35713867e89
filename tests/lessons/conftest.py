"""Run the lessons as a learner would: a real IPython kernel (this venv's python), real services.

One state directory per test session (``WIF_STATE_DIR``), services on free ports (an IPython
profile sets ``WifMagics.idp_port``/``mongod_port`` to 0, so the lessons' plain ``%wif_up`` does
not collide with anything on the machine), and a kernel spec that names ``sys.executable``
explicitly: the venv's own ``python3`` spec says just ``python``, which resolves through PATH.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL_NAME = "wif-lessons-test"
CELL_TIMEOUT = 60


def lesson_paths() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.startswith((".", "_")))


@dataclass
class KernelEnv:
    """Where the test kernel finds its spec, its IPython profile and its state directory."""

    jupyter_path: Path
    ipython_dir: Path
    state_dir: Path


def make_kernel_env(root: Path) -> KernelEnv:
    state_dir = root / "state"
    ipython_dir = root / "ipython"
    profile = ipython_dir / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.WifMagics.idp_port = 0\nc.WifMagics.mongod_port = 0\n"
    )
    spec_dir = root / "jupyter" / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "wif lessons (test)",
        "language": "python",
        "env": {"WIF_STATE_DIR": str(state_dir), "IPYTHONDIR": str(ipython_dir), "MPLBACKEND": "inline"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return KernelEnv(root / "jupyter", ipython_dir, state_dir)


@dataclass
class Executed:
    path: Path
    notebook: nbformat.NotebookNode
    seconds: float


def execute(path: Path, env: KernelEnv, *, runs: int = 1, each_cell: int = 1) -> list[Executed]:
    """Execute the notebook top to bottom ``runs`` times in one kernel (allow_errors False);
    ``each_cell`` > 1 runs every cell that many times in a row, as a learner re-running a cell."""
    results = []
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    with client.setup_kernel():
        for _ in range(runs):
            copy = nbformat.from_dict(json.loads(json.dumps(nb)))
            client.nb = copy
            started = time.perf_counter()
            for index, cell in enumerate(copy.cells):
                for _ in range(each_cell):
                    client.execute_cell(cell, index)
            results.append(Executed(path, copy, time.perf_counter() - started))
    return results


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelEnv]:
    env = make_kernel_env(tmp_path_factory.mktemp("lessons"))
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(env.jupyter_path) + (os.pathsep + saved if saved else "")
    try:
        yield env
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
        from wif_notebook import stack
        from wif_notebook.state import StateDir

        stack.down(StateDir(env.state_dir))


@pytest.fixture(scope="session")
def course(kernel_env: KernelEnv) -> dict[str, Executed]:
    """Every lesson executed once, in course order, against one state directory."""
    return {p.stem: execute(p, kernel_env)[0] for p in lesson_paths()}
