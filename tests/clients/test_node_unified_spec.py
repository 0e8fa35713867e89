"""The drivers' unified OIDC spec file ``auth/unified/mongodb-oidc-no-retry``, unmodified, run by the
official Node.js driver (``unified_runner.mjs``) against the test mongod process.

The deployment is what the drivers' OIDC test environments give a runner: authorization on,
``enableTestCommands``, MONGODB-OIDC with ``ENVIRONMENT:test`` reading ``OIDC_TOKEN_FILE`` (the
spec file's ``$$placeholder``), client entities built from a connection string without credentials,
and an internal client logged in as the administrator for ``initialData``.
"""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import quote_plus

import pytest
from data.conftest import Idp, MongodProcess

from .conftest import CLIENTS

SPEC = CLIENTS / "spec" / "auth" / "unified" / "mongodb-oidc-no-retry.json"
TESTS = [t["description"] for t in json.loads(SPEC.read_text())["tests"]]


@pytest.fixture(scope="module")
def spec_results(
    node: str, server: MongodProcess, idp: Idp, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, str]]:
    token_file = tmp_path_factory.mktemp("unified-token") / "oidc-token"
    token_file.write_text(idp.token("lesson-app"))
    user, password = server.admin_credentials()
    base = f"127.0.0.1:{server.port}/?directConnection=true"
    result = subprocess.run(
        [node, str(CLIENTS / "unified_runner.mjs"), str(SPEC)],
        cwd=CLIENTS,
        env={
            **os.environ,
            "OIDC_TOKEN_FILE": str(token_file),
            "MONGODB_URI": f"mongodb://{base}",
            "MONGODB_INTERNAL_URI": (
                f"mongodb://{quote_plus(user)}:{quote_plus(password)}@{base}"
                "&authSource=admin&authMechanism=SCRAM-SHA-256"
            ),
            "UNIFIED_PLACEHOLDERS": json.dumps({"authMechanismProperties": "ENVIRONMENT:test"}),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the runner printed no results (exit {result.returncode}): {result.stderr[-2000:]}"
    return {line["description"]: line for line in lines}


@pytest.mark.parametrize("description", TESTS)
def test_node_driver_passes_the_unified_oidc_spec_test(
    spec_results: dict[str, dict[str, str]], description: str
) -> None:
    outcome = spec_results.get(description)
    assert outcome is not None, f"the runner did not report {description!r}"
    assert outcome["result"] == "passed", outcome.get("reason")
