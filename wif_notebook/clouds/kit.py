"""The kit's own test issuer: a plain OAuth 2.0 server for the lessons (client credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import Cloud, EnvContext

if TYPE_CHECKING:
    from ..idp.principals import Principal


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


CLOUD = Cloud(
    id="kit",
    title="the kit's own OAuth 2.0 server (lessons, client credentials)",
    issuer_ids=("kit",),
    principal_kinds=("client-credentials",),
    connect_environment="test",
    workload_env=workload_env,
)
