"""Privileges: built-in roles, inheritance, the check before every command, connectionStatus."""

from __future__ import annotations

import uuid

import pytest
from bson.int64 import Int64
from bson.objectid import ObjectId

from wif_notebook.server.authz import (
    AuthzStore,
    Requirement,
    Resource,
    bson_to_string,
    check_privileges,
    connection_status,
    is_authorized,
)
from wif_notebook.server.registry import AuthenticatedUser, CommandError


def oidc_user(*roles: str, name: str = "kit/alice") -> AuthenticatedUser:
    return AuthenticatedUser(
        user=name, db="$external", mechanism="MONGODB-OIDC", roles=[(r, "admin") for r in roles]
    )


def role(store: AuthzStore, name: str, *, roles: list[dict[str, str]] | None = None, privileges=None) -> None:
    store.insert_role(
        {
            "_id": f"admin.{name}",
            "role": name,
            "db": "admin",
            "privileges": privileges or [],
            "roles": roles or [],
        }
    )


def allowed(store: AuthzStore, user: AuthenticatedUser, db: str, cmd: dict) -> bool:
    try:
        check_privileges(store, [user], db, next(iter(cmd)), cmd)
    except CommandError as exc:
        assert exc.code == 13
        return False
    return True


@pytest.mark.parametrize(
    ("builtin", "db", "cmd", "expected"),
    [
        ("read", "test", {"find": "c"}, True),
        ("read", "test", {"insert": "c"}, False),
        ("read", "other", {"find": "c"}, False),
        ("read", "test", {"listCollections": 1}, True),
        ("readWrite", "test", {"insert": "c"}, True),
        ("readWrite", "test", {"delete": "c"}, True),
        ("readWrite", "test", {"drop": "c"}, True),
        ("readWrite", "test", {"createUser": "x", "roles": []}, False),
        ("dbAdmin", "test", {"find": "c"}, False),
        ("dbAdmin", "test", {"find": "system.profile"}, True),
        ("dbAdmin", "test", {"dropDatabase": 1}, True),
        ("userAdmin", "test", {"createUser": "x", "roles": []}, True),
        ("userAdmin", "test", {"find": "c"}, False),
        ("dbOwner", "test", {"insert": "c"}, True),
        ("dbOwner", "test", {"createRole": "r", "roles": [], "privileges": []}, True),
        ("dbOwner", "test", {"dropDatabase": 1}, True),
        ("dbOwner", "test", {"serverStatus": 1}, False),
    ],
)
def test_database_roles_grant_the_manuals_actions(
    store: AuthzStore, builtin: str, db: str, cmd: dict, expected: bool
) -> None:
    user = AuthenticatedUser(user="u", db="test", mechanism="SCRAM-SHA-256", roles=[(builtin, "test")])
    assert allowed(store, user, db, cmd) is expected


@pytest.mark.parametrize(
    ("builtin", "db", "cmd", "expected"),
    [
        ("readAnyDatabase", "anydb", {"find": "c"}, True),
        ("readAnyDatabase", "anydb", {"insert": "c"}, False),
        ("readAnyDatabase", "anydb", {"find": "system.users"}, False),
        (
            "readWriteAnyDatabase",
            "anydb",
            {"update": "c", "updates": [{"q": {}, "u": {}, "upsert": True}]},
            True,
        ),
        ("userAdminAnyDatabase", "anydb", {"createUser": "x", "roles": []}, True),
        ("userAdminAnyDatabase", "anydb", {"find": "c"}, False),
        ("dbAdminAnyDatabase", "anydb", {"dropDatabase": 1}, True),
        ("clusterMonitor", "admin", {"serverStatus": 1}, True),
        ("clusterMonitor", "admin", {"getCmdLineOpts": 1}, True),
        ("clusterMonitor", "admin", {"getLog": "global"}, True),
        ("clusterMonitor", "admin", {"oidcListKeys": 1}, True),
        ("clusterMonitor", "admin", {"oidcRefreshKeys": 1}, False),
        ("clusterMonitor", "admin", {"killAllSessions": []}, False),
        ("clusterMonitor", "test", {"find": "c"}, False),
        ("clusterAdmin", "admin", {"oidcRefreshKeys": 1}, True),
        ("clusterAdmin", "admin", {"killAllSessions": []}, True),
        ("clusterAdmin", "admin", {"serverStatus": 1}, True),
        ("root", "anydb", {"find": "c"}, True),
        ("root", "anydb", {"insert": "c"}, True),
        ("root", "admin", {"oidcRefreshKeys": 1}, True),
        ("root", "anydb", {"createRole": "r", "roles": [], "privileges": []}, True),
    ],
)
def test_admin_roles_grant_the_manuals_actions(
    store: AuthzStore, builtin: str, db: str, cmd: dict, expected: bool
) -> None:
    assert allowed(store, oidc_user(builtin), db, cmd) is expected


