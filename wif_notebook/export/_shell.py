"""Bash for the exported scripts: placeholders become variables set once at the top, checked before
anything runs, and quoted everywhere (so ``bash -n`` and shellcheck accept every script)."""

from __future__ import annotations

import re
import shlex

from ._model import PLACEHOLDER_RE, Placeholder

HEADER = "#!/usr/bin/env bash\nset -euo pipefail\n"
VARIABLE_RE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")  # where word() put a placeholder


def word(text: str) -> str:
    """``text`` as one double-quoted bash word, each ``<NAME>`` read from the variable ``NAME``."""
    out = []
    pos = 0
    for m in PLACEHOLDER_RE.finditer(text):
        out.append(escape(text[pos : m.start()]))
        out.append("${" + m.group(1) + "}")
        pos = m.end()
    out.append(escape(text[pos:]))
    return '"' + "".join(out) + '"'


def escape(text: str) -> str:
    return re.sub(r'(["$`\\])', r"\\\1", text)


def quote(text: str) -> str:
    """A bash word: single-quoted literal, or double-quoted when it holds placeholders."""
    if PLACEHOLDER_RE.search(text) or "'" in text:
        return word(text)
    return shlex.quote(text)


def variables(placeholders: list[Placeholder]) -> str:
    """``NAME='<NAME>'`` for each placeholder with what it is, and a check that all were set."""
    if not placeholders:
        return ""
    lines = ["", "# -- set these first (only the real cloud knows them) --"]
    for p in placeholders:
        lines.append(f"# {p.meaning}")
        lines.append(f"#   how to find it: {p.how_to_find}")
        lines.append(f"{p.name}='{p.token}'")
    lines.append("")
    for p in placeholders:
        lines.append(
            f'case "${p.name}" in "<"*">") echo "set {p.name} at the top of $0 first" >&2; exit 1 ;; esac'
        )
    return "\n".join(lines) + "\n"


def command(*parts: str, indent: str = "") -> str:
    """One command, its arguments on continuation lines (``parts`` are already bash words)."""
    first, *rest = parts
    lines = [indent + first]
    for part in rest:
        lines[-1] += " \\"
        lines.append(indent + "  " + part)
    return "\n".join(lines)
