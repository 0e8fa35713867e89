"""wif-notebook: learn and try MongoDB Workload Identity Federation (MONGODB-OIDC) offline.

The public Python API is re-exported here; the IPython extension is loaded with
``%load_ext wif_notebook``.
"""

from __future__ import annotations

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
]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt extension (built into wif_notebook/labextension)."""
    return [{"src": "labextension", "dest": "wif-notebook"}]