def test_any_database_roles_exist_only_in_admin(store: AuthzStore) -> None:
    user = AuthenticatedUser(user="u", db="test", mechanism="SCRAM-SHA-256", roles=[("root", "test")])
    assert not allowed(store, user, "test", {"find": "c"})


def test_token_role_without_a_role_document_grants_nothing_but_is_listed(store: AuthzStore) -> None:
    user = oidc_user("kit/readers")
    assert not allowed(store, user, "test", {"find": "c"})
    info = connection_status(store, [user])
    assert info["authenticatedUserRoles"] == [{"role": "kit/readers", "db": "admin"}]


def test_group_role_inherits_privileges_from_its_roles(store: AuthzStore) -> None:
    role(store, "kit/readers", roles=[{"role": "read", "db": "test"}])
    role(store, "kit/everyone", roles=[{"role": "kit/readers", "db": "admin"}])
    user = oidc_user("kit/everyone")
    assert allowed(store, user, "test", {"find": "c"})
    assert not allowed(store, user, "test", {"insert": "c"})
    info = connection_status(store, [user])
    assert info["authenticatedUsers"] == [{"user": "kit/alice", "db": "$external"}]
    assert info["authenticatedUserRoles"] == [
        {"role": "kit/everyone", "db": "admin"},
        {"role": "kit/readers", "db": "admin"},
        {"role": "read", "db": "test"},
    ]


def test_role_cycle_does_not_hang_the_check(store: AuthzStore) -> None:
    role(store, "a", roles=[{"role": "b", "db": "admin"}])
    role(
        store,
        "b",
        roles=[{"role": "a", "db": "admin"}],
        privileges=[{"resource": {"db": "test", "collection": "c"}, "actions": ["find"]}],
    )
    assert allowed(store, oidc_user("a"), "test", {"find": "c"})
    assert not allowed(store, oidc_user("a"), "test", {"find": "d"})


def test_direct_privileges_on_one_collection(store: AuthzStore) -> None:
    role(
        store,
        "kit/billing",
        privileges=[{"resource": {"db": "billing", "collection": "invoices"}, "actions": ["find", "insert"]}],
    )
    user = oidc_user("kit/billing")
    assert allowed(store, user, "billing", {"find": "invoices"})
    assert allowed(store, user, "billing", {"insert": "invoices"})
    assert not allowed(store, user, "billing", {"find": "payroll"})
    assert not allowed(store, user, "billing", {"update": "invoices", "updates": []})


def test_upsert_needs_insert_as_well_as_update(store: AuthzStore) -> None:
    role(
        store,
        "kit/updaters",
        privileges=[{"resource": {"db": "test", "collection": ""}, "actions": ["update"]}],
    )
    user = oidc_user("kit/updaters")
    assert allowed(store, user, "test", {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}}]})
    assert not allowed(
        store, user, "test", {"update": "c", "updates": [{"q": {}, "u": {"$set": {"a": 1}}, "upsert": True}]}
    )


def test_aggregate_with_out_needs_write_on_the_target(store: AuthzStore) -> None:
    user = AuthenticatedUser(user="u", db="test", mechanism="SCRAM-SHA-256", roles=[("read", "test")])
    assert allowed(store, user, "test", {"aggregate": "c", "pipeline": [{"$match": {}}], "cursor": {}})
    assert not allowed(store, user, "test", {"aggregate": "c", "pipeline": [{"$out": "d"}], "cursor": {}})


