"""connect.py's four jobs live apart: granting roles, editing the server's providers and reading the
driver's errors work without the login module (its client registry and environment changes)."""

from __future__ import annotations

import subprocess
import sys


def test_authorization_providers_and_driver_errors_do_not_load_the_login_module() -> None:
    code = (
        "import sys\n"
        "import wif_notebook.authorization, wif_notebook.providers, wif_notebook.driver_errors\n"
        "print('wif_notebook.connect' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_pymongo_error_reads_as_plain_words_with_a_next_step() -> None:
    from pymongo.errors import OperationFailure

    from wif_notebook.driver_errors import explain_error

    error = explain_error(OperationFailure("not authorized on test to execute command", code=13))
    assert error.what.startswith("not authorized: not authorized on test")
    assert error.hint is not None and "%wif_authorize" in error.hint
