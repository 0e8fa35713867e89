"""The lessons as committed: cleared, shaped like lessons, and known to the lesson catalog."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import checks, lessons

from .conftest import NOTEBOOKS, lesson_paths

NAME = re.compile(r"^\d\d-[a-z0-9-]+\.ipynb$")
EXPECTED = [
    "00-preflight",
    "01-what-is-wif",
    "02-obtaining-a-token",
    "03-inspecting-claims",
    "04-configuring-mongod",
    "05-authorizing",
    "06-connecting",
    "07-token-lifecycle",
    "08-troubleshooting",
    "09-workshop-to-production",
    "10-capstone",
    "11-azure",
    "12-google-cloud",
    "13-kubernetes",
    "14-atlas-and-enterprise",
]


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_the_course_has_every_lesson_in_order() -> None:
    assert [p.stem for p in lesson_paths()] == EXPECTED
    assert all(NAME.match(p.name) for p in lesson_paths())


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_committed_lessons_have_no_outputs_and_no_execution_counts(path: Path) -> None:
    nb = _load(path)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: {_source(cell)[:60]!r} has outputs"
            assert cell["execution_count"] is None, f"{path.name}: {_source(cell)[:60]!r} was executed"
    assert "widgets" not in nb["metadata"], "saved widget state can hold tokens"


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_every_lesson_opens_with_objectives_and_time_and_ends_with_key_points(path: Path) -> None:
    cells = _load(path)["cells"]
    first, last = _source(cells[0]), _source(cells[-1])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# ")
    assert "**Time:**" in first and "minutes" in first
    assert "**Objectives**" in first
    assert cells[-1]["cell_type"] == "markdown" and last.startswith("## Key points")


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_the_first_code_cell_loads_the_kit_and_starts_the_services(path: Path) -> None:
    code = next(c for c in _load(path)["cells"] if c["cell_type"] == "code")
    lines = _source(code).splitlines()
    assert lines[:2] == ["%load_ext wif_notebook", "%wif_up"]


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_every_exercise_has_a_check_cell_and_a_folded_solution(path: Path) -> None:
    nb = _load(path)
    cells = nb["cells"]
    declared = nb["metadata"]["wif"]["lesson"]["exercises"]
    assert declared, f"{path.name} has no exercise"
    for exercise in declared:
        check_at = next(
            i for i, c in enumerate(cells) if c["metadata"].get("wif", {}).get("exercise") == exercise
        )
        assert f'"{exercise}"' in _source(cells[check_at])
        solution_at = next(
            i for i, c in enumerate(cells) if c["metadata"].get("wif", {}).get("solution") == exercise
        )
        assert solution_at > check_at, "the solution comes after the check, folded"
        solution = cells[solution_at]
        assert solution["metadata"]["jupyter"] == {"source_hidden": True}
        heading = cells[solution_at - 1]
        assert heading["cell_type"] == "markdown"
        assert _source(heading).startswith("#### Solution (click to expand)")
        assert "solution=True" in _source(solution)


def test_every_exercise_of_the_lessons_has_a_check_and_every_check_a_lesson() -> None:
    in_notebooks = {
        (p.stem, ex) for p in lesson_paths() for ex in _load(p)["metadata"]["wif"]["lesson"]["exercises"]
    }
    assert in_notebooks == set(checks.EXERCISES)


def test_the_lesson_catalog_lists_the_lessons_in_order_with_their_exercises() -> None:
    catalog = lessons.catalog(NOTEBOOKS)
    assert [lesson.id for lesson in catalog] == EXPECTED
    assert catalog[0].title == "Preflight: is everything ready?"
    by_id = {lesson.id: lesson for lesson in catalog}
    assert by_id["01-what-is-wif"].exercises == ("who-vouches", "user-name")
    assert by_id["05-authorizing"].exercises == ("least-privilege",)
    for lesson in catalog:
        assert lesson.exercises == tuple(e.id for e in checks.exercises(lesson.id))


@pytest.mark.parametrize("path", lesson_paths(), ids=lambda p: p.stem)
def test_a_key_id_is_passed_to_a_magic_as_one_option_word(path: Path) -> None:
    # A kid is base64url and may start with "-": after a space, argparse reads it as an option
    # ("--kid: expected one argument", once in 64 keys). --kid=$kid keeps it the option's value.
    for cell in _load(path)["cells"]:
        assert not re.search(r"--kid\s+\$", _source(cell)), _source(cell)
