"""One kit (IdP + test mongod) per test module, with the Azure hosting shapes the SDK matrix needs,
and helpers to run a vendor SDK call in a workload's environment and log in with its token."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook import clouds, services, stack
from wif_notebook.clouds import EnvContext
from wif_notebook.idp.keys import b64url
from wif_notebook.idp.principals import Principal, find, render_seed
from wif_notebook.state import StateDir
from wif_notebook.tls import build_certificate

RUNNER = Path(__file__).with_name("sdk_runner.py")
VM_RESOURCE_ID = (
    "/subscriptions/0b4c1f3a-2d5e-4f6a-8b7c-9d0e1f2a3b4c/resourceGroups/wif-kit/providers/"
    "Microsoft.Compute/virtualMachines/reports-vm"
)


def _certificate(folder: Path) -> tuple[str, Path, str]:
    """A self-signed certificate for an app registration: (PEM, key file, x5t#S256)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = build_certificate(key.public_key(), key, "cert-app", lifetime=datetime.timedelta(days=1))
    key_path = folder / "cert-app.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    der = cert.public_bytes(serialization.Encoding.DER)
    return (
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_path,
        b64url(hashlib.sha256(der).digest()),
    )


def _extra_principals(cert_pem: str) -> str:
    """Hosting shapes the seed has not: a VM's system-assigned identity (it would change what the
    IMDS answers by default), an app registration authenticated by a certificate. The seed's
    checkout-webapp is the App Service shape."""
    pem = "".join(f"        {line}\n" for line in cert_pem.strip().splitlines())
    return f"""
  - name: reports-vm-system
    kind: managed-identity
    issuer: azure
    infrastructure: Azure VM (system-assigned identity)
    client_id: 5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f
    subject: 6e7f8091-a2b3-4c4d-9e5f-6a7b8c9d0e1f
    system_assigned: true
    groups: [1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d]
    claims: {{xms_mirid: "{VM_RESOURCE_ID}"}}
  - name: cert-app
    kind: service-principal
    issuer: azure
    infrastructure: any host (Entra app registration with a certificate)
    client_id: 91a2b3c4-d5e6-4f70-8192-9c0d1e2f3a4b
    client_secret: unused-{os.getpid()}
    subject: a2b3c4d5-e6f7-4081-9203-0d1e2f3a4b5c
    groups: [0f5e4d3c-2b1a-4a9f-8e7d-6c5b4a3f2e1d]
    certificates:
      - |
{pem}"""


@dataclass
class AzureKit:
    state: StateDir
    mongodb_uri: str
    ctx: EnvContext
    key_path: Path
    x5t_s256: str

    def principal(self, name: str) -> Principal:
        return find(self.state, name)

    def env_of(self, name: str) -> dict[str, str]:
        """The exports `wif env --principal NAME` prints for this principal."""
        return clouds.workload_exports(self.state, name)

    def common_env(self) -> dict[str, str]:
        """What every workload's environment gets (the CA bundle variables)."""
        return clouds.common_env(self.ctx)

    def run(self, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """Run the SDK call in a clean process with only the workload's environment."""
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        done = subprocess.run(
            [sys.executable, str(RUNNER), json.dumps(spec)],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def login(self, token: str) -> dict[str, Any]:
        """Log in to the test mongod with ``token`` through pymongo's OIDC_CALLBACK."""

        class _Callback(OIDCCallback):
            def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
                return OIDCCallbackResult(access_token=token)

        client: MongoClient[dict[str, Any]] = MongoClient(
            self.mongodb_uri,
            authMechanism="MONGODB-OIDC",
            authMechanismProperties={"OIDC_CALLBACK": _Callback()},
            serverSelectionTimeoutMS=10_000,
        )
        try:
            info: dict[str, Any] = client.admin.command("connectionStatus")["authInfo"]
        finally:
            client.close()
        return info


@pytest.fixture(scope="module")
def azure_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureKit]:
    folder = tmp_path_factory.mktemp("azure")
    state = StateDir(folder / "state")
    state.ensure()
    cert_pem, key_path, x5t = _certificate(folder)
    state.write_private(state.principals_file, render_seed() + _extra_principals(cert_pem))
    stack.up(state, idp_port=0, port=0)
    try:
        record = services.running_record(state, "mongod")
        assert record is not None
        yield AzureKit(state, str(record.extra["mongodb_uri"]), clouds.env_context(state), key_path, x5t)
    finally:
        stack.down(state)
