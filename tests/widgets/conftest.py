"""The real kit (mock IdP + test mongod on free ports) once per test module, in its own state directory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import ipywidgets as w
import pytest

from wif_notebook import stack
from wif_notebook.state import StateDir


@dataclass
class Kit:
    state: StateDir
    info: dict[str, Any]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kit]:
    state = StateDir(tmp_path_factory.mktemp("widgets") / "state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WIF_STATE_DIR", str(state.path))
        info = stack.up(state, idp_port=0, port=0)
        try:
            yield Kit(state, info)
        finally:
            stack.down(state)


def shown_text(widget: w.Widget) -> str:
    """Everything a person could read in a widget tree: HTML, labels, field values, descriptions."""
    parts: list[str] = []
    for attr in ("value", "description", "placeholder"):
        value = getattr(widget, attr, None)
        if isinstance(value, str):
            parts.append(value)
    options = getattr(widget, "options", None)
    if isinstance(options, (tuple, list)):
        parts += [str(o) for o in options]
    for child in getattr(widget, "children", ()):
        parts.append(shown_text(child))
    return "\n".join(parts)
