"""The kit's real services for the notebook layer: one IdP + test mongod per test session (port 0s).

Tests that break the services (stopping the IdP or mongod) start their own with ``fresh_kit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.kit import running_kit
from _support.shell import magic_shell as shell_on
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook.state import StateDir


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    """Running IdP and test mongod in a temporary state directory."""
    with running_kit(tmp_path_factory.mktemp("notebook") / "state") as state:
        yield state


@pytest.fixture
def fresh_kit(tmp_path: Path) -> Iterator[StateDir]:
    """A kit of its own, for tests that stop a service."""
    with running_kit(tmp_path / "state") as state:
        yield state


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    """Every test starts and ends with no clients, no cloud simulation and no recorded failure."""
    from wif_notebook import connect

    connect.close_all()
    yield
    connect.close_all()


@pytest.fixture
def lesson_readers_role(kit: StateDir) -> Iterator[str]:
    """The role the ``lesson-readers`` group maps to on the session kit (``kit/lesson-readers``),
    absent when the test starts and removed again when it ends (with the documents it let the test
    write), so a test that creates it does not depend on which test ran before it."""
    from wif_notebook.authorization import admin_client

    name = "kit/lesson-readers"

    def forget() -> None:
        with admin_client(kit) as client:
            if client.admin.command("rolesInfo", name)["roles"]:
                client.admin.command("dropRole", name)
            client.drop_database("wifnb")

    forget()
    yield name
    forget()


@pytest.fixture(scope="module")
def magic_shell(kit: StateDir) -> Any:
    """A real IPython shell with the extension loaded, on the session kit."""
    shell = shell_on(kit)
    shell.run_line_magic("config", "WifMagics.show_raw_tokens = False")
    return shell


def run_magic(shell: Any, line: str) -> list[dict[str, Any]]:
    """Run one line magic; every rich output it displayed (MIME bundles)."""
    from IPython.utils.capture import capture_output

    name, _, rest = line.lstrip("%").partition(" ")
    with capture_output() as captured:
        shell.run_line_magic(name, rest)
    return [o.data for o in captured.outputs]


class FixedToken(OIDCCallback):
    """An OIDC_CALLBACK that hands pymongo one given token (a workload whose token source is fixed)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
        return OIDCCallbackResult(access_token=self.token)
