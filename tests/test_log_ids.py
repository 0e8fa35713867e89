"""mongod's log ids are named once (``server/log.py``); readers of the log import them."""

from __future__ import annotations

import ast
from pathlib import Path

from wif_notebook.server import log

PACKAGE = Path(__file__).resolve().parents[1] / "wif_notebook"
IDS = {value for name, value in vars(log).items() if name.startswith("ID_") and isinstance(value, int)}


def _assigned_ints(tree: ast.Module) -> list[tuple[int, int]]:
    """(value, line) of every module-level integer constant assignment (also ``a, b = 1, 2``)."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
            found += [
                (v.value, node.lineno) for v in values if isinstance(v, ast.Constant) and type(v.value) is int
            ]
    return found


def test_no_module_but_the_server_log_defines_a_log_id() -> None:
    assert {20249, 20250, 51800, 51803, 22943} <= IDS
    again = []
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "server" / "log.py":
            continue
        for value, line in _assigned_ints(ast.parse(path.read_text(), str(path))):
            if value in IDS:
                again.append(f"{path.relative_to(PACKAGE.parent)}:{line} = {value}")
    assert again == [], f"import the id from wif_notebook.server.log instead: {again}"


def _literal_ids_in_log_calls(tree: ast.Module) -> list[tuple[int, int]]:
    """(value, line) of every ``<x>.info/warning/error/log(component, <int literal>, ...)``: a log id
    written in place instead of named in ``server/log.py``."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("info", "warning", "error", "log")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and type(node.args[1].value) is int
        ):
            found.append((node.args[1].value, node.lineno))
    return found


def test_every_log_call_names_its_id() -> None:
    literal = []
    for path in PACKAGE.rglob("*.py"):
        for value, line in _literal_ids_in_log_calls(ast.parse(path.read_text(), str(path))):
            literal.append(f"{path.relative_to(PACKAGE.parent)}:{line} logs id {value}")
    assert literal == [], f"name the id in wif_notebook/server/log.py (ID_...) and import it: {literal}"
