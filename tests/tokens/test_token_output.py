"""`wif token` on a terminal warns that it prints a live credential; `-o FILE` writes it 0600."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import sys
from pathlib import Path

from wif_notebook.state import StateDir


def _wif_on_a_terminal(state: StateDir, *args: str) -> tuple[int, str, str]:
    """Run `wif` with stdout on a pseudo-terminal (as in an interactive shell); (rc, tty text, stderr)."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wif_notebook", *args, "--state-dir", str(state.path)],
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(terminal)
        terminal = -1
        _, err = proc.communicate(timeout=60)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    return proc.returncode, shown.decode(), err


def test_wif_token_on_a_terminal_warns_on_stderr_then_prints_the_token(idp_state: StateDir) -> None:
    rc, shown, err = _wif_on_a_terminal(idp_state, "token", "billing-api")
    assert rc == 0, err
    assert shown.strip().startswith("eyJ")
    assert "live bearer token" in err and "-o FILE" in err


def test_wif_token_into_a_pipe_prints_only_the_token(idp_state: StateDir) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wif_notebook", "token", "billing-api", "--state-dir", str(idp_state.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == "" and done.stdout.startswith("eyJ")


def test_wif_token_o_writes_a_0600_file_and_prints_no_token(idp_state: StateDir, tmp_path: Path) -> None:
    target = tmp_path / "token.jwt"
    target.write_text("old")
    os.chmod(target, 0o644)  # a file a shell redirect left readable by others
    rc, shown, err = _wif_on_a_terminal(idp_state, "token", "billing-api", "-o", str(target))
    assert rc == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    token = target.read_text().strip()
    assert token.startswith("eyJ") and token.count(".") == 2
    assert token not in shown + err
    assert f"to {target} (mode 0600)" in err and "eyJhbGciOi…[redacted]" in err
