"""pymongo's errors in plain words with the next step (``driver_errors.explain_error``)."""

from __future__ import annotations

from pathlib import Path

from pymongo.errors import OperationFailure

from wif_notebook.driver_errors import explain_error
from wif_notebook.errors import ServiceError


def test_a_refused_command_reads_as_not_authorized_with_the_grant_to_make() -> None:
    error = explain_error(OperationFailure("not authorized on test to execute command", code=13))
    assert error.what.startswith("not authorized: not authorized on test")
    assert error.hint is not None and "%wif_authorize" in error.hint


def test_code_18_for_the_administrators_login_names_its_password_not_a_token(tmp_path: Path) -> None:
    admin_file = tmp_path / "admin.json"
    error = explain_error(
        OperationFailure("Authentication failed.", code=18), kit=True, admin_credentials=admin_file
    )
    assert isinstance(error, ServiceError)
    assert error.what.startswith("the server refused the kit administrator's login")
    assert str(admin_file) in error.what and "token" not in error.what
    assert error.hint is not None and "%wif_reset" in error.hint
