"""Fixtures shared by every test: an isolated state directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wif_notebook.state import StateDir


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateDir]:
    """A fresh state directory, also exported as WIF_STATE_DIR for child processes."""
    path = tmp_path / "state"
    monkeypatch.setenv("WIF_STATE_DIR", str(path))
    yield StateDir(path)
