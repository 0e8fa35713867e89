"""Browser tests: real JupyterLab in Debian's Chromium, driven by Playwright (no browser download).

``lab`` starts one JupyterLab server per test session on a free loopback port, serving a temporary
root folder, with its own state directory; ``page`` is a fresh Chromium page per test.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from _support.chromium import CHROMIUM, CHROMIUM_ARGS, require_chromium


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    state_dir: Path

    def lab_url(self, path: str = "") -> str:
        if path:
            return f"{self.url}/lab/tree/{path}?token={self.token}"
        return f"{self.url}/lab?token={self.token}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_lab(
    python: str | Path, root: Path, state_dir: Path, home: Path, env: dict[str, str]
) -> Iterator[Lab]:
    """JupyterLab run by ``python`` on a free loopback port, serving ``root``, with the kit's state in
    ``state_dir`` and Jupyter's config, runtime and workspaces (and ``lab.log``) under ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    token = secrets.token_hex(16)
    env = dict(
        env,
        WIF_STATE_DIR=str(state_dir),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
    )
    log = open(home / "lab.log", "wb")
    proc = subprocess.Popen(
        [
            str(python),
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--ServerApp.port_retries=0",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=home,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.2)
    try:
        yield Lab(url=url, token=token, root=root, state_dir=state_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_chromium()
    root = tmp_path_factory.mktemp("lab-root")
    (root / "lessons").mkdir()
    state_dir = tmp_path_factory.mktemp("lab-state") / "state"
    # The Workload Identity panel lists the lessons of this folder (empty until a test adds some).
    env = dict(os.environ, WIF_LESSONS_DIR=str(root / "lessons"))
    try:
        with running_lab(sys.executable, root, state_dir, tmp_path_factory.mktemp("lab-home"), env) as lab:
            yield lab
    finally:
        # Stop any kit services a notebook started under this state directory.
        subprocess.run(
            [sys.executable, "-m", "wif_notebook", "down", "--state-dir", str(state_dir)],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: object, tmp_path: Path) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()
