"""Projected token files (Kubernetes, AKS, EKS, OIDC_TOKEN_FILE) and `wif env`."""

from __future__ import annotations

import os
import stat
import time

import jwt
import pytest

from wif_notebook.cli import main
from wif_notebook.idp.issuers import AZURE_TOKEN_EXCHANGE_AUDIENCE, EKS_AUDIENCE
from wif_notebook.idp.tokenfiles import token_file_path

from .conftest import Idp


@pytest.mark.parametrize(
    ("kind", "issuer_id", "audience"),
    [
        ("serviceaccount", "k8s", None),
        ("aks", "k8s", AZURE_TOKEN_EXCHANGE_AUDIENCE),
        ("eks", "k8s", EKS_AUDIENCE),
        ("oidc", "kit", None),
    ],
)
def test_token_file_holds_a_valid_token_without_trailing_newline(
    idp: Idp, kind: str, issuer_id: str, audience: str | None
) -> None:
    path = token_file_path(idp.state, kind)
    raw = path.read_bytes()
    assert not raw.endswith(b"\n"), "pymongo's ENVIRONMENT:k8s does not strip the file"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    folder = path.parent
    while folder != idp.state.path:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        folder = folder.parent
    claims = idp.verify(raw.decode(), issuer_id, audience=audience or idp.audience(issuer_id))
    assert claims["exp"] > time.time()


def test_token_files_are_replaced_periodically(idp: Idp) -> None:
    path = token_file_path(idp.state, "aks")
    before = path.read_text()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and path.read_text() == before:
        time.sleep(0.1)
    after = path.read_text()
    assert after != before
    assert (
        jwt.decode(after, options={"verify_signature": False})["jti"]
        != jwt.decode(before, options={"verify_signature": False})["jti"]
    )


def test_wif_env_prints_exports_and_writes_the_env_file(idp: Idp, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--state-dir", str(idp.state.path)]) == 0
    out = capsys.readouterr().out
    assert f"export AZURE_FEDERATED_TOKEN_FILE={token_file_path(idp.state, 'aks')}" in out
    assert f"export OIDC_TOKEN_FILE={token_file_path(idp.state, 'oidc')}" in out
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in out, "pymongo would prefer AWS over Azure if both were set"
    assert f"export AZURE_CLIENT_ID={idp.catalog_entry('orders-identity')['client_id']}" in out
    assert idp.state.env_file.read_text() == out
    assert stat.S_IMODE(os.stat(idp.state.env_file).st_mode) == 0o600


def test_wif_env_for_eks_exports_the_web_identity_file(idp: Idp, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--platform", "eks", "--state-dir", str(idp.state.path)]) == 0
    out = capsys.readouterr().out
    assert f"export AWS_WEB_IDENTITY_TOKEN_FILE={token_file_path(idp.state, 'eks')}" in out
    assert "AWS_ROLE_ARN=" in out
    assert "AZURE_FEDERATED_TOKEN_FILE" not in out
