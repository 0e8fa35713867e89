"""`wif idp ...` on the command line."""

from __future__ import annotations

import json

import pytest

from wif_notebook.cli import main
from wif_notebook.idp.service import idp_record, stop_idp
from wif_notebook.state import StateDir


def test_start_status_principals_stop(state: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    sd = ["--state-dir", str(state.path)]
    try:
        assert main(["idp", "start", "--port", "0", "--json", *sd]) == 0
        started = json.loads(capsys.readouterr().out)
        assert started["issuers"]["kit"]["issuer"] == f"https://localhost:{started['port']}/kit"
        assert main(["idp", "start", "--port", "0", "--json", *sd]) == 0, "start is idempotent"
        assert json.loads(capsys.readouterr().out)["pid"] == started["pid"]

        assert main(["idp", "status", *sd]) == 0
        assert f"https://localhost:{started['port']}/kit" in capsys.readouterr().out

        assert main(["idp", "principals", *sd]) == 0
        table = capsys.readouterr().out
        assert table.splitlines()[0].split() == [
            "NAME",
            "KIND",
            "ISSUER",
            "INFRASTRUCTURE",
            "SUBJECT",
            "GROUPS",
        ]
        assert "billing-api" in table and "Cloud Run" in table

        assert main(["idp", "principals", "--json", *sd]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert all("client_secret" not in p for p in listed)

        assert main(["idp", "rotate-keys", "--issuer", "gcp", *sd]) == 0
        out = capsys.readouterr().out
        assert "gcp: now signing with" in out
        assert "token files signed again with the current keys: oidc, serviceaccount, aks, eks" in out
        assert main(["idp", "retire-key", "--issuer", "gcp", *sd]) == 0
        out = capsys.readouterr().out
        assert "gcp: retired" in out and "token files signed again" in out
    finally:
        assert main(["idp", "stop", *sd]) == 0
    assert idp_record(state) is None
    assert main(["idp", "status", *sd]) == 3
    assert "not running" in capsys.readouterr().out


def test_env_without_a_running_idp_says_how_to_start_it(
    state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    stop_idp(state)
    assert main(["env", "--state-dir", str(state.path)]) == 1
    assert "wif idp start" in capsys.readouterr().err


def test_retire_with_only_the_signing_key_explains(
    state: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["idp", "retire-key", "--issuer", "kit", "--state-dir", str(state.path)]) == 1
    assert "rotate-keys" in capsys.readouterr().err


def test_faults_are_listed_with_their_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["idp", "faults", "--json"]) == 0
    faults = {f["name"]: f["rule"] for f in json.loads(capsys.readouterr().out)}
    assert faults["typ-at+jwt"] == "header.typ"
