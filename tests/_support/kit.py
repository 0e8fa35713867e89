"""The kit's real services (IdP and test mongod, on free ports) for a fixture's lifetime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wif_notebook import connect, stack
from wif_notebook.state import StateDir


@contextmanager
def running_kit(path: Path) -> Iterator[StateDir]:
    """The kit up in the state directory ``path``; on exit, the clients the notebook layer cached in
    this process are closed (they would log in to a stopped server) and both services stopped."""
    state = StateDir(path)
    stack.up(state, idp_port=0, port=0)
    try:
        yield state
    finally:
        connect.close_all()
        stack.down(state)
