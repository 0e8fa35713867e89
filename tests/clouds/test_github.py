"""GitHub Actions OIDC: a job's ID-token request, its claims, and a login through OIDC_CALLBACK."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest

from wif_notebook import authorization, stack, tokens
from wif_notebook.clouds.github import get_id_token
from wif_notebook.errors import TokenError
from wif_notebook.idp.principals import find
from wif_notebook.idp.service import idp_record
from wif_notebook.state import StateDir

from .conftest import ROOT, get_json, json_result, jwks_client, run_workload, workload_env

# A job's OIDC_CALLBACK: the ID token requested as @actions/core's getIDToken(audience) does.
LOGIN = """
import json, sys
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackResult
from wif_notebook.clouds.github import get_id_token

uri, audience = sys.argv[1:3]

class ActionsCallback(OIDCCallback):
    def fetch(self, context):
        return OIDCCallbackResult(access_token=get_id_token(audience))

client = MongoClient(uri, authMechanismProperties={"OIDC_CALLBACK": ActionsCallback()})
info = client.admin.command("connectionStatus")["authInfo"]
print(json.dumps({"users": info["authenticatedUsers"], "roles": info["authenticatedUserRoles"]}))
"""


def _issuer(state: StateDir) -> dict[str, str]:
    record = idp_record(state)
    assert record is not None
    return dict(record.extra["issuers"]["github"])


def test_a_workflow_job_logs_in_through_its_callback(kit: StateDir, tmp_path: Path) -> None:
    authorization.authorize(kit, principal="deploy-workflow", roles=["readWrite@deployments"])
    proc = run_workload(kit, "deploy-workflow", LOGIN, _issuer(kit)["audience"], home=tmp_path)
    result = json_result(proc)
    subject = find(kit, "deploy-workflow").subject
    assert subject == "repo:wif-kit/shop:ref:refs/heads/main"
    assert result["users"] == [{"user": f"github/{subject}", "db": "$external"}]
    assert result["roles"] == [{"role": "readWrite", "db": "deployments"}]


def test_the_id_token_has_githubs_claims_and_verifies_with_the_published_keys(kit: StateDir) -> None:
    issuer = _issuer(kit)
    env = workload_env(kit, "deploy-workflow")
    discovery = get_json(kit, f"{issuer['issuer']}/.well-known/openid-configuration")
    assert discovery["issuer"] == issuer["issuer"]
    assert discovery["jwks_uri"] == f"{issuer['issuer']}/.well-known/jwks"
    assert discovery["response_types_supported"] == ["id_token"]
    assert "repository_owner_id" in discovery["claims_supported"]

    token = get_id_token(environ=env)  # no audience: GitHub's default, the owner's URL
    key = jwks_client(kit, discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="https://github.com/wif-kit", issuer=issuer["issuer"]
    )
    assert claims["sub"] == "repo:wif-kit/shop:ref:refs/heads/main"
    assert claims["repository"] == "wif-kit/shop" and claims["ref"] == "refs/heads/main"
    for claim in ("repository_id", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor_id"):
        assert isinstance(claims[claim], str) and claims[claim].isdigit(), claim
    assert claims["ref_protected"] == "true", "booleans are strings too"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert env["ACTIONS_ID_TOKEN_REQUEST_URL"].count("?") == 1, "@actions/core appends &audience=..."


def test_an_audience_is_encoded_as_encodeuricomponent_does(kit: StateDir) -> None:
    env = workload_env(kit, "deploy-workflow")
    token = get_id_token("api://mongodb kit/(github)", environ=env)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "api://mongodb kit/(github)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-this-jobs-token"}, "Error Code : 401"),
        ({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": ""}, "Unable to get ACTIONS_ID_TOKEN_REQUEST_TOKEN env variable"),
        ({"ACTIONS_ID_TOKEN_REQUEST_URL": ""}, "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable"),
    ],
)
def test_a_job_without_its_request_token_gets_no_id_token(
    kit: StateDir, change: dict[str, str], message: str
) -> None:
    env = {**workload_env(kit, "deploy-workflow"), **change}
    with pytest.raises(TokenError) as raised:
        get_id_token("aud", environ=env)
    assert message in raised.value.what


def test_one_jobs_request_token_cannot_ask_for_another_workflows_token(kit: StateDir) -> None:
    env = workload_env(kit, "deploy-workflow")
    other = env["ACTIONS_ID_TOKEN_REQUEST_URL"].replace("/deploy-workflow?", "/nightly-workflow?")
    with pytest.raises(TokenError) as raised:
        get_id_token("aud", environ={**env, "ACTIONS_ID_TOKEN_REQUEST_URL": other})
    assert "Error Code : 401" in raised.value.what


def test_wif_token_for_a_workflow_uses_the_jobs_id_token_request(kit: StateDir) -> None:
    issued = tokens.obtain("deploy-workflow", state=kit)
    assert issued.method == "github"
    assert issued.claims["aud"] == _issuer(kit)["audience"]
    assert issued.claims["sub"] == "repo:wif-kit/shop:ref:refs/heads/main"


def test_wif_env_prints_a_jobs_variables_for_eval(kit: StateDir, capsys: pytest.CaptureFixture[str]) -> None:
    from wif_notebook.cli import main

    assert main(["env", "--principal", "deploy-workflow", "--state-dir", str(kit.path)]) == 0
    out = capsys.readouterr().out
    assert "export GITHUB_ACTIONS=true" in out
    assert "export ACTIONS_ID_TOKEN_REQUEST_URL='https://localhost:" in out
    assert "/github/_apis/idtoken/deploy-workflow?api-version=2.0'" in out
    assert "export ACTIONS_ID_TOKEN_REQUEST_TOKEN=" in out


def test_actions_core_get_id_token_logs_in_through_the_node_drivers_callback(kit: StateDir) -> None:
    clients = ROOT / "tests" / "clients"
    node = shutil.which("node")
    if node is None or not (clients / "node_modules" / "@actions" / "core" / "package.json").exists():
        pytest.fail("Node.js and the npm packages are needed: run `npm ci --prefix tests/clients`")
    authorization.authorize(kit, principal="deploy-workflow", roles=["readWrite@deployments"])
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(workload_env(kit, "deploy-workflow"))
    proc = subprocess.run(
        [node, str(clients / "actions_oidc.mjs"), stack.status(kit)["mongodb_uri"], _issuer(kit)["audience"]],
        cwd=clients,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    subject = find(kit, "deploy-workflow").subject
    assert result == {
        "users": [{"user": f"github/{subject}", "db": "$external"}],
        "roles": [{"role": "readWrite", "db": "deployments"}],
    }
