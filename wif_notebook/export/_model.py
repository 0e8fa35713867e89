"""The result of an export: files, the placeholders they use, and notes (``Export``, ``Placeholder``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import display
from ..errors import ConfigError, StateError

# A placeholder is <UPPER_SNAKE>: no shell, YAML, JSON or JavaScript syntax uses that shape.
PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z0-9_]*)>")


@dataclass(frozen=True)
class Placeholder:
    """A value only the real cloud (or the learner) knows, written ``<NAME>`` in the files."""

    name: str
    meaning: str
    how_to_find: str

    @property
    def token(self) -> str:
        return f"<{self.name}>"

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "token": self.token,
            "meaning": self.meaning,
            "how_to_find": self.how_to_find,
        }


@dataclass
class Export:
    """Production artifacts for one target, generated from the kit's state."""

    target: str
    title: str
    files: dict[str, str]
    placeholders: list[Placeholder]
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # what was read: configuration, users, ...
    private_files: frozenset[str] = frozenset()  # written 0600

    def __post_init__(self) -> None:
        # Every <NAME> in the files is declared, and only those are listed: a placeholder the learner
        # is never told about would reach production as literal text.
        used = {m for text in self.files.values() for m in PLACEHOLDER_RE.findall(text)}
        declared = {p.name: p for p in self.placeholders}
        missing = sorted(used - set(declared))
        if missing:
            raise AssertionError(f"export {self.target}: undeclared placeholders {missing}")
        self.placeholders = sorted((declared[n] for n in used), key=lambda p: p.name)

    def mode(self, name: str) -> int:
        """File mode ``write`` uses: 0600 private, 0755 scripts, 0644 the rest (none holds a secret)."""
        if name in self.private_files:
            return 0o600
        return 0o755 if name.endswith(".sh") else 0o644

    def write(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write every file into ``out_dir`` (created 0700 if missing); the paths written."""
        out = Path(out_dir).expanduser()
        try:
            out.mkdir(parents=True, exist_ok=True, mode=0o700)
            written = []
            for name, text in self.files.items():
                path = out / name
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_name(f".{path.name}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self.mode(name))
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                os.chmod(tmp, self.mode(name))  # the umask may have narrowed os.open's mode
                os.replace(tmp, path)
                written.append(path)
        except OSError as exc:
            raise StateError(
                f"cannot write the {self.target} export to {out}: {exc.strerror or exc}",
                hint="choose a folder you can write to with --out DIR",
            ) from exc
        return written

    def filled(self, values: Mapping[str, str]) -> dict[str, str]:
        """The files with every placeholder replaced by ``values[NAME]``; all must be given."""
        missing = [p.name for p in self.placeholders if p.name not in values]
        if missing:
            raise ConfigError(
                f"no value for {', '.join(missing)}",
                hint="give a value for every placeholder the export lists",
            )
        return {
            name: PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)
            for name, text in self.files.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "title": self.title,
            "files": dict(self.files),
            "placeholders": [p.to_json() for p in self.placeholders],
            "notes": list(self.notes),
            "sources": dict(self.sources),
        }

    # -- display -------------------------------------------------------------------------------------
    def _panel(self) -> display.Panel:
        rows: list[tuple[str, Any]] = [
            (name, f"{len(text.splitlines())} lines") for name, text in self.files.items()
        ]
        rows += [(f"from {k}", v) for k, v in self.sources.items()]
        table = (
            ["placeholder", "meaning", "where to find it"],
            [[p.token, p.meaning, p.how_to_find] for p in self.placeholders],
        )
        return display.Panel(
            self.title,
            rows,
            notes=self.notes,
            subtitle=f"wif export {self.target}",
            table=table if self.placeholders else None,
        )

    def __str__(self) -> str:
        return str(self._panel())

    def text(self) -> str:
        """The summary followed by every file (what ``wif export`` prints without --out/--json)."""
        parts = [str(self)]
        for name, body in self.files.items():
            parts.append(f"\n===== {name} =====\n{body.rstrip()}")
        return "\n".join(parts) + "\n"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        panel = self._panel()
        files_html = "".join(
            f"<details><summary>{display.esc(name)}</summary>"
            f'<pre style="white-space:pre-wrap">{display.esc(body)}</pre></details>'
            for name, body in self.files.items()
        )
        return {
            "text/plain": self.text(),
            "text/html": panel._repr_html_() + files_html,
            "application/json": json.loads(json.dumps(self.to_json())),
        }


def used_placeholders(texts: list[str], known: Mapping[str, Placeholder]) -> list[Placeholder]:
    """The known placeholders that occur in ``texts``, by name."""
    names = sorted({m for text in texts for m in PLACEHOLDER_RE.findall(text)})
    return [known[n] for n in names if n in known]


def make_export(
    target: str,
    title: str,
    files: dict[str, str],
    known: Mapping[str, Placeholder],
    *,
    notes: list[str],
    sources: Mapping[str, str],
    private: frozenset[str] = frozenset(),
) -> Export:
    """An ``Export`` whose README.md lists its files, placeholders and notes."""
    placeholders = used_placeholders(list(files.values()), known)
    lines = [f"# {title}", "", f"Exported by `wif export {target}` from the wif-notebook kit.", ""]
    lines += ["## Files", ""] + [f"- `{name}`" for name in files] + [""]
    if placeholders:
        lines += [
            "## Placeholders: replace each before use",
            "",
            "Only the real cloud knows these values; the kit never invents them.",
            "",
            "| placeholder | meaning | where to find it |",
            "|---|---|---|",
        ]
        lines += [f"| `{p.token}` | {p.meaning} | {p.how_to_find} |" for p in placeholders]
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += ["## Generated from", ""] + [f"- {k}: {v}" for k, v in sources.items()]
    return Export(
        target=target,
        title=title,
        files={**files, "README.md": "\n".join(lines) + "\n"},
        placeholders=placeholders,
        notes=list(notes),
        sources=dict(sources),
        private_files=private,
    )
