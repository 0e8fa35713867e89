"""The course as a learner runs it: every lesson in a fresh kernel, every cell once, timed.

    .venv/bin/python benchmarks/course.py [--output benchmarks/results/course.json]

For each lesson: the kernel start, the execution of each cell (real services, one state directory for
the whole course, as a learner has), and the words a learner reads. The planned minutes of a lesson
(docs/AGENDA.md) are

    machine time (kernel start + cells)
  + markdown words / READING_WPM          (prose, tables)
  + code words / CODE_WPM                 (reading a cell before running it)
  + OUTPUT_SECONDS per code cell          (looking at what it printed or drew)
  + the exercises' minutes                (EXERCISE_MINUTES, default DEFAULT_EXERCISE_MINUTES)

The rates are stated, not measured on people: 200 words per minute is a common figure for careful
reading of technical prose; code is read at half that. Exercise minutes are the author's estimate for
a first attempt, including a hint; room experience should replace them (docs/INSTRUCTOR-NOTES.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

READING_WPM = 200
CODE_WPM = 100
OUTPUT_SECONDS = 10
DEFAULT_EXERCISE_MINUTES = 3
EXERCISE_MINUTES = {
    "fresh-callback": 6,
    "mystery-issuer": 5,
    "mystery-groups": 5,
    "connection-strings": 5,
    "capstone": 12,
    "entra-v1-entry": 4,
    "eks-entry": 4,
    "atlas-users": 5,
    "least-privilege": 4,
    "my-callback": 5,
    "fix-the-entry": 4,
}
_WORD = re.compile(r"[A-Za-z0-9_'’-]+")


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def run(output: Path) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient

    from tests.lessons.conftest import KERNEL_NAME, lesson_paths, make_kernel_env
    from wif_notebook import stack
    from wif_notebook.state import StateDir

    root = Path(tempfile.mkdtemp(prefix="wif-course-"))
    env = make_kernel_env(root)
    os.environ["JUPYTER_PATH"] = str(env.jupyter_path)
    lessons: list[dict[str, Any]] = []
    try:
        for path in lesson_paths():
            nb = nbformat.read(path, as_version=4)
            exercises = list(nb.metadata.get("wif", {}).get("lesson", {}).get("exercises", []))
            client = NotebookClient(
                nb, kernel_name=KERNEL_NAME, timeout=120, resources={"metadata": {"path": str(path.parent)}}
            )
            started = time.perf_counter()
            with client.setup_kernel():
                kernel_s = time.perf_counter() - started
                cells_started = time.perf_counter()
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                execute_s = time.perf_counter() - cells_started
            prose = sum(_words(c.source) for c in nb.cells if c.cell_type == "markdown")
            code_cells = [
                c for c in nb.cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
            ]
            code = sum(_words(c.source) for c in code_cells)
            reading_min = prose / READING_WPM + code / CODE_WPM + len(code_cells) * OUTPUT_SECONDS / 60
            exercise_min = sum(EXERCISE_MINUTES.get(e, DEFAULT_EXERCISE_MINUTES) for e in exercises)
            machine_min = (kernel_s + execute_s) / 60
            lessons.append(
                {
                    "lesson": path.stem,
                    "kernel_start_s": round(kernel_s, 2),
                    "execute_s": round(execute_s, 2),
                    "markdown_words": prose,
                    "code_words": code,
                    "code_cells": len(code_cells),
                    "reading_min": round(reading_min, 1),
                    "exercises": exercises,
                    "exercise_min": exercise_min,
                    "planned_min": round(machine_min + reading_min + exercise_min, 1),
                }
            )
            print(
                f"{path.stem:<28} kernel {kernel_s:5.1f} s  cells {execute_s:5.1f} s  "
                f"read {reading_min:4.1f} min  exercises {exercise_min:2d} min",
                flush=True,
            )
    finally:
        stack.down(StateDir(env.state_dir))
    result = {
        "command": "python benchmarks/course.py",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m": os.getloadavg()[0],
            "python": sys.version.split()[0],
        },
        "rates": {
            "reading_wpm": READING_WPM,
            "code_wpm": CODE_WPM,
            "output_seconds_per_code_cell": OUTPUT_SECONDS,
            "default_exercise_minutes": DEFAULT_EXERCISE_MINUTES,
        },
        "lessons": lessons,
        "total": {
            "machine_s": round(sum(x["kernel_start_s"] + x["execute_s"] for x in lessons), 1),
            "execute_s": round(sum(x["execute_s"] for x in lessons), 1),
            "planned_min": round(sum(x["planned_min"] for x in lessons), 1),
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "course.json")
    args = parser.parse_args()
    result = run(args.output)
    total = result["total"]
    print(
        f"machine time {total['machine_s']} s (cells {total['execute_s']} s); "
        f"planned {total['planned_min']} min; written to {args.output}"
    )


if __name__ == "__main__":
    main()
