"""Privileges are declared where a command is registered, and a command without a declaration is
refused to everyone (fails closed), the administrator included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wif_notebook.server import registry
from wif_notebook.server.authz import AuthzStore, Requirement, check_privileges
from wif_notebook.server.privileges import AUTHENTICATED, NO_AUTH
from wif_notebook.server.registry import COMMANDS, AuthenticatedUser, CommandError, command

# mongod's commands whose requiresAuth() is false (handshake, login, and the test-only failpoint).
MONGOD_NO_AUTH = {
    "hello",
    "isMaster",
    "ismaster",
    "buildInfo",
    "buildinfo",
    "ping",
    "whatsmyuri",
    "saslStart",
    "saslContinue",
    "connectionStatus",
    "configureFailPoint",
}


def test_every_registered_command_declares_its_privileges() -> None:
    undeclared = sorted(name for name, spec in COMMANDS.items() if spec.privileges is None)
    assert undeclared == [], f"registered without a privilege declaration: {undeclared}"


def test_only_mongods_unauthenticated_commands_skip_authentication() -> None:
    no_auth = {name for name, spec in COMMANDS.items() if not spec.requires_auth}
    assert no_auth == MONGOD_NO_AUTH
    assert all(COMMANDS[name].privileges is NO_AUTH for name in no_auth)


def test_every_declaration_answers_mongods_requirements_for_its_command() -> None:
    """A declaration is a rule the check runs: for each command it yields privileges to check."""
    for name, spec in COMMANDS.items():
        assert spec.privileges is not None
        required = spec.privileges.rule("test", {name: "c"})
        assert all(isinstance(r, Requirement) for r in required), name
        if spec.privileges is NO_AUTH or spec.privileges is AUTHENTICATED:
            assert required == [], name


@pytest.fixture
def undeclared_command() -> Iterator[str]:
    """A handler registered the way a new command would be, forgetting its privileges."""
    name = "wifUndeclaredExample"
    command(name)(lambda ctx, cmd: {"ok": 1.0})
    try:
        yield name
    finally:
        del registry.COMMANDS[name]


def test_a_command_registered_without_a_declaration_is_refused_even_to_root(
    store: AuthzStore, admin_user: AuthenticatedUser, undeclared_command: str
) -> None:
    with pytest.raises(CommandError) as info:
        check_privileges(store, [admin_user], "admin", undeclared_command, {undeclared_command: 1})
    assert info.value.code == 13
    assert info.value.errmsg.startswith(f"not authorized on admin to execute command {{ {undeclared_command}")


def test_a_command_registered_without_a_declaration_still_asks_for_a_login_first(
    store: AuthzStore, undeclared_command: str
) -> None:
    with pytest.raises(CommandError) as info:
        check_privileges(store, [], "admin", undeclared_command, {undeclared_command: 1})
    assert info.value.errmsg == f"Command {undeclared_command} requires authentication"
