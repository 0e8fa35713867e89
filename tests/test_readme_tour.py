"""The README's first commands stay as they are, and its terminal tour works as written, in one shell."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
FIRST_COMMANDS = [
    "./dev.sh lab     # set up (.venv from PyPI) and run the kit: IdP + test mongod on their defaults, "
    "JupyterLab on the lessons",
    "./dev.sh test    # set up (.venv from PyPI, npm peers) and run the whole test suite: ruff, mypy, pytest",
]


def _bash_blocks() -> list[list[str]]:
    return [
        block.strip("\n").splitlines() for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    ]


def test_the_first_two_commands_are_unchanged() -> None:
    assert _bash_blocks()[0] == FIRST_COMMANDS


def test_the_tour_says_where_to_run_it_while_dev_sh_lab_holds_its_terminal() -> None:
    text = " ".join(README.read_text().split())
    assert "while it runs, **open a second terminal** for the tour" in text
    assert "`./dev.sh lab` keeps its own terminal for JupyterLab until you press Ctrl-C" in text


def _commands(block: list[str]) -> list[str]:
    """The block's shell commands: a line that opens a quote continues until the quote closes."""
    commands: list[str] = []
    pending = ""
    for line in block:
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)  # a quote still open raises: the command goes on
        except ValueError:
            continue
        commands.append(pending)
        pending = ""
    assert not pending, f"an unclosed quote in the README tour: {pending}"
    return commands


def test_the_terminal_tour_runs_as_written_in_one_shell(tmp_path: Path) -> None:
    tour = _commands(next(block for block in _bash_blocks() if block[0].startswith("wif up")))
    # As written, except: free ports (a test never takes the defaults) and a private temp folder.
    script = "\n".join(
        command.replace("wif up ", "wif up --idp-port 0 --port 0 ", 1).replace("/tmp/", f"{tmp_path}/")
        + '\necho "exit $?"'
        for command in tour
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wif").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m wif_notebook "$@"\n')
    (bin_dir / "wif").chmod(0o755)
    # The tour runs in the kit's activated venv: `python` is the venv's (with the vendor SDKs).
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WIF_STATE_DIR": str(tmp_path / "state"),
    }
    # In the temp folder: the tour writes files where it runs (wif export ... --out prod/).
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    codes = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("exit ")]
    # Every command succeeds but two: the wrong-audience pipe (refused: 1) and the doctor (1: it
    # diagnoses the token `wif claims` just refused).
    expected = [1 if "--fault" in command or command.startswith("wif doctor") else 0 for command in tour]
    assert codes == expected, done.stdout + done.stderr
    assert "eyJhbGciOi…" in done.stdout, "google-auth fetched the workload's ID token"
    assert "FAIL  audience" in done.stdout and "FAILED [audience]" in done.stdout
    assert oct((tmp_path / "t.jwt").stat().st_mode & 0o777) == "0o600"
