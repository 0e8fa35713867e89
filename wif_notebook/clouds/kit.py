"""The kit's own test issuer: a plain OAuth 2.0 server for the lessons (client credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..idp.issuers import path_issuer
from . import Cloud, ConnectFile, ConnectPlan, PrincipalKind, ProductionIssuer, TokenFile

if TYPE_CHECKING:
    from ..idp.principals import Principal
    from . import ClaimsDraft, EnvContext


def workload_env(ctx: EnvContext, principal: Principal) -> dict[str, str]:
    """What a client-credentials workload is configured with: its issuer (the token endpoint is
    found through discovery), client id and secret, and the audience to ask for.

    The names follow no vendor (a generic OAuth client has none): ``OIDC_ISSUER``,
    ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, ``OIDC_AUDIENCE``; the secret appears only here, for
    someone who asked for this principal's environment. A principal with an ``oidc`` token file also
    gets ``OIDC_TOKEN_FILE`` (pymongo's ``ENVIRONMENT:test``).
    """
    from ..idp.tokenfiles import token_file_path

    env = {"OIDC_ISSUER": ctx.issuer(principal.issuer_id), "OIDC_CLIENT_ID": principal.client_id}
    if principal.client_secret:
        env["OIDC_CLIENT_SECRET"] = principal.client_secret
    env["OIDC_AUDIENCE"] = principal.default_audience
    if "oidc" in principal.token_files:
        env["OIDC_TOKEN_FILE"] = str(token_file_path(ctx.state, "oidc"))
    return env


def _oidc_token_file(
    path: Path, owner: Principal, principals: list[Principal], base_url: str
) -> dict[str, str]:
    return {"OIDC_TOKEN_FILE": str(path)}


def _oidc_token_path(environ: Mapping[str, str]) -> Path:
    """Where ``ENVIRONMENT:test`` reads its token: the file ``OIDC_TOKEN_FILE`` names."""
    value = environ.get("OIDC_TOKEN_FILE")
    if not value:
        raise ConfigError(
            'MONGODB-OIDC with an "test" provider requires "OIDC_TOKEN_FILE" to be set',
            hint="run `eval $(wif env)` or pass the path of a token file",
        )
    return Path(value)


def _shape_claims(draft: ClaimsDraft) -> None:
    """A plain OAuth server's access token: the principal's groups and its client id."""
    draft.claims["groups"] = list(draft.principal.groups)
    draft.claims["client_id"] = draft.principal.client_id


def _seed() -> list[tuple[str, dict[str, Any]]]:
    from ..idp.principals import generated_secret

    return [
        (
            "The README tour's workload: client credentials at the kit issuer.",
            {
                "name": "billing-api",
                "kind": "client-credentials",
                "issuer": "kit",
                "infrastructure": "any host (client credentials)",
                "client_id": "billing-api",
                "client_secret": generated_secret(),
                "subject": "billing-api",
                "groups": ["billing-writers", "reports-readers"],
            },
        ),
        (
            "The lessons' plain workload; its token is also written to tokens/oidc/token "
            "(OIDC_TOKEN_FILE, ENVIRONMENT:test).",
            {
                "name": "lesson-app",
                "kind": "client-credentials",
                "issuer": "kit",
                "infrastructure": "the notebook (callback authentication)",
                "client_id": "lesson-app",
                "client_secret": generated_secret(),
                "subject": "lesson-app",
                "groups": ["lesson-readers"],
                "token_files": ["oidc"],
            },
        ),
        (
            "A workload that belongs to no group: valid token, but no roles from the groups claim.",
            {
                "name": "no-groups-app",
                "kind": "client-credentials",
                "issuer": "kit",
                "infrastructure": "any host (client credentials)",
                "client_id": "no-groups-app",
                "client_secret": generated_secret(),
                "subject": "no-groups-app",
                "groups": [],
            },
        ),
    ]


CLOUD = Cloud(
    id="kit",
    title="the kit's own OAuth 2.0 server (lessons, client credentials)",
    issuers=(
        path_issuer("kit", "kit (plain OAuth 2.0 server for the lessons)", "/jwks", "api://mongodb-kit"),
    ),
    # Any kit issuer no other platform claims stands for your own identity provider.
    production_issuers=(
        ProductionIssuer(
            "idp",
            "<YOUR_IDP_ISSUER_URL>",
            "your own identity provider",
            meaning="the https issuer URL of the identity provider that takes the place of the kit's own "
            "issuer",
            how_to_find="the `issuer` field of your IdP's /.well-known/openid-configuration",
        ),
    ),
    # Client id + secret at a token endpoint: a principal of any issuer can be one.
    principal_kinds={"client-credentials": PrincipalKind(None, client_secret=True, subject_is_name=True)},
    token_files={"oidc": TokenFile("oidc/token", exports=_oidc_token_file)},  # ENVIRONMENT:test
    connect=ConnectPlan(
        "test",
        "the file named by OIDC_TOKEN_FILE (pymongo built-in)",
        principal="lesson-app",
        file=ConnectFile("oidc", "OIDC_TOKEN_FILE"),
        token_path=_oidc_token_path,
    ),
    shape_claims=_shape_claims,
    workload_env=workload_env,
    seed_principals=_seed,
)
