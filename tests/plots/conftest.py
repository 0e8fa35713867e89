"""Fixtures for the pictures: one matplotlib style for every image, and the real kit for flow tests."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

from wif_notebook import stack  # noqa: E402
from wif_notebook.state import StateDir  # noqa: E402

BASELINE = Path(__file__).parent / "baseline"
# Regenerate the committed baselines (after an intended change to a picture) with WIF_UPDATE_BASELINES=1.
UPDATE = os.environ.get("WIF_UPDATE_BASELINES") == "1"


@pytest.fixture
def mpl_style() -> Iterator[None]:
    """The same rcParams for every image: matplotlib's defaults, DejaVu Sans (shipped with matplotlib)."""
    import matplotlib.style

    with (
        matplotlib.style.context("default"),
        matplotlib.rc_context(
            {
                "font.family": "DejaVu Sans",
                "figure.dpi": 100,
                "savefig.dpi": 100,
                "text.hinting": "auto",
                "text.antialiased": True,
                "svg.hashsalt": "wif",
            }
        ),
    ):
        yield


def check_image(fig: Figure, name: str, tmp_path: Path, *, tol: float = 1.0) -> None:
    """Compare ``fig`` with ``baseline/<name>.png``; fail with the RMS difference when it changed."""
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, dpi=100)
    expected = BASELINE / f"{name}.png"
    if UPDATE:
        BASELINE.mkdir(exist_ok=True)
        expected.write_bytes(actual.read_bytes())
        return
    if not expected.exists():
        pytest.fail(f"no baseline {expected}: run with WIF_UPDATE_BASELINES=1 once and commit it")
    diff = compare_images(str(expected), str(actual), tol=tol)
    if diff is not None:
        pytest.fail(f"the picture {name} changed: {diff}")


@dataclass
class Kit:
    state: StateDir
    info: dict[str, Any]
    started: float


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    state = StateDir(tmp_path_factory.mktemp("plots") / "state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WIF_STATE_DIR", str(state.path))
        started = time.time()
        info = stack.up(state, idp_port=0, port=0)
        try:
            yield Kit(state, info, started)
        finally:
            stack.down(state)
