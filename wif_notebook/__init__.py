"""wif-notebook: learn and try MongoDB Workload Identity Federation (MONGODB-OIDC) offline.

The supported Python API is what ``__all__`` lists, loaded on first use so ``import wif_notebook``
(and ``%load_ext wif_notebook``) stays light; everything else is the kit's own wiring and may
change. The IPython extension is loaded with ``%load_ext wif_notebook``.

- services: ``up``, ``down``, ``reset`` (``StateDir`` says where they keep their state);
- tokens: ``obtain`` (the ways a workload gets one), ``decode``, ``verify``, ``IssuedToken``;
- logging in and authorizing: ``authorize``, ``admin_client``, ``close_all``, ``Connection``;
  the login itself is ``wif_notebook.connect.connect`` (the name ``connect`` here is its module);
- why a login fails: ``diagnose`` → ``Diagnosis``;
- errors: ``WifError`` and its children.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError, ServiceError, StateError, TokenError, WifError
from .state import StateDir

__version__ = "0.1.0"

# Public name -> (module, attribute), imported when first used.
_LAZY: dict[str, tuple[str, str]] = {
    "up": ("stack", "up"),
    "down": ("stack", "down"),
    "reset": ("stack", "reset"),
    "obtain": ("tokens", "obtain"),
    "decode": ("tokens", "decode"),
    "verify": ("tokens", "verify"),
    "IssuedToken": ("tokens", "IssuedToken"),
    "authorize": ("authorization", "authorize"),
    "admin_client": ("authorization", "admin_client"),
    "close_all": ("connect", "close_all"),
    "Connection": ("connect", "Connection"),
    "diagnose": ("doctor", "diagnose"),
    "Diagnosis": ("doctor", "Diagnosis"),
}

__all__ = [
    "ConfigError",
    "Connection",
    "Diagnosis",
    "IssuedToken",
    "ServiceError",
    "StateDir",
    "StateError",
    "TokenError",
    "WifError",
    "__version__",
    "admin_client",
    "authorize",
    "close_all",
    "decode",
    "diagnose",
    "down",
    "load_ipython_extension",
    "obtain",
    "reset",
    "unload_ipython_extension",
    "up",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
