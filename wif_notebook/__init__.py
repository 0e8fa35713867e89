"""wif-notebook: learn and try MongoDB Workload Identity Federation (MONGODB-OIDC) offline.

The public Python API is re-exported here; the IPython extension is loaded with
``%load_ext wif_notebook``.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, ServiceError, StateError, TokenError, WifError
from .state import StateDir

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ServiceError",
    "StateDir",
    "StateError",
    "TokenError",
    "WifError",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext wif_notebook``: register the magics (nothing heavy is imported here)."""
    from .magics import WifMagics

    ipython.register_magics(WifMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext wif_notebook``: close clients, stop simulating cloud hosts, drop the magics."""
    import sys

    if "wif_notebook.connect" in sys.modules:
        sys.modules["wif_notebook.connect"].close_all()
    if "wif_notebook.cloudsim" in sys.modules:
        sys.modules["wif_notebook.cloudsim"].disable()
    if "wif_notebook.clouds" in sys.modules:
        sys.modules["wif_notebook.clouds"].forget_kit_trust()
    manager = ipython.magics_manager
    instance = manager.registry.pop("WifMagics", None)
    for name in [n for n in manager.magics["line"] if n.startswith("wif_")]:
        del manager.magics["line"][name]
    if instance is not None and instance in ipython.configurables:
        ipython.configurables.remove(instance)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt extension (built into wif_notebook/labextension)."""
    return [{"src": "labextension", "dest": "wif-notebook"}]
