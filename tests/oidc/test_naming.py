"""MongoDB user and role names (``<authNamePrefix>/<name>``) are built by the rule book only."""

from __future__ import annotations

import ast
from pathlib import Path

from wif_notebook.oidc import auth_name, role_names, user_name

from .helpers import provider_for

PACKAGE = Path(__file__).resolve().parents[2] / "wif_notebook"
RULE_BOOK_NAMING = PACKAGE / "oidc" / "config.py"


def _builds_a_prefixed_name(node: ast.JoinedStr) -> bool:
    """An f-string with ``{...prefix...}`` followed by a literal "/" (``f"{prefix}/{group}"``); a
    template for people (``f"{prefix}/<group>"``) is words, not a name."""
    for value, following in zip(node.values, node.values[1:], strict=False):
        if (
            isinstance(value, ast.FormattedValue)
            and "prefix" in ast.unparse(value.value).lower()
            and isinstance(following, ast.Constant)
            and str(following.value).startswith("/")
            and not str(following.value).startswith("/<")
        ):
            return True
    return False


def test_only_the_rule_book_joins_a_prefix_and_a_name() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == RULE_BOOK_NAMING:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr) and _builds_a_prefixed_name(node):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == [], f"use oidc.auth_name / user_name / role_names instead: {offenders}"


def test_user_and_role_names_follow_the_auth_name_prefix() -> None:
    provider = provider_for("https://corp.example", auth_name_prefix="corp")
    assert auth_name("corp", "x") == "corp/x"
    assert user_name(provider, "billing-api") == "corp/billing-api"
    assert role_names(provider, {"groups": ["b", "a", "a"]}) == ["corp/a", "corp/b"]
