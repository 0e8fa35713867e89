"""The wizard driven headless (comm's dummy comm): clicks and values, against the real services."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator

import pytest
from pymongo.errors import OperationFailure

from wif_notebook.server.authz import ADMIN_FILE
from wif_notebook.state import StateDir
from wif_notebook.widgets import Wizard

from .conftest import Kit, shown_text


@pytest.fixture
def wizard(kit: Kit) -> Iterator[Wizard]:
    """A wizard on the running kit's state dir, closed after the test."""
    opened = Wizard(state=kit.state)
    yield opened
    opened.close()


def _click(wizard: Wizard, key: str) -> None:
    wizard.steps[key].button.click()


def test_wizard_walks_from_identity_to_a_connected_client_showing_its_user_and_roles(wizard: Wizard) -> None:
    assert [s.visible for s in wizard.steps.values()] == [True, False, False, False, False, False]
    wizard.principal.value = "billing-api"
    wizard.database.value = "shop"
    wizard.role.value = "readWrite"
    for key in ("identity", "token", "claims", "server", "authorize", "connect"):
        _click(wizard, key)
        assert wizard.steps[key].errors.what is None, (key, wizard.steps[key].errors.what)
        assert wizard.progress.done[key], key
        assert wizard.steps[key].visible
    result = html.unescape(wizard.steps["connect"].result.value)
    assert "connected with MONGODB-OIDC" in result
    assert "kit/billing-api @ $external" in result
    assert "kit/billing-writers @ admin" in result
    assert "readWrite @ shop" in result
    assert "created the role kit/billing-writers in admin, inheriting readWrite@shop" in html.unescape(
        wizard.steps["authorize"].result.value
    )
    # The client is real and may now write where the role says.
    client = wizard.client
    assert client is not None
    assert client.shop.orders.insert_one({"item": "pen"}).acknowledged
    # The raw token never appears, only its redacted form.
    token = wizard.progress.token
    assert token is not None
    text = shown_text(wizard)
    assert token.token not in text
    assert token.redacted in text


def test_a_step_can_be_rerun_and_later_steps_wait_for_it(wizard: Wizard) -> None:
    wizard.principal.value = "lesson-app"
    assert wizard.run("identity") and wizard.run("token")
    first = wizard.progress.token
    assert wizard.run("token")
    assert wizard.progress.token is not None and wizard.progress.token != first
    # Re-running identity resets what follows: the claims step asks for the token step first.
    assert wizard.run("identity")
    assert not wizard.run("claims")
    assert "has not succeeded yet" in (wizard.steps["claims"].errors.what or "")
    assert "first" in (wizard.steps["claims"].errors.hint or "")


def test_wrong_audience_fails_the_audience_rule_in_place_with_the_next_step(wizard: Wizard) -> None:
    wizard.principal.value = "billing-api"
    wizard.audience.value = "api://some-other-service"
    assert wizard.run("identity") and wizard.run("token")
    assert not wizard.run("claims")
    claims = wizard.steps["claims"]
    # The error area names the server's own reason and the fix; no traceback anywhere.
    assert "Unknown audience name 'api://some-other-service'" in (claims.errors.what or "")
    assert "audience" in (claims.errors.hint or "")
    assert "Traceback" not in shown_text(wizard)
    audience = next(r for r in wizard.progress.results if r.rule == "audience")
    assert audience.passed is False
    assert "wif-rule-failed' data-rule='audience'" in claims.result.value
    # The guided path stops here...
    assert not wizard.steps["server"].visible
    # ...and connecting anyway shows the 18 with the reason from mongod's log.
    assert not wizard.run("connect")
    what = wizard.steps["connect"].errors.what or ""
    assert "18 AuthenticationFailed" in what
    assert "Unknown audience name" in what
    assert wizard.client is None


def test_a_token_without_groups_cannot_be_authorized_and_says_what_to_do(wizard: Wizard) -> None:
    wizard.principal.value = "no-groups-app"
    for key in ("identity", "token", "claims", "server"):
        assert wizard.run(key), (key, wizard.steps[key].errors.what)
    assert not wizard.run("authorize")
    assert (
        wizard.steps["authorize"].errors.what == "the token grants no roles: its authorization claim is empty"
    )
    # Connecting still works (authentication needs no role), but writing is refused with 13.
    assert wizard.run("connect")
    assert "(none)" in wizard.steps["connect"].result.value
    client = wizard.client
    assert client is not None
    try:
        client.shop.orders.insert_one({"item": "pen"})
    except OperationFailure as exc:
        assert exc.code == 13
    else:
        raise AssertionError("a workload without roles could write")


def test_a_refused_administrator_password_is_said_as_such_not_as_a_token_problem(
    wizard: Wizard, kit: Kit
) -> None:
    wizard.principal.value = "billing-api"
    wizard.database.value = "shop"
    for key in ("identity", "token", "claims", "server"):
        assert wizard.run(key), (key, wizard.steps[key].errors.what)
    admin_file = kit.state.path / ADMIN_FILE
    saved = admin_file.read_text()
    kit.state.write_private(admin_file, json.dumps({**json.loads(saved), "password": "not-the-password"}))
    try:
        assert not wizard.run("authorize")
    finally:
        kit.state.write_private(admin_file, saved)
    errors = wizard.steps["authorize"].errors
    assert (errors.what or "").startswith("the server refused the kit administrator's login")
    assert "%wif_mongod stop" in (errors.hint or "")


def test_without_running_services_the_token_step_says_to_start_them(tmp_path: object) -> None:
    state = StateDir(f"{tmp_path}/idle")
    wizard = Wizard(state=state)
    try:
        wizard.principal.value = "billing-api"
        assert wizard.run("identity")
        assert not wizard.run("token")
        errors = wizard.steps["token"].errors
        assert errors.what == "the mock identity provider is not running"
        assert "wif up" in (errors.hint or "") or "wif idp start" in (errors.hint or "")
    finally:
        wizard.close()


def test_a_workload_without_group_roles_gets_an_external_user(wizard: Wizard) -> None:
    wizard.principal.value = "gce-worker"
    wizard.database.value = "inventory"
    wizard.role.value = "read"
    for key in ("identity", "token", "claims", "server", "authorize", "connect"):
        assert wizard.run(key), (key, wizard.steps[key].errors.what)
    token = wizard.progress.token
    assert token is not None and token.method == "gcp"
    user = f"gcp/{token.claims['sub']}"
    assert wizard.progress.authorized == [f"created the user {user} in $external with read@inventory"]
    assert "useAuthorizationClaim is false" in html.unescape(wizard.steps["server"].result.value)
    result = html.unescape(wizard.steps["connect"].result.value)
    assert f"{user} @ $external" in result and "read @ inventory" in result
    # Authorizing again grants to the existing user instead of failing.
    assert wizard.run("authorize")
    assert wizard.progress.authorized == [f"granted read@inventory to the existing user {user} in $external"]
