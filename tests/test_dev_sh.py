"""`./dev.sh`'s npm installs (the classroom's proxy on every `./dev.sh lab`, the client tests' driver
and mongosh): `npm ci` runs only when node_modules is missing or older than package-lock.json, as
npm ci deletes node_modules first and is slow, offline very slow."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

DEV_SH = Path(__file__).resolve().parents[1] / "dev.sh"

# npm as dev.sh calls it, recorded instead of run: the test is about whether dev.sh calls it.
RECORDING_NPM = '#!/bin/sh\necho "$@" >> "$NPM_CALLS"\n'


def _npm_calls(tmp_path: Path, function: str) -> list[str]:
    """The npm commands one of dev.sh's functions runs in ``tmp_path`` (a checkout's root)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    npm = bin_dir / "npm"
    npm.write_text(RECORDING_NPM)
    npm.chmod(0o755)
    calls = tmp_path / "npm-calls"
    calls.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "NPM_CALLS": str(calls)}
    subprocess.run(
        ["bash", "-c", f'source "$1"; cd "$2"; {function}', "bash", str(DEV_SH), str(tmp_path)],
        env=env,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return calls.read_text().splitlines() if calls.exists() else []


def _set_mtime(path: Path, when: float) -> None:
    os.utime(path, (when, when))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "classroom").mkdir()
    _set_mtime(_write(tmp_path / "classroom" / "package-lock.json", "{}"), 1_000_000)
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_classroom_proxy_is_installed_when_node_modules_is_missing(checkout: Path) -> None:
    assert _npm_calls(checkout, "ensure_classroom_proxy") == [
        "ci --prefix classroom --prefer-offline --no-audit --no-fund --loglevel=error"
    ]


def test_a_current_install_is_left_alone_even_without_npms_hidden_lock_file(checkout: Path) -> None:
    modules = checkout / "classroom" / "node_modules"
    modules.mkdir()
    _set_mtime(modules, 2_000_000)
    assert _npm_calls(checkout, "ensure_classroom_proxy") == []
    hidden = _write(modules / ".package-lock.json", "{}")
    _set_mtime(hidden, 2_000_000)
    assert _npm_calls(checkout, "ensure_classroom_proxy") == []


def test_a_lock_file_newer_than_the_install_installs_again(checkout: Path) -> None:
    modules = checkout / "classroom" / "node_modules"
    modules.mkdir()
    _set_mtime(_write(modules / ".package-lock.json", "{}"), 500_000)
    _set_mtime(modules, 3_000_000)  # the folder changed later; the install is what counts
    assert len(_npm_calls(checkout, "ensure_classroom_proxy")) == 1
