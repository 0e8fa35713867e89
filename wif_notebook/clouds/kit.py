"""The kit's own test issuer: a plain OAuth 2.0 server for the lessons (client credentials)."""

from __future__ import annotations

from . import Cloud

CLOUD = Cloud(
    id="kit",
    title="the kit's own OAuth 2.0 server (lessons, client credentials)",
    issuer_ids=("kit",),
    principal_kinds=("client-credentials",),
    connect_environment="test",
)
