"""The kit's real services (IdP and test mongod, or the IdP alone; free ports) for a fixture's lifetime."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from wif_notebook import connect, stack
from wif_notebook.idp.service import start_idp, stop_idp
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


@contextmanager
def running_idp(path: Path) -> Iterator[tuple[StateDir, dict[str, Any]]]:
    """The kit's IdP alone, in the state directory ``path``: its state and the kit issuer's record
    (``issuer``, ``http_issuer``, ``audience``); stopped on exit."""
    state = StateDir(path)
    record = start_idp(state)
    try:
        yield state, record.extra["issuers"]["kit"]
    finally:
        stop_idp(state)
