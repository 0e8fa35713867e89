"""One redaction marker: the token display, the test mongod's log and the IdP's request log all
redact with ``wif_notebook.redaction``; no other module spells the marker."""

from __future__ import annotations

import ast
from pathlib import Path

from wif_notebook import tokens
from wif_notebook.idp.server import redact_query
from wif_notebook.redaction import MARKER, redact_token, redact_tokens
from wif_notebook.server.log import MongodLog

PACKAGE = Path(__file__).resolve().parents[1] / "wif_notebook"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_only_the_redaction_module_spells_the_marker() -> None:
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "redaction.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "redacted]" in node.value
                and id(node) not in docs
            ):
                spelled.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert spelled == [], f"use wif_notebook.redaction: {spelled}"


def test_a_token_looks_the_same_redacted_everywhere() -> None:
    shown = redact_token(JWT)
    assert shown == "eyJhbGciOi…[redacted]" and shown.endswith(MARKER)
    assert tokens.redact(JWT) == shown
    assert redact_tokens(f"Bearer {JWT} end") == f"Bearer {shown} end"
    line = MongodLog().info("ACCESS", 20249, "Authentication failed", {"error": f"bad token {JWT}"})
    assert JWT not in line and shown in line
    assert redact_query(f"resource=api://x&client_secret=s3cret&token={JWT}") == (
        "resource=api%3A%2F%2Fx&client_secret=%5Bredacted%5D&token=%5Bredacted%5D"
    )
