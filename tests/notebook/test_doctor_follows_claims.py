"""`wif doctor` right after a failing `wif claims` diagnoses that token; the doctor never prints a
placeholder for a principal the server did not log."""

from __future__ import annotations

import stat

import pytest

from wif_notebook import connect, tokens
from wif_notebook.cli import main
from wif_notebook.doctor import diagnose
from wif_notebook.state import StateDir


def test_wif_doctor_after_a_failing_wif_claims_diagnoses_that_token(
    fresh_kit: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    state = ["--state-dir", str(fresh_kit.path)]
    token = tokens.mint("billing-api", fault="wrong-audience", state=fresh_kit).token
    assert main(["claims", token, *state]) == 1
    capsys.readouterr()
    kept = fresh_kit.shown_token_file
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    assert main(["doctor", *state]) == 1
    out = capsys.readouterr().out
    assert "this is the token `wif claims` refused last (eyJhbGciOi…[redacted])" in out
    assert "FAILED [audience]" in out and "nothing failed" not in out
    assert token not in out

    # A token `wif claims` accepts replaces nothing: it clears the kept one.
    assert main(["claims", tokens.mint("billing-api", state=fresh_kit).token, *state]) == 0
    assert not kept.exists()
    assert main(["doctor", *state]) == 0
    assert "nothing failed" in capsys.readouterr().out


def test_a_refused_login_is_reported_without_a_placeholder_principal(kit: StateDir) -> None:
    with pytest.raises(tokens.TokenError):
        connect.connect(state=kit, callback=True, fault="expired")
    result = diagnose(state=kit, last_failure=connect.last_failure())
    logged = next(c for c in result.checks if c.name == "mongod log")
    assert (
        logged.detail
        == "authentication failed before the server read a principal from the token (it names none)"
    )
    assert "for ?" not in str(result)
