"""Variables the kit sets in this process's environment, and how they are put back.

The kit changes ``os.environ`` of the process it runs in (a notebook kernel) in four places: the
CA bundle variables ``%wif_up`` sets so vendor SDKs trust the kit (``clouds.trust_kit_in_this_process``),
a principal's host variables (``%wif_env --apply``), the token-file variables pymongo reads for
``%wif_connect --env k8s`` (``connect``), and a check that briefly runs as the capstone's AKS pod
(``checks``). Each keeps an ``EnvChanges``: what every variable it set held before (None: unset),
so undoing it restores exactly that and nothing it did not touch.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping


class EnvChanges:
    """Changes to ``os.environ`` that can be undone: the first value seen is the one restored."""

    def __init__(self) -> None:
        self._before: dict[str, str | None] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        """The variables set since the last ``restore``."""
        with self._lock:
            return list(self._before)

    def set(self, name: str, value: str | None) -> None:
        """Set ``name`` (None: remove it), remembering what it held before the first change."""
        with self._lock:
            self._before.setdefault(name, os.environ.get(name))
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

    def update(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            self.set(name, value)

    def restore(self, names: Iterable[str] | None = None) -> list[str]:
        """Put back what ``names`` (default: every variable changed) held before; returns them."""
        with self._lock:
            chosen = list(self._before) if names is None else [n for n in names if n in self._before]
            before = {name: self._before.pop(name) for name in chosen}
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return chosen


@contextlib.contextmanager
def temporarily(values: Mapping[str, str | None]) -> Iterator[None]:
    """``values`` in ``os.environ`` (None: unset) for the block, then what was there before."""
    changes = EnvChanges()
    changes.update(values)
    try:
        yield
    finally:
        changes.restore()
