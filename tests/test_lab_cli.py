"""`./dev.sh lab` runs `wif lab`: services and JupyterLab in one terminal; when JupyterLab ends
(Ctrl-C), the services it started are stopped and it says so, and those it found running keep
running, with how to stop them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wif_notebook import stack
from wif_notebook.idp.service import idp_record, start_idp, stop_idp
from wif_notebook.state import StateDir

START_TIMEOUT = 90.0  # JupyterLab's first start on a busy machine
DEV_SH = Path(__file__).resolve().parents[1] / "dev.sh"


def test_dev_sh_lab_runs_wif_lab() -> None:
    text = DEV_SH.read_text()
    assert re.search(r'exec "\$VENV/bin/wif" lab .*-- --notebook-dir=notebooks', text)


@pytest.mark.parametrize("interrupt", ["process group", "wif lab alone"])
def test_an_interrupt_ends_jupyterlab_and_stops_only_what_wif_lab_started(
    tmp_path: Path, interrupt: str
) -> None:
    state = StateDir(tmp_path / "state")
    start_idp(state)  # already running before: it must keep running
    out = tmp_path / "lab.out"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_PLATFORM_DIRS": "1"}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wif_notebook",
                "lab",
                "--state-dir",
                str(state.path),
                "--port",
                "0",
                "--",
                "--no-browser",
                "--ServerApp.port=0",
                f"--notebook-dir={tmp_path}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "is running at" not in out.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.2)
        assert proc.poll() is None, out.read_text()[-3000:]
        assert stack.status(state)["mongod"]["running"]
        if interrupt == "process group":
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole job
        else:
            proc.send_signal(signal.SIGINT)  # a supervisor's interrupt: JupyterLab must end too
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.read_text()
    assert "wif lab: mongod started" in text
    assert "wif lab: stopped the test mongod (this command started it)" in text
    assert "wif lab: the IdP keeps running (it was running before); `wif down` stops both" in text
    assert not stack.status(state)["mongod"]["running"]
    assert idp_record(state) is not None
    stop_idp(state)


def test_with_stdin_closed_wif_lab_runs_jupyterlab_as_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wif_notebook import lab_cli

    monkeypatch.setattr(sys, "stdin", None)  # what `wif lab <&-` gives Python
    assert lab_cli._in_terminal() is False
