"""%wif_connect's Python side: a real MongoClient logged in with MONGODB-OIDC, for every token source."""

from __future__ import annotations

import os

import pytest
from pymongo.errors import InvalidOperation, OperationFailure

from wif_notebook import authorization, cloudsim, connect, providers
from wif_notebook.errors import ConfigError, ServiceError, TokenError
from wif_notebook.idp.issuers import AZURE_GROUPS
from wif_notebook.idp.principals import find
from wif_notebook.state import StateDir


def _status(conn: connect.Connection) -> dict:
    return conn.client.admin.command("connectionStatus")["authInfo"]


def test_env_test_logs_in_with_the_token_file_and_shows_user_and_roles(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="test")
    assert _status(conn)["authenticatedUsers"] == [{"user": "kit/lesson-app", "db": "$external"}]
    assert conn.roles == [{"role": "kit/lesson-readers", "db": "admin"}]
    shown = str(conn)
    assert "kit/lesson-app@$external" in shown and "kit/lesson-readers@admin" in shown
    assert os.environ["OIDC_TOKEN_FILE"] in conn.token_source
    assert [s.name for s in conn.steps] == ["token fetch", "connect + authenticate", "first command"]
    assert all(s.ms is not None and s.ms >= 0 for s in conn.steps)


def test_env_test_for_another_principal_writes_its_token_file(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="test", principal="billing-api")
    assert conn.user == "kit/billing-api"
    path = os.environ["OIDC_TOKEN_FILE"]
    assert path.endswith("tokens/connect/billing-api.jwt")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_env_k8s_reads_the_projected_token_through_azure_federated_token_file(kit: StateDir) -> None:
    authorization.authorize(kit, principal="orders-worker", roles=["read@test"])
    conn = connect.connect(state=kit, env="k8s")
    assert conn.user == "k8s/system:serviceaccount:shop:orders-worker"
    assert conn.roles == [{"role": "read", "db": "test"}]
    assert os.environ["AZURE_FEDERATED_TOKEN_FILE"].endswith("kubernetes.io/serviceaccount/token")
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" not in os.environ  # pymongo would let it win


def test_env_azure_runs_pymongos_imds_code_against_the_kit(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="azure")
    vm = find(kit, "inventory-vm")  # the IdP's default managed identity
    assert conn.user == f"azure/{vm.subject}"
    assert conn.roles == [{"role": f"azure/{AZURE_GROUPS['inventory-readers']}", "db": "admin"}]
    [fetch] = cloudsim.requests()
    assert fetch.url.startswith("http://169.254.169.254/metadata/identity/oauth2/token?")
    assert "169.254.169.254" in conn.token_source and conn.steps[0].detail.startswith("1 metadata request")


def test_env_azure_with_a_principal_simulates_a_vm_with_that_identity(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="azure", principal="orders-identity")
    assert conn.user == f"azure/{find(kit, 'orders-identity').subject}"


def test_env_gcp_runs_pymongos_metadata_code_against_the_kit(kit: StateDir) -> None:
    authorization.authorize(kit, principal="gce-worker", roles=["read@test"])
    conn = connect.connect(state=kit, env="gcp")
    assert conn.user == f"gcp/{find(kit, 'gce-worker').subject}"
    assert conn.roles == [{"role": "read", "db": "test"}]
    [fetch] = cloudsim.requests()
    assert fetch.url.startswith(
        "http://metadata/computeMetadata/v1/instance/service-accounts/default/identity"
    )


def test_callback_obtains_tokens_through_the_kit(kit: StateDir) -> None:
    conn = connect.connect(state=kit, callback=True, principal="billing-api")
    assert conn.user == "kit/billing-api"
    assert {"role": "kit/billing-writers", "db": "admin"} in conn.roles
    assert "OIDC_CALLBACK" in conn.token_source and conn.steps[0].detail == "1 callback call(s)"


def test_the_registry_closes_clients_and_switches_the_simulation_off(kit: StateDir) -> None:
    conn = connect.connect(state=kit, env="azure")
    assert connect.connections() == [conn] and cloudsim.active()
    assert connect.close_all() == 1
    assert connect.connections() == [] and not cloudsim.active()
    with pytest.raises(InvalidOperation):
        conn.client.admin.command("ping")


def test_a_real_uri_is_never_emulated(kit: StateDir) -> None:
    os.environ.pop("OIDC_TOKEN_FILE", None)
    with pytest.raises(ServiceError) as info:
        connect.connect(
            "mongodb://127.0.0.1:9/?directConnection=true",
            env="azure",
            resource="api://x",
            state=kit,
            timeout_ms=300,
        )
    assert "cannot reach the server" in info.value.what
    assert not cloudsim.active() and "OIDC_TOKEN_FILE" not in os.environ
    failure = connect.last_failure()
    assert failure is not None and failure.kit is False


def test_a_real_uri_with_azure_needs_a_resource(kit: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        connect.connect("mongodb+srv://cluster0.example.mongodb.net/", env="azure", state=kit)
    assert "TOKEN_RESOURCE" in info.value.what


def test_a_rejected_token_becomes_authentication_failed_with_the_doctor_as_next_step(kit: StateDir) -> None:
    with pytest.raises(TokenError) as info:
        connect.connect(state=kit, callback=True, fault="expired")
    assert info.value.what == "authentication failed: the server rejected the token"
    assert "%wif_doctor" in (info.value.hint or "")
    failure = connect.last_failure()
    assert failure is not None and failure.code == 18 and failure.token


def test_authorize_maps_a_group_to_a_role_that_then_allows_writes(
    kit: StateDir, lesson_readers_role: str
) -> None:
    conn = connect.connect(state=kit, callback=True, principal="no-groups-app")
    assert conn.roles == []
    lesson = connect.connect(state=kit, env="test")
    with pytest.raises(OperationFailure) as info:
        lesson.client.wifnb.things.insert_one({"_id": 1})
    assert info.value.code == 13
    done = authorization.authorize(kit, group="lesson-readers", privileges=["wifnb.things:insert,find"])
    assert done.name == lesson_readers_role and "createRole" in done.command
    lesson.client.wifnb.things.insert_one({"_id": 1})
    assert lesson.client.wifnb.things.find_one() == {"_id": 1}
    again = authorization.authorize(kit, group="lesson-readers", roles=["readWrite@wifnb"])
    assert again.created is False
    # What mongosh would run to do the same: an update now, in mongosh's JSON (true, not True).
    assert again.command.startswith('db.getSiblingDB("admin").updateRole("kit/lesson-readers", ')
    assert "True" not in done.command and '"privileges": [{"resource"' in done.command


def test_a_group_role_for_entra_v1_is_named_by_the_groups_object_id_as_for_v2(kit: StateDir) -> None:
    v2 = authorization.authorize(kit, group="inventory-readers", prefix="azure", roles=["read@inventory"])
    v1 = authorization.authorize(kit, group="inventory-readers", prefix="azure-v1", roles=["read@inventory"])
    object_id = v2.name.split("/", 1)[1]
    assert object_id != "inventory-readers" and v1.name == f"azure-v1/{object_id}"


def test_set_provider_is_validated_with_mongods_message(kit: StateDir) -> None:
    with pytest.raises(ConfigError) as info:
        providers.set_provider(kit, "kit", {"JWKSPollSecs": "often"})
    assert "BSON field 'IDPConfiguration.JWKSPollSecs' is the wrong type" in info.value.what
    with pytest.raises(ConfigError):
        providers.set_provider(kit, "nope", {"audience": "x"})
