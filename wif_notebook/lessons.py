"""The lesson catalog and each learner's progress through it.

Lessons are the notebooks in the lessons folder (``notebooks/`` of the kit, installed as
``share/wif-notebook/notebooks``), in file-name order
(``01-what-is-wif.ipynb``, ``02-...``). A lesson notebook describes itself in its notebook metadata::

    "metadata": {"wif": {"lesson": {"id": "01-what-is-wif",        # default: the file stem
                                    "title": "What is WIF?",       # default: the first "# " heading
                                    "exercises": ["connect", "read-claims"]}}}

or, instead of the ``exercises`` list, marks the check cells of each exercise with cell metadata
``{"wif": {"exercise": "connect"}}`` (ids are collected in cell order, each once). A notebook with
neither counts as a lesson with no exercises.

Check cells report results with :func:`record_check`; progress lives in
``<state>/progress/progress.json`` (0600 in a 0700 folder, written atomically, so the Jupyter server
can read it while a kernel writes). ``progress/`` is the learning record: ``wif reset`` and
``%wif_reset`` reset the kit (keys, services, data) and keep it (``stack.PRESERVED``)::

    {"version": 1, "lessons": {"<lesson>": {"<exercise>": {"passed": true, "last": false,
                                                           "attempts": 3, "at": 1795960000.0}}}}

``passed`` stays true once an exercise has been passed (a later failed experiment does not undo
the learner's progress); ``last`` is the latest result.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import site
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, StateError
from .state import StateDir, write_private

ENV_VAR = "WIF_LESSONS_DIR"
PROGRESS_DIR = "progress"  # in the state directory; kept by reset
PROGRESS_FILE = "progress.json"
# Where progress lived before it had its own folder: still read, moved at the next write.
_LEGACY_FILE = "progress.json"
_LOCK_FILE = ".lock"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HEADING = re.compile(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Lesson:
    """One lesson notebook of the catalog."""

    id: str
    title: str
    path: Path
    exercises: tuple[str, ...] = field(default_factory=tuple)


SHARED_LESSONS = Path("share") / "wif-notebook" / "notebooks"  # the wheel's shared-data (pyproject)


def _installed_lessons_dirs() -> list[Path]:
    """Where an installed wheel put the lessons: the data path of the install scheme in use."""
    prefixes = [sysconfig.get_path("data"), sys.prefix, site.getuserbase(), sys.base_prefix]
    return [Path(p) / SHARED_LESSONS for p in dict.fromkeys(prefixes) if p]


def default_lessons_dir() -> Path:
    """Where the lessons are: ``$WIF_LESSONS_DIR``; else the ``notebooks/`` folder of a source
    checkout (an editable install); else ``<prefix>/share/wif-notebook/notebooks``, where
    ``pip install .`` (Binder) puts them, site-packages holding only the package.

    When none exists, the checkout path is returned (an empty catalog).
    """
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    root = Path(__file__).resolve().parent.parent
    checkout = root / "notebooks"
    # pyproject.toml tells a checkout from site-packages, where another package could own "notebooks".
    if checkout.is_dir() and (root / "pyproject.toml").is_file():
        return checkout
    for folder in _installed_lessons_dirs():
        if folder.is_dir():
            return folder
    return checkout


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _wif_meta(node: dict[str, Any]) -> dict[str, Any]:
    meta = node.get("metadata")
    wif = meta.get("wif") if isinstance(meta, dict) else None
    return wif if isinstance(wif, dict) else {}


def read_lesson(path: Path) -> Lesson:
    """The lesson a notebook describes; ConfigError if it is not a readable notebook."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read the lesson notebook {path}: {exc}",
            hint="open it in JupyterLab to repair it, or move it out of the lessons folder",
        ) from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ConfigError(
            f"{path} is not a Jupyter notebook (no cells list)",
            hint="save it again from JupyterLab, or move it out of the lessons folder",
        )
    meta = _wif_meta(nb).get("lesson")
    meta = meta if isinstance(meta, dict) else {}
    lesson_id = str(meta.get("id") or path.stem)
    if not _ID.match(lesson_id):
        raise ConfigError(
            f"{path}: lesson id {lesson_id!r} is not a plain name",
            hint="use letters, digits, '.', '_' and '-' only (for example 01-what-is-wif)",
        )
    title = meta.get("title")
    if not title:
        for cell in nb["cells"]:
            if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
                match = _HEADING.search(_source(cell))
                if match:
                    title = match.group(1)
                    break
    exercises: list[str] = []
    declared = meta.get("exercises")
    if isinstance(declared, list):
        exercises = [str(e) for e in declared]
    else:
        for cell in nb["cells"]:
            if isinstance(cell, dict):
                ex = _wif_meta(cell).get("exercise")
                if ex and str(ex) not in exercises:
                    exercises.append(str(ex))
    return Lesson(id=lesson_id, title=str(title or path.stem), path=path, exercises=tuple(exercises))


def catalog(folder: Path | None = None) -> list[Lesson]:
    """Every lesson in ``folder`` (default :func:`default_lessons_dir`), in file-name order.

    Checkpoint copies and hidden files are skipped; a missing folder is an empty catalog.
    """
    folder = default_lessons_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    lessons: list[Lesson] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.startswith((".", "_")):
            continue
        lesson = read_lesson(path)
        if lesson.id in seen:
            raise ConfigError(
                f"two lessons share the id {lesson.id!r}: {seen[lesson.id].name} and {path.name}",
                hint="give one of them another metadata.wif.lesson.id",
            )
        seen[lesson.id] = path
        lessons.append(lesson)
    return lessons


