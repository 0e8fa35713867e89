"""Small named steps: no function of the kit is rated E or F by radon's cyclomatic complexity, and at
most ten are rated D."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

PACKAGE = Path(__file__).resolve().parents[1] / "wif_notebook"
MAX_D = 10


def _ranked() -> dict[str, tuple[str, int]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        for block in cc_visit(path.read_text()):
            name = getattr(block, "fullname", block.name)
            found[f"{path.relative_to(PACKAGE.parent)}:{name}"] = (
                cc_rank(block.complexity),
                block.complexity,
            )
    return found


def test_no_function_is_rated_e_or_f() -> None:
    too_complex = {k: v for k, v in _ranked().items() if v[0] in "EF"}
    assert too_complex == {}, f"split these into small named steps: {too_complex}"


def test_at_most_ten_functions_are_rated_d() -> None:
    rated_d = sorted(k for k, v in _ranked().items() if v[0] == "D")
    assert len(rated_d) <= MAX_D, rated_d
