"""`wif selftest` checks a learner image that has only the kit: no tests folder, no pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# As in a learner image: pytest cannot be imported and the repository's tests/ is not on the path.
RUN_WITHOUT_PYTEST = (
    "import sys; sys.modules['pytest'] = None; sys.modules['_pytest'] = None; "
    "from wif_notebook.cli import main; sys.exit(main(sys.argv[1:]))"
)


def selftest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WIF_STATE_DIR=str(tmp_path / "learner-state"), PYTHONPATH=str(REPO))
    env.pop("WIF_LESSONS_DIR", None)
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_PYTEST, "selftest", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_selftest_passes_every_check_without_pytest_and_leaves_the_learners_kit_alone(
    tmp_path: Path,
) -> None:
    result = selftest(tmp_path, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == ["kit", "services", "token", "login", "lessons"]
    login = doc["checks"][3]["detail"]
    assert login == "pymongo logged in with MONGODB-OIDC as kit/lesson-app"
    assert doc["checks"][4]["detail"].endswith(f"in {REPO / 'notebooks'}")
    # The learner's own state directory is never created, let alone started.
    assert not (tmp_path / "learner-state").exists()
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("wif-selftest-*/state/run/*.json"))


def test_selftest_without_lessons_says_what_is_missing_and_what_to_do(tmp_path: Path) -> None:
    empty = tmp_path / "no-lessons"
    empty.mkdir()
    result = selftest(tmp_path, "--lessons-dir", str(empty))
    assert result.returncode == 1
    assert f"✘ lessons   no lesson notebooks in {empty}" in result.stdout
    assert "next step: copy the kit's notebooks/ there, or point WIF_LESSONS_DIR at them" in result.stdout
    assert "selftest: NOT ready" in result.stdout
    assert "Traceback" not in result.stderr
