"""An error printed by `wif` in a terminal names `wif` commands where the notebook's hint names magics
(``cli.for_terminal``); the notebook's text stays as written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pymongo.errors import OperationFailure

from wif_notebook.cli import TERMINAL_EQUIVALENTS, build_parser, for_terminal
from wif_notebook.driver_errors import explain_error
from wif_notebook.magics import WifMagics
from wif_notebook.server.authz import ADMIN_FILE
from wif_notebook.state import StateDir


def test_a_driver_errors_hint_names_wif_doctor_in_a_terminal() -> None:
    error = explain_error(OperationFailure("not authorized on test to execute command", code=13))
    assert error.hint is not None and error.hint.startswith("run %wif_doctor")  # the notebook's text
    assert for_terminal(error.hint) == (
        "run wif doctor to see which role or privilege is missing; "
        "wif authorize --group G --role R grants one"
    )


def test_a_magic_without_a_wif_command_stays_as_written() -> None:
    for text in [
        "%wif_mongod set kit audience=api://x",
        "configure providers with %wif_mongod",
        "run %wif_connect again",
        "%wif_flow --all-clients shows every client",
    ]:
        assert for_terminal(text) == text


def test_a_hint_that_already_names_the_wif_command_is_not_doubled() -> None:
    text = "start it with %wif_up (or `wif up`), then %wif_doctor"
    assert for_terminal(text) == "start it with %wif_up (or `wif up`), then wif doctor"


def test_every_equivalent_is_a_magic_and_a_wif_command(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    for line in TERMINAL_EQUIVALENTS:
        assert hasattr(WifMagics, "wif_" + line.split()[0]), line
        with pytest.raises(SystemExit) as done:  # --help exits 0 for a command argparse knows, else 2
            parser.parse_args([*line.split(), "--help"])
        assert done.value.code == 0, line
    capsys.readouterr()


def test_wif_prints_the_administrator_refused_hint_with_wif_commands(kit: StateDir) -> None:
    admin_file = kit.path / ADMIN_FILE
    saved = admin_file.read_text()
    kit.write_private(admin_file, json.dumps({**json.loads(saved), "password": "not-the-password"}))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "wif_notebook",
                *"authorize --group lesson-readers --role read@test".split(),
                "--state-dir",
                str(kit.path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        kit.write_private(admin_file, saved)
    assert done.returncode == 1
    assert done.stderr.startswith("wif: the server refused the kit administrator's login")
    # The notebook's "%wif_reset then %wif_up"; the part already written for both stays as it was.
    assert "start over with wif reset then wif up" in done.stderr
    assert "(%wif_mongod stop, then %wif_mongod start; `wif mongod stop` / `wif mongod start`)" in done.stderr
