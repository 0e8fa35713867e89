"""User and role management commands, run as the server runs them (privilege check + handler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wif_notebook.server.authz import AuthzStore
from wif_notebook.server.registry import AuthenticatedUser, CommandError

Run = Callable[..., dict[str, Any]]


def fails(run: Run, db: str, cmd: dict, users: list[AuthenticatedUser] | None = None) -> CommandError:
    with pytest.raises(CommandError) as err:
        run(db, cmd, users)
    return err.value


def test_create_external_user_without_password(run: Run, store: AuthzStore) -> None:
    assert (
        run("$external", {"createUser": "k8s/app", "roles": [{"role": "readWrite", "db": "test"}]})["ok"] == 1
    )
    doc = store.get_user("$external", "k8s/app")
    assert doc is not None and doc["credentials"] == {"external": True}


def test_external_user_with_password_is_refused(run: Run) -> None:
    err = fails(run, "$external", {"createUser": "x", "pwd": "p", "roles": []})
    assert (err.code, err.errmsg) == (
        2,
        "Cannot set the password for users defined on the '$external' database",
    )


def test_password_user_gets_scram_sha256_credentials(run: Run, store: AuthzStore) -> None:
    run("test", {"createUser": "bob", "pwd": "pw", "roles": ["read"]})
    doc = store.get_user("test", "bob")
    assert doc is not None
    assert set(doc["credentials"]) == {"SCRAM-SHA-256"}
    assert doc["roles"] == [{"role": "read", "db": "test"}]


def test_user_without_password_outside_external_is_refused(run: Run) -> None:
    err = fails(run, "test", {"createUser": "bob", "roles": []})
    assert err.code == 2
    assert err.errmsg.startswith("Must provide a 'pwd' field for all user documents")


def test_duplicate_user_is_refused_with_51003(run: Run) -> None:
    run("$external", {"createUser": "kit/a", "roles": []})
    err = fails(run, "$external", {"createUser": "kit/a", "roles": []})
    assert (err.code, err.errmsg) == (51003, 'User "kit/a@$external" already exists')


def test_unknown_role_is_refused_with_31(run: Run) -> None:
    err = fails(run, "$external", {"createUser": "kit/a", "roles": [{"role": "nope", "db": "admin"}]})
    assert (err.code, err.code_name, err.errmsg) == (31, "RoleNotFound", "Could not find role: nope@admin")


def test_missing_roles_field_is_reported_like_mongods_parser(run: Run) -> None:
    err = fails(run, "$external", {"createUser": "kit/a"})
    assert (err.code, err.errmsg) == (40414, "BSON field 'createUser.roles' is missing but a required field")


def test_roles_of_the_wrong_type_name_the_bson_type_as_mongod_does(run: Run) -> None:
    err = fails(run, "$external", {"createUser": "kit/a", "roles": "read"})
    assert (err.code, err.code_name, err.errmsg) == (
        14,
        "TypeMismatch",
        "BSON field 'createUser.roles' is the wrong type 'string', expected type 'array'",
    )


def test_drop_user_and_drop_missing_user(run: Run, store: AuthzStore) -> None:
    run("$external", {"createUser": "kit/a", "roles": []})
    run("$external", {"dropUser": "kit/a"})
    assert store.get_user("$external", "kit/a") is None
    err = fails(run, "$external", {"dropUser": "kit/a"})
    assert (err.code, err.errmsg) == (11, "User 'kit/a@$external' not found")


def test_grant_and_revoke_roles_to_user(run: Run, store: AuthzStore) -> None:
    run("$external", {"createUser": "kit/a", "roles": []})
    run("$external", {"grantRolesToUser": "kit/a", "roles": [{"role": "read", "db": "test"}]})
    run("$external", {"grantRolesToUser": "kit/a", "roles": [{"role": "readWrite", "db": "test"}]})
    doc = store.get_user("$external", "kit/a")
    assert doc is not None and len(doc["roles"]) == 2
    run("$external", {"revokeRolesFromUser": "kit/a", "roles": [{"role": "read", "db": "test"}]})
    doc = store.get_user("$external", "kit/a")
    assert doc is not None and doc["roles"] == [{"role": "readWrite", "db": "test"}]
    err = fails(
        run, "$external", {"grantRolesToUser": "kit/nobody", "roles": [{"role": "read", "db": "test"}]}
    )
    assert (err.code, err.errmsg) == (11, 'Could not find user "kit/nobody" for db "$external"')
    err = fails(run, "$external", {"grantRolesToUser": "kit/a", "roles": []})
    assert err.errmsg == 'grantRolesToUser command requires a non-empty "roles" array'


def test_users_info_never_shows_credentials_unless_asked(run: Run) -> None:
    run("test", {"createUser": "bob", "pwd": "pw", "roles": ["read"], "customData": {"team": "x"}})
    reply = run("test", {"usersInfo": "bob"})
    (user,) = reply["users"]
    assert user["_id"] == "test.bob" and user["user"] == "bob" and user["db"] == "test"
    assert "credentials" not in user
    assert user["mechanisms"] == ["SCRAM-SHA-256"]
    assert user["customData"] == {"team": "x"}
    shown = run("test", {"usersInfo": {"user": "bob", "db": "test"}, "showCredentials": True})["users"][0]
    assert "SCRAM-SHA-256" in shown["credentials"]


def test_users_info_forms(run: Run) -> None:
    run("$external", {"createUser": "kit/a", "roles": []})
    run("$external", {"createUser": "kit/b", "roles": [{"role": "read", "db": "test"}]})
    assert [u["user"] for u in run("$external", {"usersInfo": 1})["users"]] == ["kit/a", "kit/b"]
    assert [u["user"] for u in run("$external", {"usersInfo": ["kit/b", "kit/zzz"]})["users"]] == ["kit/b"]
    everyone = run("admin", {"usersInfo": {"forAllDBs": True}})["users"]
    assert {u["user"] for u in everyone} == {"admin", "kit/a", "kit/b"}
    with_privs = run("$external", {"usersInfo": "kit/b", "showPrivileges": True})["users"][0]
    assert with_privs["inheritedRoles"] == [{"role": "read", "db": "test"}]
    assert with_privs["inheritedPrivileges"]
    assert with_privs["mechanisms"] == ["external"]


def test_users_info_of_oneself_needs_no_privilege(run: Run) -> None:
    run("test", {"createUser": "bob", "pwd": "pw", "roles": []})
    bob = AuthenticatedUser(user="bob", db="test", mechanism="SCRAM-SHA-256")
    assert run("test", {"usersInfo": "bob"}, [bob])["users"][0]["user"] == "bob"
    err = fails(run, "test", {"usersInfo": "admin"}, [bob])
    assert err.code == 13


def test_create_role_and_roles_info(run: Run) -> None:
    run("admin", {"createRole": "kit/readers", "privileges": [], "roles": [{"role": "read", "db": "test"}]})
    (info,) = run("admin", {"rolesInfo": "kit/readers", "showPrivileges": True})["roles"]
    assert info["role"] == "kit/readers" and info["db"] == "admin" and info["isBuiltin"] is False
    assert info["roles"] == [{"role": "read", "db": "test"}]
    assert info["inheritedRoles"] == [{"role": "read", "db": "test"}]
    assert info["privileges"] == []
    assert any(p["resource"] == {"db": "test", "collection": ""} for p in info["inheritedPrivileges"])
    listed = run("admin", {"rolesInfo": 1})["roles"]
    assert [r["role"] for r in listed] == ["kit/readers"]
    with_builtin = run("admin", {"rolesInfo": 1, "showBuiltinRoles": True})["roles"]
    assert {"root", "read", "clusterMonitor", "kit/readers"} <= {r["role"] for r in with_builtin}
    (builtin,) = run("admin", {"rolesInfo": "root"})["roles"]
    assert builtin["isBuiltin"] is True and "privileges" not in builtin


def test_create_role_errors(run: Run) -> None:
    run("admin", {"createRole": "r", "privileges": [], "roles": []})
    assert fails(run, "admin", {"createRole": "r", "privileges": [], "roles": []}).errmsg == (
        'Role "r@admin" already exists'
    )
    assert fails(run, "admin", {"createRole": "read", "privileges": [], "roles": []}).errmsg == (
        "Cannot create roles with the same name as a built-in role"
    )
    assert fails(run, "$external", {"createRole": "x", "privileges": [], "roles": []}).errmsg == (
        "Cannot create roles in the $external database"
    )
    err = fails(run, "admin", {"createRole": "y", "privileges": [], "roles": ["missing"]})
    assert (err.code, err.errmsg) == (
        31,
        "Cannot grant roles to 'y@admin': Could not find role: missing@admin",
    )
    err = fails(
        run,
        "admin",
        {"createRole": "z", "roles": [], "privileges": [{"resource": {"cluster": True}, "actions": ["fly"]}]},
    )
    assert (err.code, err.errmsg) == (2, "Unknown action type in privilege set: 'fly'")
    err = fails(
        run,
        "test",
        {
            "createRole": "t",
            "roles": [],
            "privileges": [{"resource": {"cluster": True}, "actions": ["find"]}],
        },
    )
    assert err.code == 80
    assert err.errmsg == (
        "Roles on the 'test' database cannot be granted privileges that target other databases or the cluster"
    )


def test_role_graph_cycles_are_refused(run: Run) -> None:
    run("admin", {"createRole": "a", "privileges": [], "roles": []})
    run("admin", {"createRole": "b", "privileges": [], "roles": ["a"]})
    err = fails(run, "admin", {"grantRolesToRole": "a", "roles": ["b"]})
    assert (err.code, err.errmsg) == (
        80,
        "Granting roles to a@admin would introduce a cycle in the role graph",
    )
    err = fails(run, "admin", {"grantRolesToRole": "a", "roles": ["a"]})
    assert err.errmsg == "Cannot grant role a@admin to itself."


def test_privileges_can_be_granted_and_revoked(run: Run, store: AuthzStore) -> None:
    run("admin", {"createRole": "kit/app", "privileges": [], "roles": []})
    resource = {"db": "app", "collection": "orders"}
    run(
        "admin",
        {
            "grantPrivilegesToRole": "kit/app",
            "privileges": [{"resource": resource, "actions": ["find", "insert"]}],
        },
    )
    doc = store.get_role("admin", "kit/app")
    assert doc is not None and doc["privileges"] == [{"resource": resource, "actions": ["find", "insert"]}]
    run(
        "admin",
        {
            "revokePrivilegesFromRole": "kit/app",
            "privileges": [{"resource": resource, "actions": ["insert"]}],
        },
    )
    doc = store.get_role("admin", "kit/app")
    assert doc is not None and doc["privileges"] == [{"resource": resource, "actions": ["find"]}]
    err = fails(
        run,
        "admin",
        {"grantPrivilegesToRole": "root", "privileges": [{"resource": resource, "actions": ["find"]}]},
    )
    assert (err.code, err.errmsg) == (2, "root@admin is a built-in role and cannot be modified")


def test_update_role_replaces_roles_and_privileges(run: Run, store: AuthzStore) -> None:
    run("admin", {"createRole": "r", "privileges": [], "roles": ["readAnyDatabase"]})
    run("admin", {"updateRole": "r", "roles": [{"role": "read", "db": "test"}]})
    doc = store.get_role("admin", "r")
    assert doc is not None and doc["roles"] == [{"role": "read", "db": "test"}]
    assert (
        fails(run, "admin", {"updateRole": "r"}).errmsg
        == "Must specify at least one field to update in updateRole"
    )
    assert fails(run, "admin", {"updateRole": "nope", "roles": []}).code == 31


def test_drop_role_removes_it_from_users_and_roles(run: Run, store: AuthzStore) -> None:
    run("admin", {"createRole": "kit/readers", "privileges": [], "roles": ["readAnyDatabase"]})
    run("admin", {"createRole": "kit/all", "privileges": [], "roles": ["kit/readers"]})
    run("$external", {"createUser": "kit/a", "roles": [{"role": "kit/readers", "db": "admin"}]})
    run("admin", {"dropRole": "kit/readers"})
    assert store.get_role("admin", "kit/readers") is None
    all_role = store.get_role("admin", "kit/all")
    assert all_role is not None and all_role["roles"] == []
    user = store.get_user("$external", "kit/a")
    assert user is not None and user["roles"] == []
    assert fails(run, "admin", {"dropRole": "kit/readers"}).errmsg == "Could not find role: kit/readers@admin"


def test_revoke_roles_from_role(run: Run, store: AuthzStore) -> None:
    run("admin", {"createRole": "r", "privileges": [], "roles": ["readAnyDatabase", "clusterMonitor"]})
    run("admin", {"revokeRolesFromRole": "r", "roles": ["clusterMonitor"]})
    doc = store.get_role("admin", "r")
    assert doc is not None and doc["roles"] == [{"role": "readAnyDatabase", "db": "admin"}]


def test_user_management_without_privilege_is_unauthorized(run: Run) -> None:
    reader = AuthenticatedUser(
        user="kit/r", db="$external", mechanism="MONGODB-OIDC", roles=[("readAnyDatabase", "admin")]
    )
    err = fails(run, "admin", {"createRole": "r", "privileges": [], "roles": []}, [reader])
    assert err.code == 13
    assert err.errmsg.startswith('not authorized on admin to execute command { createRole: "r"')


def test_connection_status_command(run: Run) -> None:
    user = AuthenticatedUser(
        user="kit/a", db="$external", mechanism="MONGODB-OIDC", roles=[("kit/g", "admin")]
    )
    reply = run("admin", {"connectionStatus": 1}, [user])
    assert reply == {
        "authInfo": {
            "authenticatedUsers": [{"user": "kit/a", "db": "$external"}],
            "authenticatedUserRoles": [{"role": "kit/g", "db": "admin"}],
        },
        "ok": 1.0,
    }
    assert run("admin", {"connectionStatus": 1}, [])["authInfo"]["authenticatedUsers"] == []
