"""The roles-from-groups exercise judges with the rule book's naming, through the provider's
authorizationClaim (not a hard-coded `groups` claim)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from _support.kit import running_kit

from wif_notebook.checks import check
from wif_notebook.providers import set_provider
from wif_notebook.state import StateDir

LESSON = "03-inspecting-claims"


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    """billing-api also carries an app-roles claim, and the kit provider maps roles from it."""
    with running_kit(tmp_path_factory.mktemp("roles-claim") / "state") as state:
        catalog = yaml.safe_load(state.principals_file.read_text())
        for entry in catalog["principals"]:
            if entry["name"] == "billing-api":
                entry["claims"] = {**(entry.get("claims") or {}), "roles": ["auditor", "billing-admin"]}
        state.write_private(state.principals_file, yaml.safe_dump(catalog, sort_keys=False))
        set_provider(state, "kit", {"authorizationClaim": "roles"})
        yield state


def test_roles_come_from_the_configured_authorization_claim(kit: StateDir) -> None:
    right = check(LESSON, "roles-from-groups", ["kit/auditor", "kit/billing-admin"], state=kit)
    assert right.passed is True, str(right)


def test_the_groups_claims_roles_are_wrong_when_another_claim_is_configured(kit: StateDir) -> None:
    wrong = check(LESSON, "roles-from-groups", ["kit/billing-writers", "kit/reports-readers"], state=kit)
    assert wrong.passed is False
    bare = check(LESSON, "roles-from-groups", ["auditor", "billing-admin"], state=kit)
    assert bare.passed is False and "'roles' values" in str(bare)
