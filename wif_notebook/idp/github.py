"""GitHub Actions OIDC as a workflow job sees it: the ID-token request and the issuer's documents.

- ``GET B/github/.well-known/openid-configuration``  the discovery document of
  ``https://token.actions.githubusercontent.com`` (keys at ``/.well-known/jwks``, served with the
  other issuers' JWKS by ``app.py``)
- ``GET B/github/_apis/idtoken/<workflow>?api-version=2.0[&audience=A]`` with
  ``Authorization: Bearer <request token>``  → ``{"value": "<jwt>"}``: what a job finds in
  ``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` (``permissions:
  id-token: write``). The URL names the job's workflow (a ``github-workflow`` principal), as the
  real URL names the job's plan.

The request token is an HMAC of the workflow's name under a secret of the state directory
(``keys/github/actions-request.secret``, 0600), so one job's token cannot ask for another's.
Errors answer ``{"message": ...}``, which ``@actions/http-client`` reports as ``error.result.message``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from ..state import create_private_once
from .issuers import ISSUERS
from .keys import b64url
from .messages import NO_STORE, Request, Response, json_response

if TYPE_CHECKING:
    from ..state import StateDir
    from .app import IdentityProvider
    from .principals import Principal

ISSUER_ID = "github"
KIND = "github-workflow"
_ISSUER = ISSUERS[ISSUER_ID]
ROUTE_BASE = _ISSUER.route_base
REQUEST_PREFIX = f"{ROUTE_BASE}/_apis/idtoken/"
API_VERSION = "2.0"
# GitHub's ID tokens live five minutes (the documentation's example token: exp = iat + 300).
TOKEN_LIFETIME = 300
CLAIMS_SUPPORTED = (
    "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
    "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor",
    "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name",
    "ref_type", "ref_protected", "environment", "job_workflow_ref", "job_workflow_sha",
    "repository_visibility", "runner_environment",
)  # fmt: skip


def _secret_path(state: StateDir) -> Path:
    return state.subdir(Path("keys") / ISSUER_ID) / "actions-request.secret"


def request_token(state: StateDir, workflow: str) -> str:
    """The ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` of a job of ``workflow`` (the secret made on first use)."""
    # Created once, so two processes making it at the same moment hand out tokens of the same key.
    key = create_private_once(_secret_path(state), lambda: secrets.token_urlsafe(32)).text.strip().encode()
    return b64url(hmac.new(key, workflow.encode(), hashlib.sha256).digest())


def request_url(origin: str, workflow: str) -> str:
    """The ``ACTIONS_ID_TOKEN_REQUEST_URL`` of a job of ``workflow`` (it already has a query:
    ``@actions/core`` appends ``&audience=...``)."""
    return f"{origin}{REQUEST_PREFIX}{quote(workflow)}?api-version={API_VERSION}"


def default_audience(principal: Principal) -> str:
    """GitHub's ``aud`` when the job names none: the URL of the repository owner."""
    return f"https://github.com/{principal.claims.get('repository_owner', 'wif-kit')}"


def handle(idp: IdentityProvider, req: Request) -> Response | None:
    """The registry's ``idp_handler`` for GitHub Actions: every path under ``/github`` but the JWKS."""
    path = req.path
    if path != ROUTE_BASE and not path.startswith(ROUTE_BASE + "/"):
        return None
    rest = path[len(ROUTE_BASE) :]
    if _ISSUER.routes().get(rest) == "jwks":
        return None  # the issuers' JWKS endpoint (app.py) serves GitHub's keys too
    if rest == "/.well-known/openid-configuration" and req.method == "GET":
        return json_response(200, discovery(idp.base_for(req)), issuer=ISSUER_ID)
    if path.startswith(REQUEST_PREFIX):
        return _id_token(idp, req, path[len(REQUEST_PREFIX) :])
    return json_response(
        404,
        {"message": f"Not Found: {path} (GitHub Actions serves {REQUEST_PREFIX}<workflow>, its discovery "
         "document and /.well-known/jwks)"},
        issuer=ISSUER_ID,
        error="not_found",
    )  # fmt: skip


def discovery(base_url: str) -> dict[str, Any]:
    """The OpenID configuration GitHub publishes for its Actions issuer."""
    return {
        "issuer": _ISSUER.issuer_url(base_url),
        "jwks_uri": _ISSUER.jwks_uri(base_url),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }


def _id_token(idp: IdentityProvider, req: Request, workflow: str) -> Response:
    def error(status: int, message: str, code: str) -> Response:
        return json_response(status, {"message": message}, issuer=ISSUER_ID, grant="actions", error=code)

    if req.method != "GET":
        return error(405, "the ID token request is a GET", "method")
    # The job's token first, then the workflow: the URL's name is checked only for a caller that
    # holds its token, so the answer does not tell anyone else which workflows exist.
    scheme, _, presented = (req.headers.get("authorization") or "").partition(" ")
    expected = request_token(idp.state, workflow)
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        # The real service answers 401 when the job has no `permissions: id-token: write`.
        return error(
            401,
            "the request needs Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN of this job "
            "(`wif env --principal NAME` prints it; a workflow needs `permissions: id-token: write`)",
            "unauthorized",
        )
    principal = next((p for p in idp.principals() if p.kind == KIND and p.name == workflow), None)
    if principal is None:
        return error(
            404, f"no workflow {workflow!r}: add a principal of kind {KIND} to principals.yaml", "not_found"
        )
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    if query.get("api-version") != API_VERSION:
        return error(400, f"api-version={API_VERSION} is required", "invalid_request")
    audience = query.get("audience") or default_audience(principal)
    # The issuer in the form the request came in (https, or http for enableTestCommands).
    minted = idp.minter_for(req).mint(principal, audience=audience, lifetime=TOKEN_LIFETIME)
    return json_response(
        200,
        {"value": minted.token},
        headers=NO_STORE,
        issuer=ISSUER_ID,
        grant="actions",
        principal=principal.name,
    )
