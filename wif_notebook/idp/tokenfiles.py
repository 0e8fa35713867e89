"""Projected token files, as Kubernetes, AKS workload identity and EKS (IRSA) mount them.

The IdP process writes them under ``tokens/`` in the state directory at start and again every
``refresh`` seconds (the kubelet likewise replaces projected tokens before they expire). Each file
is replaced atomically (temp file + rename, 0600) and has **no trailing newline**: pymongo's
``ENVIRONMENT:k8s`` sends the file contents as they are (identity-provider reference §2.7).

=================  ===============================================  ===========================
kind               path under tokens/ (mirrors the pod path)        audience
=================  ===============================================  ===========================
``serviceaccount``  kubernetes.io/serviceaccount/token              the principal's audience
``aks``            azure/tokens/azure-identity-token                ``api://AzureADTokenExchange``
``eks``            eks.amazonaws.com/serviceaccount/token           ``sts.amazonaws.com``
``oidc``           oidc/token                                       the principal's audience
=================  ===============================================  ===========================

Each platform declares its files (``clouds/``, ``Cloud.token_files``: the kit ``oidc``, Kubernetes
the others) and what ``wif env`` exports for each; this module writes them and reads the table.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from .. import clouds
from ..clouds import RegistryView, TokenFile
from ..state import StateDir
from .minting import Minter
from .principals import Principal

TOKEN_FILE_LIFETIME = 3600
DEFAULT_REFRESH_SECONDS = 600.0

# kind → its file and audience, as the platforms declare them (``clouds/``, ``Cloud.token_files``).
TOKEN_FILES: Mapping[str, TokenFile] = RegistryView(clouds.token_files)


def token_file_path(state: StateDir, kind: str) -> Path:
    return state.tokens_dir / TOKEN_FILES[kind].path


def _private_dirs(state: StateDir, folder: Path) -> None:
    """Create ``folder`` and each missing parent inside the state directory with mode 0700
    (``mkdir(parents=True)`` would give the parents the default mode)."""
    relative = folder.relative_to(state.path)
    for depth in range(1, len(relative.parts) + 1):
        state.subdir(Path(*relative.parts[:depth]))


def write_token_files(state: StateDir, minter: Minter, principals: list[Principal]) -> dict[str, Path]:
    """Mint and atomically replace every token file the catalog asks for; kind → path."""
    written: dict[str, Path] = {}
    for principal in principals:
        for kind in principal.token_files:
            minted = minter.mint(principal, audience=TOKEN_FILES[kind].audience, lifetime=TOKEN_FILE_LIFETIME)
            path = token_file_path(state, kind)
            _private_dirs(state, path.parent)
            state.write_private(path, minted.token)  # no trailing newline, on purpose
            written[kind] = path
    return written


def env_exports(
    state: StateDir, principals: list[Principal], base_url: str, *, platform: str = "aks"
) -> dict[str, str]:
    """The environment a workload would see: the variables of each token file that exists (what its
    platform declares, ``TokenFile.exports``), of the platform-selected ones only ``platform``'s.

    pymongo lets AWS_WEB_IDENTITY_TOKEN_FILE win when both it and AZURE_FEDERATED_TOKEN_FILE are
    set (the spec says Azure first), so exactly one platform's variable is exported."""
    env: dict[str, str] = {"WIF_STATE_DIR": str(state.path), "WIF_IDP_URL": base_url}
    owners = {kind: p for p in principals for kind in p.token_files}
    for kind, file in TOKEN_FILES.items():
        path = token_file_path(state, kind)
        if file.exports is None or kind not in owners or (file.platform and kind != platform):
            continue
        if path.exists():
            env.update(file.exports(path, owners[kind], principals, base_url))
    return env


def platforms() -> list[str]:
    """The token files ``wif env --platform`` chooses between (aks, eks)."""
    return [kind for kind, file in TOKEN_FILES.items() if file.platform]


def render_exports(env: dict[str, str]) -> str:
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
