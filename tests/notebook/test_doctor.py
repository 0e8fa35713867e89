"""%wif_doctor's diagnosis: the failing rule in plain words and the fix, for every way a login fails."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure

from wif_notebook import authorization, connect, providers, tokens
from wif_notebook.cli import main
from wif_notebook.doctor import NextSteps, diagnose, rule_for_reason
from wif_notebook.idp.faults import FAULTS
from wif_notebook.idp.service import stop_idp
from wif_notebook.mongod import stop_mongod
from wif_notebook.state import StateDir


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_doctor_names_the_rule_each_fault_preset_breaks(kit: StateDir, fault: str) -> None:
    token = tokens.mint("lesson-app", fault=fault, state=kit)
    from_token = diagnose(token, state=kit)
    assert not from_token.ok and from_token.rule == FAULTS[fault].rule
    assert from_token.fixes and from_token.rule in str(from_token)

    # The same token through a real login: the doctor reads the server's log for this connection.
    with pytest.raises(tokens.TokenError):
        connect.connect(state=kit, callback=True, fault=fault)
    failure = connect.last_failure()
    from_login = diagnose(state=kit, last_failure=failure)
    assert from_login.rule == FAULTS[fault].rule
    [(where, logged)] = from_login.evidence
    assert "(id 20249)" in where and rule_for_reason(logged) == FAULTS[fault].rule


def test_wrong_audience_offers_both_ways_to_reconcile(kit: StateDir) -> None:
    token = tokens.mint("billing-api", fault="wrong-audience", state=kit)
    result = diagnose(token, state=kit)
    assert result.rule == "audience"
    assert "aud = 'api://some-other-service'" in result.explanation
    assert "expects audience 'api://mongodb-kit'" in result.explanation
    ask_idp, change_server = result.fixes
    assert "%wif_token billing-api --audience api://mongodb-kit" in ask_idp
    assert "%wif_mongod set kit audience=api://some-other-service" in change_server


def test_a_good_token_with_its_roles_in_place_is_ok_and_lists_what_was_checked(kit: StateDir) -> None:
    authorization.authorize(kit, group="reports-readers", roles=["read@test"])
    authorization.authorize(kit, group="billing-writers", roles=["readWrite@test"])
    result = diagnose(tokens.mint("billing-api", state=kit), state=kit)
    assert result.ok and result.rule is None and result.title == "nothing failed"
    checked = {c.name for c in result.checks}
    assert {"identity provider", "mongod", "oidcIdentityProviders", "token rules"} <= checked
    assert "role kit/billing-writers@admin" in checked
    assert all(r.passed for r in result.rules)


def test_with_no_failure_the_doctor_says_so(fresh_kit: StateDir) -> None:
    result = diagnose(state=fresh_kit)
    assert result.ok
    assert "no failed MONGODB-OIDC authentication" in str(result)


def test_idp_down(fresh_kit: StateDir) -> None:
    stop_idp(fresh_kit)
    with pytest.raises(Exception):  # noqa: B017  (pymongo wraps what the callback raised)
        connect.connect(state=fresh_kit, callback=True, timeout_ms=3000)
    result = diagnose(state=fresh_kit, last_failure=connect.last_failure())
    assert result.rule == "idp-down"
    assert "%wif_up" in result.fixes[0]


def test_mongod_down(fresh_kit: StateDir) -> None:
    stop_mongod(fresh_kit)
    with pytest.raises(connect.ServiceError) as info:
        connect.connect(state=fresh_kit)
    assert info.value.hint == "start it with %wif_up"
    result = diagnose(state=fresh_kit, last_failure=connect.last_failure())
    assert result.rule == "mongod-down" and "%wif_up" in result.fixes[0]
    assert diagnose(state=fresh_kit).rule == "mongod-down"


def test_missing_external_user_when_use_authorization_claim_is_false(kit: StateDir) -> None:
    with pytest.raises(tokens.TokenError):
        connect.connect(state=kit, env="gcp", principal="fn-thumbnailer")
    result = diagnose(state=kit, last_failure=connect.last_failure())
    assert result.rule == "external-user"
    assert "useAuthorizationClaim: false" in result.explanation
    assert "%wif_authorize --user gcp/" in result.fixes[0]


def test_the_terminal_authorize_step_runs_as_printed_and_says_what_it_created(
    fresh_kit: StateDir, tmp_path: Path
) -> None:
    # A state path with a quote and a dollar sign, and a PATH whose `python` (if any) is not wif's.
    odd = tmp_path / 'the "$HOME" kit'
    odd.symlink_to(fresh_kit.path)
    step = NextSteps(StateDir(odd), terminal=True).authorize(user="gcp/someone", roles=["read@test"])
    assert step.startswith("`") and step.endswith("`")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["bash", "-c", step[1:-1]], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Authorized gcp/someone" in done.stdout
    assert "gcp/someone@$external (created)" in done.stdout


def test_an_issuer_a_trailing_slash_apart_is_fixed_by_editing_that_entry(kit: StateDir) -> None:
    token = tokens.mint("lesson-app", state=kit)
    iss = token.claims["iss"]
    providers.set_provider(kit, "kit", {"issuer": iss + "/"})
    try:
        result = diagnose(token, state=kit)
    finally:
        providers.restore_default_config(kit)
    assert result.title == "No identity provider is configured for the token's issuer"
    assert f"set issuer to {iss!r}" in result.explanation
    edit = f"%wif_mongod set kit issuer={iss}"
    assert result.fixes[0] == f"Set the 'kit' entry's issuer to the token's: {edit}."
    assert not any("add an entry" in fix for fix in result.fixes)


def test_role_not_created_explains_the_13(kit: StateDir) -> None:
    # reports-sp's Entra group maps to role azure/<group id>, which no test creates.
    conn = connect.connect(state=kit, callback=True, principal="reports-sp")
    assert conn.roles and conn.roles[0]["role"].startswith("azure/")
    with pytest.raises(OperationFailure) as info:
        conn.client.wifnb_doctor.orders.insert_one({"_id": 1})
    assert info.value.code == 13
    result = diagnose(state=kit, last_failure=info.value)
    assert result.rule == "role-missing"
    assert result.title == "The token's role was never created"
    assert "13" in result.explanation
    assert result.fixes == [
        f"Create it: %wif_authorize --group {conn.roles[0]['role'].split('/', 1)[1]} --prefix azure "
        "--role readWrite@wifnb_doctor."
    ]


def test_a_role_without_the_privilege_explains_the_13(kit: StateDir) -> None:
    authorization.authorize(kit, group="lesson-readers", privileges=["wifnb_other.things:find"])
    conn = connect.connect(state=kit, env="test")
    with pytest.raises(OperationFailure) as info:
        conn.client.wifnb_doctor.things.insert_one({"_id": 1})
    result = diagnose(state=kit, last_failure=info.value)
    assert result.rule == "role-missing"
    assert "none of its roles grants insert on wifnb_doctor (13)" in result.explanation


def test_expired_session_391_whose_reauthentication_fails(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="test", principal="lesson-app", lifetime=2)
    time.sleep(2.5)
    with pytest.raises(OperationFailure) as info:
        conn.client.test.things.find_one()  # 391 → pymongo rereads the (still expired) token file → 18
    assert info.value.code == 18
    result = diagnose(state=kit, last_failure=info.value)
    assert result.rule == "time.exp"
    assert result.title == "The session expired (391) and reauthentication failed"
    assert "391" in result.explanation


def test_wif_doctor_command_prints_the_diagnosis_and_exits_1(
    kit: StateDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tokens.mint("lesson-app", fault="expired", state=kit).token
    monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
    assert main(["doctor", "--state-dir", str(kit.path), "-"]) == 1
    out = capsys.readouterr().out
    assert "FAILED [time.exp]" in out and token not in out


def test_wif_doctor_in_a_terminal_names_wif_commands_and_the_notebook_names_magics(
    kit: StateDir, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tokens.mint("billing-api", fault="wrong-audience", state=kit).token
    monkeypatch.setattr("sys.stdin", io.StringIO(token))
    assert main(["doctor", "--state-dir", str(kit.path), "-"]) == 1
    out = capsys.readouterr().out
    assert "%wif_" not in out
    assert "`wif token billing-api --audience api://mongodb-kit`" in out
    assert f"edit oidcIdentityProviders in {kit.mongod_conf}" in out
    assert "`wif mongod stop && wif mongod start`" in out
    in_a_notebook = str(diagnose(token, state=kit))
    assert "%wif_token billing-api --audience api://mongodb-kit" in in_a_notebook
    assert "`wif token" not in in_a_notebook


def test_the_doctor_shows_the_idp_as_it_is_https_issuers_on_a_port_that_also_answers_http(
    kit: StateDir,
) -> None:
    from wif_notebook.idp.service import idp_record

    record = idp_record(kit)
    assert record is not None
    [idp] = [c for c in diagnose(state=kit).checks if c.name == "identity provider"]
    assert idp.detail == (
        f"running at https://localhost:{record.port} (issuers are https); "
        f"the same port answers http://localhost:{record.port} in the clear"
    )
