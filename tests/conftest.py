"""Fixtures shared by every test: an isolated state directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wif_notebook.state import StateDir


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StateDir]:
    """A fresh state directory, also exported as WIF_STATE_DIR for child processes."""
    path = tmp_path / "state"
    monkeypatch.setenv("WIF_STATE_DIR", str(path))
    yield StateDir(path)


# What the kit sets in the process it runs in (%wif_up trusts the kit CA in the kernel; %wif_connect
# points pymongo's k8s environment at token files): variables that name files in a test's state
# directory, which is gone once the test is. Restored after each test module, so a module's shared
# kernel keeps them while its tests run, and later modules (a pip or requests call) never see them.
_KIT_PROCESS_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "CURL_CA_BUNDLE",
    "OIDC_TOKEN_FILE",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(autouse=True, scope="module")
def _restore_kit_process_variables() -> Iterator[None]:
    import os

    before = {name: os.environ.get(name) for name in _KIT_PROCESS_VARIABLES}
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
