"""GitHub Actions OIDC: a workflow's ID token, logged in through a callback."""

from __future__ import annotations

from . import Cloud

CLOUD = Cloud(
    id="github",
    title="GitHub Actions (OIDC ID tokens)",
)
