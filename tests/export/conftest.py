"""A kit with what a learner builds in the lessons, exported to every target once per session.

The kit runs for real (``stack.up``: the IdP and the test mongod on free ports); roles and
``$external`` users are created the way the lessons do (``authorization.authorize``, ``createRole``
through the administrator), so the export reads them back from the running server.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from _support.kit import running_kit
from clients.conftest import node
from data.conftest import idp

from wif_notebook import authorization
from wif_notebook.export import TARGETS, Export, export
from wif_notebook.state import StateDir

__all__ = ["idp", "node"]  # fixtures shared with tests/data and tests/clients


@pytest.fixture(scope="session")
def built_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    """A running kit with a custom role, group roles of two providers and two $external users."""
    with running_kit(tmp_path_factory.mktemp("export") / "state") as state:
        admin = authorization.admin_client(state)
        try:
            admin["shop"].command(
                "createRole",
                "orderAuditor",
                privileges=[
                    {"resource": {"db": "shop", "collection": "orders"}, "actions": ["find", "collStats"]}
                ],
                roles=[],
            )
        finally:
            admin.close()
        authorization.authorize(state, group="lesson-readers", roles=["read@test"])
        authorization.authorize(
            state,
            group="orders-writers",
            prefix="azure",
            roles=["readWrite@shop", "orderAuditor@shop"],
            privileges=["shop.audit:insert,listIndexes"],
        )
        authorization.authorize(state, principal="orders-worker", roles=["readWrite@shop"])
        authorization.authorize(state, principal="gce-worker", roles=["read@reports"])
        yield state


@pytest.fixture(scope="session")
def exports(built_kit: StateDir) -> dict[str, Export]:
    return {target: export(built_kit, target) for target in TARGETS}


def fill_value(name: str) -> str:
    """A valid value of the kind a placeholder names (what a learner would paste in)."""
    if name.endswith("_URL"):
        return f"https://issuer.example.com/{name.lower()}"
    if name in ("FEDERATION_SETTINGS_ID", "ORG_ID", "ATLAS_PROJECT_ID") or name.startswith("ATLAS_IDP_ID"):
        return uuid.uuid4().hex[:24]
    if name.endswith("_UNIQUE_ID"):
        return "1" + "0" * 20
    if name == "PROJECT_ID":
        return "shop-prod-123"
    if name.endswith("_ROLE_ARN"):
        return "arn:aws:iam::123456789012:role/orders-worker"
    if name == "IMAGE":
        return "registry.example.com/shop/orders:1.0"
    if name == "MONGODB_HOST":
        return "db1.example.com:27017"
    if re.search(r"(_ID|_CLIENT_ID|_OBJECT_ID|_PRINCIPAL_ID)$", name):
        return str(uuid.uuid4())
    return name.lower().replace("_", "-")


def values_for(result: Export) -> dict[str, str]:
    """A value for every placeholder ``result`` uses."""
    return {p.name: fill_value(p.name) for p in result.placeholders}


def kit_values(state: StateDir) -> dict[str, str]:
    """Each placeholder filled with the kit value it replaced: what the export stands for."""
    from wif_notebook.export._kit import snapshot

    return {
        token[1:-1]: value
        for value, token in snapshot(state).substitutions
        if token.startswith("<") and token.endswith(">")
    }
