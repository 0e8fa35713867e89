"""`wif token` and `wif claims` as a user runs them: real subprocesses, real pipes, the real IdP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from wif_notebook.state import ServiceRecord, StateDir


def wif(
    state: StateDir, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook", *args, "--state-dir", str(state.path)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_wif_token_prints_only_the_raw_jwt(idp_state: StateDir) -> None:
    done = wif(idp_state, "token", "billing-api")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("eyJ") and lines[0].count(".") == 2


def test_wif_token_via_federated_prints_the_entra_token(
    idp_state: StateDir, idp_record: ServiceRecord
) -> None:
    done = wif(idp_state, "token", "orders-identity", "--via", "federated")
    assert done.returncode == 0, done.stderr
    report = json.loads(wif(idp_state, "claims", "--json", "-", stdin=done.stdout).stdout)
    assert report["claims"]["iss"] == idp_record.extra["issuers"]["azure"]["issuer"]
    assert report["signature"]["verified"] is True and report["ok"] is True


def test_claims_reads_a_token_saved_to_a_file(idp_state: StateDir, tmp_path: Path) -> None:
    saved = tmp_path / "t.jwt"
    saved.write_text(wif(idp_state, "token", "billing-api").stdout)  # as in the README's tour
    done = wif(idp_state, "claims", str(saved), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["claims"]["sub"] == "billing-api"


def test_wrong_audience_piped_into_claims_names_the_audience_rule(idp_state: StateDir) -> None:
    token = wif(idp_state, "token", "billing-api", "--fault", "wrong-audience")
    assert token.returncode == 0, token.stderr
    done = wif(idp_state, "claims", "-", stdin=token.stdout)
    assert done.returncode == 1
    assert token.stdout.strip() not in done.stdout, "wif claims must not print the raw token"
    failing = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert any(" audience " in line and "api://some-other-service" in line for line in failing), done.stdout
    assert "signature  verified" in done.stdout
    assert "Authentication failed." in done.stdout


def test_claims_json_for_a_good_kubernetes_token(idp_state: StateDir) -> None:
    token = wif(idp_state, "token", "orders-worker").stdout.strip()
    done = wif(idp_state, "claims", token, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["ok"] is True and report["signature"]["verified"] is True
    assert report["token"] == "eyJhbGciOi…[redacted]"
    rules = {r["rule"]: r for r in report["rules"]}
    assert rules["principal"]["detail"].endswith(
        "'k8s/system:serviceaccount:shop:orders-worker' in $external"
    )
    assert {e["name"] for e in report["explanations"]} >= {"iss", "sub", "aud", "exp", "kubernetes.io"}


def test_claims_checks_against_the_state_directorys_mongod_conf(
    idp_state: StateDir, idp_record: ServiceRecord, mongod_conf: Path
) -> None:
    kit = idp_record.extra["issuers"]["kit"]
    providers = [
        {
            "issuer": kit["issuer"],
            "audience": kit["audience"],
            "authNamePrefix": "lessons",
            "authorizationClaim": "roles",
            "supportsHumanFlows": False,
        }
    ]
    conf = (
        "setParameter:\n"
        "  enableTestCommands: 1\n"
        "  authenticationMechanisms: SCRAM-SHA-256,MONGODB-OIDC\n"
        f"  oidcIdentityProviders: '{json.dumps(providers)}'\n"
    )
    idp_state.write_private(mongod_conf, conf)
    token = wif(idp_state, "token", "billing-api").stdout.strip()
    done = wif(idp_state, "claims", token, "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1
    assert report["server"]["config"] == str(mongod_conf)
    failed = [r for r in report["rules"] if r["passed"] is False]
    assert [r["rule"] for r in failed] == ["authorization_claim"]
    assert failed[0]["detail"] == "InvalidJWT: Claim 'roles' not found on OIDC token"


def _claims_under_an_invalid_conf(idp_state: StateDir, mongod_conf: Path) -> str:
    """What `wif claims` prints for a good token when mongod.conf names a provider without audience."""
    conf = 'setParameter:\n  oidcIdentityProviders: \'[{"issuer": "http://localhost:1/kit"}]\'\n'
    idp_state.write_private(mongod_conf, conf)
    token = wif(idp_state, "token", "billing-api").stdout.strip()
    return wif(idp_state, "claims", token).stdout


def test_an_invalid_mongod_conf_is_reported_with_mongods_message(
    idp_state: StateDir, mongod_conf: Path
) -> None:
    out = _claims_under_an_invalid_conf(idp_state, mongod_conf)
    assert "is invalid: BSON field 'IDPConfiguration.audience' is missing but a required field" in out


def test_an_invalid_mongod_conf_in_the_report_says_what_to_do_next(
    idp_state: StateDir, mongod_conf: Path
) -> None:
    lines = _claims_under_an_invalid_conf(idp_state, mongod_conf).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("server ") and "is invalid" in line)
    assert lines[at + 1].strip().startswith("next step: ")
    assert len(lines[at + 1].strip()) > len("next step: ")


def test_claims_of_garbage_fails_with_a_plain_message(idp_state: StateDir) -> None:
    done = wif(idp_state, "claims", "hello")
    assert done.returncode == 1 and done.stdout == ""
    assert "not a JWT" in done.stderr and "next step:" in done.stderr


def test_unknown_principal_exits_1_with_the_known_names(idp_state: StateDir) -> None:
    done = wif(idp_state, "token", "nobody")
    assert done.returncode == 1 and done.stdout == ""
    assert "billing-api" in done.stderr


def test_claims_and_doctor_of_a_missing_file_say_the_file_does_not_exist(
    idp_state: StateDir, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.jwt"
    for command in ("claims", "doctor"):
        done = wif(idp_state, command, str(missing))
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.splitlines() == [
            f"wif: the token file {missing} does not exist",
            "  next step: pass the token itself, the path of a file holding it, or - to read it from stdin",
        ]
    # A bare file name (after `wif token ... -o t.jwt` in another folder) is a file, not a token;
    # asked in a folder of its own, so a t.jwt lying in the repository cannot answer.
    done = wif(idp_state, "claims", "t.jwt", cwd=tmp_path)
    assert done.stderr.splitlines()[0] == "wif: the token file t.jwt does not exist", done.stderr
    # An opaque (non-JWT) token is still explained as one.
    assert "not a JWT" in wif(idp_state, "claims", "opaque-token-value").stderr


def test_claims_and_doctor_of_an_empty_file_say_the_file_is_empty(
    idp_state: StateDir, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jwt"
    empty.write_text("\n")
    for command in ("claims", "doctor"):
        done = wif(idp_state, command, str(empty))
        assert done.returncode == 1 and done.stdout == "", done.stdout
        assert done.stderr.splitlines() == [
            f"wif: the token file {empty} is empty",
            "  next step: write a token into it first, or pass the token itself, the path of a file "
            "holding it, or - to read it from stdin",
        ]
        piped = wif(idp_state, command, "-", stdin="")
        assert piped.returncode == 1 and piped.stdout == "", piped.stdout
        assert piped.stderr.splitlines()[0] == "wif: no token on stdin: what was piped in is empty"


def test_doctor_reads_a_token_saved_to_a_file(idp_state: StateDir, tmp_path: Path) -> None:
    saved = tmp_path / "t.jwt"
    saved.write_text(wif(idp_state, "token", "billing-api", "--fault", "expired").stdout)
    done = wif(idp_state, "doctor", str(saved))
    assert done.returncode == 1
    assert done.stdout.startswith("wif doctor: FAILED [time.exp]"), done.stdout + done.stderr
