"""The whole course, executed top to bottom as a learner would (real kernel, real services)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from wif_notebook.plots import PICTURE_MIME

from .conftest import Executed, KernelEnv, execute, lesson_paths

# Each test here executes whole lessons in real kernels (the first one the whole course, through the
# session fixture); on a loaded 2-core machine that is longer than the suite's default per-test timeout.
pytestmark = pytest.mark.timeout(600)

RAW_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}")


def _output_texts(executed: Executed) -> list[tuple[int, str]]:
    """Every text an executed cell produced (streams, errors, and each MIME representation)."""
    found: list[tuple[int, str]] = []
    for index, cell in enumerate(executed.notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                found.append((index, output.get("text", "")))
            elif output.get("output_type") == "error":
                found.append((index, "\n".join([output.get("evalue", ""), *output.get("traceback", [])])))
            else:
                for value in output.get("data", {}).values():
                    found.append((index, value if isinstance(value, str) else repr(value)))
    return found


def _cell_text(cell: Any) -> str:
    return "\n".join(text for output in cell.get("outputs", []) for text in _texts(output))


def _texts(output: Any) -> list[str]:
    if output.get("output_type") == "stream":
        return [output.get("text", "")]
    return [v for v in output.get("data", {}).values() if isinstance(v, str)]


def test_the_whole_course_runs_top_to_bottom(course: dict[str, Executed]) -> None:
    # How long it takes is measured by benchmarks/course.py (results/course.json), not asserted here:
    # on a shared 2-core machine the same run takes one or two minutes depending on the load.
    assert [e.path.name for e in course.values()] == [p.name for p in lesson_paths()]
    total = sum(e.seconds for e in course.values())
    report = "\n".join(f"  {name:<32} {e.seconds:6.2f} s" for name, e in course.items())
    print(f"\nlesson execution times (kernel start excluded):\n{report}\n  {'total':<32} {total:6.2f} s")


def test_no_executed_output_contains_a_raw_jwt(course: dict[str, Executed]) -> None:
    leaks = [
        f"{name} cell {index}: {match.group(0)[:24]}…"
        for name, executed in course.items()
        for index, text in _output_texts(executed)
        for match in [RAW_JWT.search(text)]
        if match
    ]
    assert not leaks, leaks


def test_every_reference_solution_passes_its_check(course: dict[str, Executed]) -> None:
    for name, executed in course.items():
        solutions = [c for c in executed.notebook.cells if "solution" in c.metadata.get("tags", [])]
        assert solutions, f"{name} has no solution cell"
        for cell in solutions:
            text = _cell_text(cell)
            assert "Reference solution: passes" in text, f"{name}: {cell.metadata['wif']}: {text[-500:]}"


def test_unanswered_exercises_say_so_with_a_hint_instead_of_failing(course: dict[str, Executed]) -> None:
    for name, executed in course.items():
        for cell in executed.notebook.cells:
            if "check" not in cell.metadata.get("tags", []):
                continue
            text = _cell_text(cell)
            assert "hint:" in text or "Correct!" in text, f"{name}: {text}"
            assert "Traceback" not in text


def test_cells_where_failing_is_the_point_show_the_error(course: dict[str, Executed]) -> None:
    shown = 0
    for executed in course.values():
        for cell in executed.notebook.cells:
            text = _cell_text(cell)
            assert "expected to fail, but nothing went wrong" not in text, cell.source
            shown += text.count("As expected, this fails")
    assert shown >= 10


def test_troubleshooting_diagnoses_every_fault_preset(course: dict[str, Executed]) -> None:
    from wif_notebook.idp.faults import FAULTS

    executed = course["08-troubleshooting"]
    table = next(c for c in executed.notebook.cells if "for name, fault in FAULTS.items()" in c.source)
    text = _cell_text(table)
    for name, fault in FAULTS.items():
        row = next(line for line in text.splitlines() if line.strip().startswith(name + " "))
        assert f"{fault.rule}  " in row and "✔" in row, row


def test_a_retired_key_fails_the_old_token_at_key_kid(course: dict[str, Executed]) -> None:
    executed = course["07-token-lifecycle"]
    cell = next(c for c in executed.notebook.cells if c.source.strip() == "%wif_claims before")
    assert "REFUSED by rule key.kid" in _cell_text(cell)


def test_a_lesson_runs_twice_in_the_same_kernel(course: dict[str, Executed], kernel_env: KernelEnv) -> None:
    path = next(p for p in lesson_paths() if p.stem == "05-authorizing")
    first, second = execute(path, kernel_env, runs=2)
    assert len(second.notebook.cells) == len(first.notebook.cells)
    final = next(c for c in second.notebook.cells if "solution" in c.metadata.get("tags", []))
    assert "Reference solution: passes" in _cell_text(final)


def test_a_lesson_runs_again_after_a_kernel_restart(
    course: dict[str, Executed], kernel_env: KernelEnv
) -> None:
    path = next(p for p in lesson_paths() if p.stem == "04-configuring-mongod")
    (again,) = execute(path, kernel_env)  # a new kernel: nothing but the state directory survives
    assert any("Reference solution: passes" in _cell_text(c) for c in again.notebook.cells)


def test_every_cell_can_be_run_again_right_away(course: dict[str, Executed], kernel_env: KernelEnv) -> None:
    # The lifecycle lesson changes the most (short tokens, key rotation and retirement).
    path = next(p for p in lesson_paths() if p.stem == "07-token-lifecycle")
    (twice,) = execute(path, kernel_env, each_cell=2)
    retire = next(c for c in twice.notebook.cells if "retire-key" in c.source)
    assert "already retired" in _cell_text(retire)


def test_the_preflight_status_shows_the_issuer_row_the_exercise_names(course: dict[str, Executed]) -> None:
    executed = course["00-preflight"]
    up = next(c for c in executed.notebook.cells if c.source.strip().endswith("%wif_up"))
    html = next(o["data"]["text/html"] for o in up.outputs if "text/html" in o.get("data", {}))
    for column in ("issuer", "URL", "audience"):
        assert f">{column}<" in html, column
    assert re.search(r">kit</t[dh]>", html)


def test_every_figure_shows_as_an_image_with_a_text_alternative(course: dict[str, Executed]) -> None:
    """A picture is an image with alt text wherever it is called, never matplotlib's repr."""
    pictures: dict[str, int] = {}
    for name, executed in course.items():
        for index, text in _output_texts(executed):
            assert "<Figure size" not in text, f"{name} cell {index} shows a figure as text: {text[:80]}"
        for index, cell in enumerate(executed.notebook.cells):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" not in data:
                    continue
                alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                assert len(alt) > 40, f"{name} cell {index}: an image without a text alternative ({alt!r})"
                assert data[PICTURE_MIME]["alt"] == alt and data["text/plain"] == alt
                assert f'alt="{html.escape(alt, quote=True)}"' in data["text/html"]
                pictures[name] = pictures.get(name, 0) + 1
    # The lessons that draw: the trust diagram, the validity window, the authorization graph.
    drawing = {p.stem for p in lesson_paths() if "plots import" in p.read_text()}
    assert drawing and drawing <= set(pictures), (sorted(drawing), pictures)
