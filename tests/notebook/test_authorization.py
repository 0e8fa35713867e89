"""``authorize`` names users and roles the way mongod does (the rule book), refuses what no token
would log in as, and explains a refused administrator login as such."""

from __future__ import annotations

import json

import pytest

from wif_notebook import authorization, providers, tokens
from wif_notebook.errors import ConfigError, ServiceError
from wif_notebook.idp.service import stop_idp
from wif_notebook.oidc import check_principal, user_name
from wif_notebook.server.authz import ADMIN_FILE
from wif_notebook.state import StateDir


def _external_users(kit: StateDir) -> list[str]:
    client = authorization.admin_client(kit)
    try:
        found = client["$external"].command("usersInfo", {"forAllDBs": True})["users"]
    finally:
        client.close()
    return [u["user"] for u in found]


def test_a_principal_whose_token_mongod_refuses_for_its_principal_claim_gets_no_user(kit: StateDir) -> None:
    # principalName names a claim gce-worker's tokens do not carry: mongod refuses them, so the
    # user is refused with the server's reason, not created under the token's sub.
    before = _external_users(kit)
    providers.set_provider(kit, "gcp", {"principalName": "preferred_username"})
    try:
        with pytest.raises(ConfigError) as info:
            authorization.authorize(kit, principal="gce-worker", roles=["read@test"])
    finally:
        providers.restore_default_config(kit)
    assert info.value.what == (
        "mongod refuses gce-worker's token for the 'gcp' provider: "
        "InvalidJWT: Unable to find principal claim 'preferred_username' in token body"
    )
    assert "%wif_mongod set gcp principalName=" in (info.value.hint or "")
    assert _external_users(kit) == before


def test_a_principal_is_authorized_without_asking_the_idp_for_a_token(fresh_kit: StateDir) -> None:
    # The user's name comes from the claims the IdP would issue, worked out in-process: no mint shows
    # in the IdP's request log (the learner's %wif_flow), and a stopped IdP does not matter.
    granted = authorization.authorize(fresh_kit, principal="gce-worker", roles=["read@test"])
    idp_log = (fresh_kit.logs_dir / "idp.log").read_text()
    assert "/_wif/mint" not in idp_log
    gcp = providers.provider_for_prefix(fresh_kit, "gcp")
    assert gcp is not None
    minted = tokens.mint("gce-worker", audience=gcp.audience, state=fresh_kit)
    assert granted.name == user_name(gcp, check_principal(minted.claims, gcp))
    assert stop_idp(fresh_kit)
    again = authorization.authorize(fresh_kit, principal="gce-worker", roles=["read@test"])
    assert (again.name, again.created) == (granted.name, False)
    assert granted.name in _external_users(fresh_kit)


def test_a_user_under_an_unknown_prefix_is_refused_naming_the_known_ones(kit: StateDir) -> None:
    before = _external_users(kit)
    with pytest.raises(ConfigError) as info:
        authorization.authorize(kit, user="nope/someone", roles=["read@test"])
    assert info.value.what == "mongod.conf has no oidcIdentityProviders entry with authNamePrefix 'nope'"
    assert "use one of: kit, " in (info.value.hint or "")
    assert _external_users(kit) == before
    with pytest.raises(ConfigError) as info:
        authorization.authorize(kit, user="someone", roles=["read@test"])
    assert info.value.what.startswith("the user 'someone' has no provider prefix")
    assert "--user PREFIX/someone (prefixes: kit, " in (info.value.hint or "")
    assert _external_users(kit) == before


def test_a_refused_administrator_password_is_not_called_a_token_rejection(kit: StateDir) -> None:
    admin_file = kit.path / ADMIN_FILE
    saved = admin_file.read_text()
    kit.write_private(admin_file, json.dumps({**json.loads(saved), "password": "not-the-password"}))
    try:
        with pytest.raises(ServiceError) as info:
            authorization.authorize(kit, group="lesson-readers", roles=["read@test"])
    finally:
        kit.write_private(admin_file, saved)
    assert "the server refused the kit administrator's login (SCRAM-SHA-256, code 18)" in info.value.what
    assert str(admin_file) in info.value.what and "token" not in info.value.what
    assert "%wif_mongod stop, then %wif_mongod start" in (info.value.hint or "")