def test_denied_command_says_not_authorized_with_the_command_as_mongod_prints_it(store: AuthzStore) -> None:
    session = uuid.UUID("8a1b2c3d-0000-4000-8000-000000000001")
    cmd = {"find": "c", "filter": {"a": Int64(1), "x": 2.0}, "lsid": {"id": session}, "$db": "test"}
    with pytest.raises(CommandError) as err:
        check_privileges(store, [oidc_user("kit/readers")], "test", "find", cmd)
    assert err.value.code == 13
    assert err.value.code_name == "Unauthorized"
    assert err.value.errmsg == (
        'not authorized on test to execute command { find: "c", filter: { a: 1, x: 2.0 }, '
        'lsid: { id: UUID("8a1b2c3d-0000-4000-8000-000000000001") }, $db: "test" }'
    )


def test_denied_createuser_message_hides_the_password(store: AuthzStore) -> None:
    with pytest.raises(CommandError) as err:
        check_privileges(
            store,
            [oidc_user("kit/x")],
            "test",
            "createUser",
            {"createUser": "bob", "pwd": "s3cret", "roles": []},
        )
    assert "s3cret" not in err.value.errmsg
    assert 'pwd: "xxx"' in err.value.errmsg


def test_unauthenticated_command_requires_authentication(store: AuthzStore) -> None:
    with pytest.raises(CommandError) as err:
        check_privileges(store, [], "test", "find", {"find": "c"})
    assert (err.value.code, err.value.errmsg) == (13, "Command find requires authentication")


@pytest.mark.parametrize(
    "name",
    [
        "hello",
        "isMaster",
        "ping",
        "buildInfo",
        "saslStart",
        "connectionStatus",
        "configureFailPoint",
    ],
)
def test_handshake_and_test_commands_need_no_authentication(store: AuthzStore, name: str) -> None:
    check_privileges(store, [], "admin", name, {name: 1})


def test_user_document_roles_apply_immediately(store: AuthzStore) -> None:
    from wif_notebook.server.authz import new_user_document

    store.insert_user(new_user_document("k8s/app", "$external", []))
    user = AuthenticatedUser(user="k8s/app", db="$external", mechanism="MONGODB-OIDC")
    assert not allowed(store, user, "test", {"find": "c"})
    doc = store.get_user("$external", "k8s/app")
    assert doc is not None
    doc["roles"] = [{"role": "readWrite", "db": "test"}]
    store.replace_user(doc)
    assert allowed(store, user, "test", {"insert": "c"})


def test_connection_status_shows_privileges_when_asked(store: AuthzStore) -> None:
    info = connection_status(store, [oidc_user("readAnyDatabase")], show_privileges=True)
    privs = info["authenticatedUserPrivileges"]
    cluster = [p for p in privs if p["resource"] == {"cluster": True}]
    assert cluster and "listDatabases" in cluster[0]["actions"]
    assert connection_status(store, []) == {"authenticatedUsers": [], "authenticatedUserRoles": []}


def test_resource_patterns_match_like_mongod(store: AuthzStore) -> None:
    role(store, "anyc", privileges=[{"resource": {"db": "", "collection": "c"}, "actions": ["find"]}])
    user = oidc_user("anyc")
    assert is_authorized(store, [user], Requirement(Resource.namespace("x", "c"), ("find",)))
    assert not is_authorized(store, [user], Requirement(Resource.namespace("x", "d"), ("find",)))
    assert not is_authorized(store, [user], Requirement(Resource.database("x"), ("find",)))


def test_bson_to_string_renders_mongod_types() -> None:
    oid = ObjectId("65a1b2c3d4e5f6a7b8c9d0e1")
    assert bson_to_string({}) == "{}"
    assert bson_to_string({"a": [1, "x", None, True], "o": oid, "e": []}) == (
        "{ a: [ 1, \"x\", null, true ], o: ObjectId('65a1b2c3d4e5f6a7b8c9d0e1'), e: [] }"
    )
