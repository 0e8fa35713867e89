"""The kit's test mongod: a MongoDB wire-protocol server that accepts MONGODB-OIDC as Enterprise does.

``TestServer`` (in ``core``) runs it in-process; ``python -m wif_notebook.server --state-dir D
--config mongod.conf`` runs it as the ``mongod`` service.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TestServer"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing wif_notebook.server.registry does not load the whole server.
    if name == "TestServer":
        from .core import TestServer

        return TestServer
    raise AttributeError(name)
