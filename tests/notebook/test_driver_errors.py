"""pymongo's errors in plain words with the next step (``driver_errors.explain_error``)."""

from __future__ import annotations

from pymongo.errors import OperationFailure

from wif_notebook.driver_errors import explain_error


def test_a_refused_command_reads_as_not_authorized_with_the_grant_to_make() -> None:
    error = explain_error(OperationFailure("not authorized on test to execute command", code=13))
    assert error.what.startswith("not authorized: not authorized on test")
    assert error.hint is not None and "%wif_authorize" in error.hint
