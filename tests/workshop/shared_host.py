"""A classroom run as on a shared host: the kit's default ports are already taken.

Shared by the workshop test and ``benchmarks/classroom.py``: the learners' kits take the "default is
taken" path, and the real defaults (a developer's own kit on this machine) are never touched.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from wif_notebook import ports

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def defaults_taken() -> Iterator[dict[str, str]]:
    """An environment for ``wif classroom`` whose default ports this process holds while it lasts;
    the kit comes from this checkout, and the caller's own state directory does not leak in."""
    with ExitStack() as held:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        for variable in ports.DEFAULT_ENV.values():
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            env[variable] = str(sock.getsockname()[1])
        env.pop("WIF_STATE_DIR", None)
        yield env
