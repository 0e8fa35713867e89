"""The labextension's renderer unit tests (jest, in labextension/src/__tests__), run from pytest so
``./dev.sh test`` covers them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LABEXT = Path(__file__).resolve().parents[2] / "labextension"


@pytest.mark.timeout(180)
def test_renderer_unit_tests_pass_under_jest() -> None:
    bindir = Path(sys.executable).parent
    jlpm = shutil.which("jlpm", path=str(bindir)) or shutil.which("jlpm")
    if jlpm is None:
        pytest.fail("jlpm is missing: install the kit with `pip install -e '.[test]'` (it brings jupyterlab)")
    if not (LABEXT / "node_modules" / ".bin" / "jest").exists():
        pytest.fail(f"jest is not installed in {LABEXT}: run `jlpm install` there (pip install -e . does it)")
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", CI="true")
    proc = subprocess.run(
        [jlpm, "test", "--ci", "--colors=false"],
        cwd=LABEXT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-4000:]
    assert "Tests:" in report and " failed" not in report.split("Tests:")[1].splitlines()[0]