WORKSPACE_FOLDER = "wif-lessons"  # where lessons installed outside the Jupyter root are copied


def open_in_workspace(lesson_id: str, root: Path, folder: Path | None = None) -> Path:
    """The path, relative to the Jupyter ``root``, at which JupyterLab can open lesson ``lesson_id``.

    A lesson inside ``root`` (a checkout, ``WIF_LESSONS_DIR`` under the root) opens where it is. One
    outside it (a wheel puts them in ``<prefix>/share/wif-notebook/notebooks``, which the contents
    API cannot reach) is copied once into ``<root>/wif-lessons/``; an existing copy is the
    learner's work and is never overwritten.
    """
    lesson = next((item for item in catalog(folder) if item.id == lesson_id), None)
    if lesson is None:
        raise ConfigError(
            f"there is no lesson {lesson_id!r} in {default_lessons_dir() if folder is None else folder}",
            hint="refresh the Workload Identity panel; `wif lessons` lists the lessons",
        )
    base = root.resolve()
    source = lesson.path.resolve()
    if source.is_relative_to(base):
        return source.relative_to(base)
    target = base / WORKSPACE_FOLDER / source.name
    if not target.exists():
        try:
            target.parent.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
        except OSError as exc:
            raise StateError(
                f"cannot copy the lesson {source.name} into {target.parent}: {exc.strerror or exc}",
                hint=f"start JupyterLab in a folder you can write to, or open {source} from a copy",
            ) from exc
    return target.relative_to(base)


# -- progress ---------------------------------------------------------------------------------------
def progress_path(state: StateDir) -> Path:
    """The learner's progress file (``<state>/progress/progress.json``)."""
    return state.path / PROGRESS_DIR / PROGRESS_FILE


@contextlib.contextmanager
def _locked(state: StateDir) -> Iterator[None]:
    # Several kernels (one per open lesson) may record checks at once: serialise read-modify-write.
    folder = state.subdir(PROGRESS_DIR)
    fd = os.open(folder / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(state: StateDir) -> dict[str, dict[str, dict[str, Any]]]:
    path = progress_path(state)
    if not path.exists() and (state.path / _LEGACY_FILE).exists():
        path = state.path / _LEGACY_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot read the lesson progress in {path}: {exc}",
            hint="delete the file to start the progress afresh (the lessons themselves are not affected)",
        ) from exc
    lessons = doc.get("lessons") if isinstance(doc, dict) else None
    if not isinstance(lessons, dict):
        return {}
    return {
        str(lid): {str(eid): dict(rec) for eid, rec in ex.items() if isinstance(rec, dict)}
        for lid, ex in lessons.items()
        if isinstance(ex, dict)
    }


def progress(state: StateDir | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{lesson_id: {exercise_id: {"passed", "last", "attempts", "at"}}}`` as recorded so far."""
    return _read(StateDir() if state is None else state)


def record_check(
    lesson_id: str, exercise_id: str, passed: bool, *, state: StateDir | None = None
) -> dict[str, Any]:
    """Record one check result of an exercise; returns the exercise's record after the update."""
    for what, value in (("lesson", lesson_id), ("exercise", exercise_id)):
        if not isinstance(value, str) or not _ID.match(value):
            raise ConfigError(
                f"{what} id {value!r} is not a plain name",
                hint="use letters, digits, '.', '_' and '-' only, as in the notebook's metadata",
            )
    state = StateDir() if state is None else state
    with _locked(state):
        lessons = _read(state)
        rec = lessons.setdefault(lesson_id, {}).setdefault(exercise_id, {})
        rec["passed"] = bool(rec.get("passed")) or bool(passed)
        rec["last"] = bool(passed)
        rec["attempts"] = int(rec.get("attempts", 0)) + 1
        rec["at"] = time.time()
        write_private(
            progress_path(state), json.dumps({"version": 1, "lessons": lessons}, indent=2, sort_keys=True)
        )
        with contextlib.suppress(FileNotFoundError):
            (state.path / _LEGACY_FILE).unlink()
    return dict(rec)


def lesson_progress(lesson: Lesson, recorded: dict[str, dict[str, dict[str, Any]]]) -> tuple[int, int]:
    """(done, total) for one lesson: exercises passed at least once, out of those it declares."""
    mine = recorded.get(lesson.id, {})
    done = sum(1 for ex in lesson.exercises if mine.get(ex, {}).get("passed"))
    return done, len(lesson.exercises)


def lessons_with_progress(
    state: StateDir, folder: Path | None = None, *, relative_to: Path | None = None
) -> list[dict[str, Any]]:
    """The ``lessons`` list of the status payload (docs/ARCHITECTURE.md).

    ``path`` is relative to ``relative_to`` (default: the lessons folder's parent, so
    ``notebooks/01-....ipynb``); the Jupyter server passes its root so the panel can open it.
    A lesson outside ``relative_to`` keeps its absolute path.
    """
    folder = default_lessons_dir() if folder is None else folder
    base = (folder.parent if relative_to is None else relative_to).resolve()
    recorded = _read(state)
    out: list[dict[str, Any]] = []
    for lesson in catalog(folder):
        done, total = lesson_progress(lesson, recorded)
        resolved = lesson.path.resolve()
        try:
            shown = resolved.relative_to(base).as_posix()
        except ValueError:
            shown = resolved.as_posix()
        out.append({"id": lesson.id, "title": lesson.title, "path": shown, "done": done, "total": total})
    return out
