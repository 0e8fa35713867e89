"""The lesson catalog (notebook metadata, file order) and progress in the state directory."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from wif_notebook import lessons
from wif_notebook.errors import ConfigError, StateError
from wif_notebook.state import StateDir

from .conftest import write_lesson


def test_catalog_lists_lessons_in_file_name_order_with_their_titles(lessons_dir: Path) -> None:
    write_lesson(lessons_dir, "02-tokens.ipynb", heading="Tokens, claims and keys")
    write_lesson(lessons_dir, "01-what-is-wif.ipynb", lesson={"title": "What is WIF?"}, heading="ignored")
    write_lesson(lessons_dir, "03-plain.ipynb")
    write_lesson(lessons_dir, ".~01-what-is-wif.ipynb", heading="a hidden copy")
    found = lessons.catalog()
    assert [(lesson.id, lesson.title) for lesson in found] == [
        ("01-what-is-wif", "What is WIF?"),
        ("02-tokens", "Tokens, claims and keys"),
        ("03-plain", "03-plain"),
    ]


def test_exercises_come_from_metadata_or_from_marked_check_cells(lessons_dir: Path) -> None:
    a = write_lesson(lessons_dir, "a.ipynb", lesson={"id": "alpha", "exercises": ["connect", "claims"]})
    b = write_lesson(lessons_dir, "b.ipynb", cell_exercises=["first", "second", "first"])
    assert lessons.read_lesson(a).exercises == ("connect", "claims")
    assert lessons.read_lesson(a).id == "alpha"
    assert lessons.read_lesson(b).exercises == ("first", "second")


def test_a_missing_lessons_folder_is_an_empty_catalog(tmp_path: Path) -> None:
    assert lessons.catalog(tmp_path / "nowhere") == []


def test_a_broken_notebook_names_the_file_and_the_next_step(lessons_dir: Path) -> None:
    (lessons_dir / "01-broken.ipynb").write_text("{not json")
    with pytest.raises(ConfigError) as err:
        lessons.catalog()
    assert "01-broken.ipynb" in err.value.what
    assert err.value.hint and "move it out" in err.value.hint


def test_two_lessons_with_one_id_are_refused(lessons_dir: Path) -> None:
    write_lesson(lessons_dir, "01-a.ipynb", lesson={"id": "same"})
    write_lesson(lessons_dir, "02-b.ipynb", lesson={"id": "same"})
    with pytest.raises(ConfigError, match="two lessons share the id 'same'"):
        lessons.catalog()


def test_recorded_checks_count_towards_progress_and_a_pass_sticks(state: StateDir, lessons_dir: Path) -> None:
    write_lesson(lessons_dir, "01-x.ipynb", lesson={"exercises": ["e1", "e2", "e3"]})
    lessons.record_check("01-x", "e1", True, state=state)
    lessons.record_check("01-x", "e2", False, state=state)
    rec = lessons.record_check("01-x", "e1", False, state=state)
    assert rec["passed"] is True and rec["last"] is False and rec["attempts"] == 2
    assert lessons.lessons_with_progress(state) == [
        {"id": "01-x", "title": "01-x", "path": "lessons/01-x.ipynb", "done": 1, "total": 3}
    ]
    assert lessons.progress(state)["01-x"]["e2"]["passed"] is False


def test_progress_file_is_private_and_readable_json(state: StateDir) -> None:
    lessons.record_check("01-x", "e1", True, state=state)
    path = state.path / "progress" / "progress.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["lessons"]["01-x"]["e1"]["passed"] is True


def test_record_check_uses_the_default_state_dir(state: StateDir) -> None:
    # Lesson check cells call record_check without a state: WIF_STATE_DIR (set by the fixture) decides.
    lessons.record_check("01-x", "e1", True)
    assert lessons.progress(state)["01-x"]["e1"]["passed"] is True


def test_concurrent_checks_from_several_kernels_are_all_kept(state: StateDir) -> None:
    def work(n: int) -> None:
        for i in range(10):
            lessons.record_check("01-x", f"e{n}-{i}", True, state=StateDir(state.path))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lessons.progress(state)["01-x"]) == 40


def test_ids_with_path_characters_are_refused(state: StateDir) -> None:
    with pytest.raises(ConfigError, match="lesson id '../x' is not a plain name"):
        lessons.record_check("../x", "e1", True, state=state)


def test_a_corrupt_progress_file_says_how_to_recover(state: StateDir) -> None:
    lessons.record_check("01-x", "e1", True, state=state)
    lessons.progress_path(state).write_text("{")
    with pytest.raises(StateError) as err:
        lessons.progress(state)
    assert err.value.hint and "delete the file" in err.value.hint


def test_lessons_outside_the_reference_folder_keep_their_absolute_path(
    state: StateDir, lessons_dir: Path, tmp_path: Path
) -> None:
    write_lesson(lessons_dir, "01-x.ipynb")
    other = tmp_path / "elsewhere"
    other.mkdir()
    [item] = lessons.lessons_with_progress(state, relative_to=other)
    assert item["path"] == (lessons_dir / "01-x.ipynb").resolve().as_posix()


def test_progress_recorded_before_progress_had_its_folder_is_read_and_moved(state: StateDir) -> None:
    legacy = state.path / "progress.json"
    legacy.write_text(json.dumps({"version": 1, "lessons": {"01-x": {"e1": {"passed": True}}}}))
    assert lessons.progress(state)["01-x"]["e1"]["passed"] is True
    lessons.record_check("01-x", "e2", True, state=state)
    assert not legacy.exists()
    assert set(lessons.progress(state)["01-x"]) == {"e1", "e2"}
