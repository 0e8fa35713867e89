"""The kit's real services for the vendor-SDK tests, and a workload runner.

A workload runs in its own Python process with exactly the environment ``wif env --principal NAME``
gives it (SDKs such as google-auth read their variables at import time), with no proxy, no cloud
variables of the test machine and a HOME of its own (no gcloud/azure CLI credentials leak in).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from _support.kit import running_kit

from wif_notebook import clouds, stack, tls
from wif_notebook.state import StateDir

ROOT = Path(__file__).resolve().parents[2]

# Variables of the test machine a workload must not inherit: the SDKs' own and proxies.
_FOREIGN = ("GCE_", "GOOGLE_", "AZURE_", "AWS_", "ACTIONS_", "MSI_", "IDENTITY_", "OIDC_", "NO_GCE")
_PROXIES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    """Running IdP and test mongod in a temporary state directory."""
    with running_kit(tmp_path_factory.mktemp("clouds") / "state") as state:
        yield state


def workload_env(state: StateDir, principal: str) -> dict[str, str]:
    """The exports of ``wif env --principal`` for ``principal``."""
    return clouds.workload_exports(state, principal)


def get_json(state: StateDir, url: str) -> Any:
    """A GET as a client that trusts the kit CA (the issuers are https)."""
    with urllib.request.urlopen(url, timeout=5, context=tls.client_context(state)) as reply:
        return json.load(reply)


def jwks_client(state: StateDir, uri: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(uri, ssl_context=tls.client_context(state))


def run_workload(
    state: StateDir, principal: str, script: str, *args: str, home: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (Python source) as a workload of ``principal``; argv[1] is the mongodb URI."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_FOREIGN) and k.lower() not in _PROXIES and k != "PYTHONPATH"
    }
    env.update(workload_env(state, principal))
    env.update({"HOME": str(home), "PYTHONPATH": str(ROOT)})
    uri = stack.status(state)["mongodb_uri"]
    return subprocess.run(
        [sys.executable, "-c", script, uri, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_result(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
