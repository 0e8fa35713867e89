"""GitHub Actions OIDC: a workflow's ID token, logged in through a callback.

The IdP side lives in ``idp/github.py`` (the issuer standing for
``https://token.actions.githubusercontent.com`` and the job's ID-token request). A job has
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; pymongo has no built-in
environment for it, so a workload logs in with an ``OIDC_CALLBACK`` that calls ``get_id_token``:
the request ``@actions/core``'s ``getIDToken`` makes (actions/toolkit ``packages/core/src/oidc-utils.ts``).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import TokenError
from ..idp.issuers import path_issuer
from . import Cloud, EnvContext, PrincipalKind, ProductionIssuer, common_env

if TYPE_CHECKING:
    from ..idp.principals import Principal

OWNER = "wif-kit"
# What JavaScript's encodeURIComponent leaves as it is besides letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"
REPOSITORY = f"{OWNER}/shop"


def _idp_handler(idp: Any, req: Any) -> Any:
    if req.path.startswith("/github"):
        from ..idp import github

        return github.handle(idp, req)
    return None


def _workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    """A job's variables: the two the OIDC request needs, and the runner's own GITHUB_* facts."""
    from ..idp.github import request_token, request_url

    claims = principal.claims
    env = {
        "GITHUB_ACTIONS": "true",
        "ACTIONS_ID_TOKEN_REQUEST_URL": request_url(ctx.idp_https, principal.name),
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token(ctx.state, principal.name),
    }
    for variable, claim in (
        ("GITHUB_REPOSITORY", "repository"),
        ("GITHUB_REPOSITORY_OWNER", "repository_owner"),
        ("GITHUB_REF", "ref"),
        ("GITHUB_SHA", "sha"),
        ("GITHUB_RUN_ID", "run_id"),
        ("GITHUB_EVENT_NAME", "event_name"),
    ):
        if claim in claims:
            env[variable] = str(claims[claim])
    return env


def get_id_token(audience: str | None = None, *, environ: Mapping[str, str] | None = None) -> str:
    """A job's ID token, requested as ``@actions/core``'s ``getIDToken(audience)`` does it:
    ``GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<encoded>`` with ``Authorization: Bearer
    $ACTIONS_ID_TOKEN_REQUEST_TOKEN``, the token in the JSON reply's ``value``."""
    env = os.environ if environ is None else environ
    url, token = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not token:
        raise TokenError(
            "Unable to get ACTIONS_ID_TOKEN_REQUEST_TOKEN env variable",
            hint="give the workflow `permissions: id-token: write` (in the kit: "
            'eval "$(wif env --principal <workflow>)")',
        )
    if not url:
        raise TokenError(
            "Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable",
            hint="give the workflow `permissions: id-token: write`",
        )
    if audience:
        url = f"{url}&audience={quote(audience, safe=_URI_COMPONENT_SAFE)}"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    # The job's process trusts what its environment says (SSL_CERT_FILE, as OpenSSL reads it).
    context = ssl.create_default_context(cafile=env.get("SSL_CERT_FILE") or None)
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as reply:
            doc = json.load(reply)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc).get("message")
        except ValueError:
            message = None
        raise TokenError(
            f"Failed to get ID Token. Error Code : {exc.code} Error Message: {message}",
            hint="check the job's ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN",
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TokenError(
            f"Failed to get ID Token: {exc}", hint="is the Actions token service reachable?"
        ) from exc
    value = doc.get("value") if isinstance(doc, dict) else None
    if not value:
        raise TokenError("Response json body do not have ID Token field", hint="check the token service")
    return str(value)


def _workload_token(ctx: EnvContext, principal: Principal, audience: str | None) -> str:
    # The job's whole environment, as `wif env --principal` gives it: the kit CA variables too.
    environ = {**common_env(ctx), **_workload_env(ctx, principal)}
    return get_id_token(audience or principal.default_audience, environ=environ)


def _seed() -> list[tuple[str, dict[str, Any]]]:
    # GitHub's claims, ids and booleans as strings (docs.github.com, OIDC token reference).
    ref, workflow_file = "refs/heads/main", f"{REPOSITORY}/.github/workflows/deploy.yml"
    sha = "4f1d7a8c2b9e0d3f6a5c7e8b1d2f3a4b5c6d7e8f"
    return [
        (
            "A GitHub Actions workflow job (deploy.yml on main): ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN "
            "from `wif env --principal deploy-workflow`, logged in through an OIDC_CALLBACK.",
            {
                "name": "deploy-workflow",
                "kind": "github-workflow",
                "issuer": "github",
                "infrastructure": "GitHub Actions (GitHub-hosted runner)",
                "subject": f"repo:{REPOSITORY}:ref:{ref}",
                "groups": [],
                "claims": {
                    "repository": REPOSITORY,
                    "repository_id": "892341877",
                    "repository_owner": OWNER,
                    "repository_owner_id": "165093212",
                    "repository_visibility": "private",
                    "ref": ref,
                    "ref_type": "branch",
                    "ref_protected": "true",
                    "sha": sha,
                    "workflow": "deploy",
                    "workflow_ref": f"{workflow_file}@{ref}",
                    "workflow_sha": sha,
                    "job_workflow_ref": f"{workflow_file}@{ref}",
                    "job_workflow_sha": sha,
                    "event_name": "push",
                    "actor": "octo-deployer",
                    "actor_id": "5218376",
                    "run_id": "11893411262",
                    "run_number": "42",
                    "run_attempt": "1",
                    "head_ref": "",
                    "base_ref": "",
                    "runner_environment": "github-hosted",
                },
            },
        )
    ]


CLOUD = Cloud(
    id="github",
    title="GitHub Actions (OIDC ID tokens)",
    # No token endpoint in GitHub's discovery: idp/github.py answers every other path.
    issuers=(
        path_issuer(
            "github", "GitHub Actions (workflow ID tokens)", "/.well-known/jwks", "api://mongodb-kit-github"
        ),
    ),
    production_issuers=(
        ProductionIssuer(
            "github",
            "https://token.actions.githubusercontent.com",
            "GitHub Actions",
            public_host="token.actions.githubusercontent.com",
            kit_name=lambda name: "github" in name,
        ),
    ),
    # A GitHub Actions job: ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN.
    principal_kinds={"github-workflow": PrincipalKind("github")},
    idp_handler=_idp_handler,
    workload_env=_workload_env,
    workload_token=_workload_token,
    authorization_claim=None,  # no groups in its tokens: $external users
    seed_principals_later=_seed,
)
