"""TokenInspector against the real IdP and the running server's configuration."""

from __future__ import annotations

import html

from wif_notebook import tokens
from wif_notebook.widgets import TokenInspector

from .conftest import Kit, shown_text


def test_a_good_token_passes_every_rule_and_is_never_shown_whole(kit: Kit) -> None:
    issued = tokens.obtain("billing-api", state=kit.state)
    inspector = TokenInspector(issued, state=kit.state)
    assert inspector.errors.what is None
    assert [r.rule for r in inspector.results if r.passed is not True] == []
    assert "the test mongod would accept this token" in inspector.summary.value
    claims = html.unescape(inspector.claims_view.value)
    assert "billing-writers" in claims and "audience: who the token is for" in claims
    text = shown_text(inspector)
    assert issued.token not in text
    head, body, sig = issued.token.split(".")
    assert head in text and body in text and sig not in text  # segments apart, signature cut short
    assert f"{head}.{body}" not in text


def test_an_expired_token_fails_time_exp_with_the_fix(kit: Kit) -> None:
    inspector = TokenInspector(state=kit.state)
    inspector.principal.value = "lesson-app"
    inspector.fault.value = "expired"
    inspector.obtain_button.click()
    failed = [r.rule for r in inspector.results if r.passed is False]
    assert failed == ["time.exp"]
    assert "rule time.exp" in inspector.summary.value
    assert (inspector.errors.what or "").startswith("rule time.exp (Not expired) fails")
    assert (
        inspector.errors.hint
        == "Fetch a fresh token; drivers do this by themselves when the callback returns a new one."
    )
    assert "wif-rule-failed' data-rule='time.exp'" in inspector.verdict.value


def test_pasting_something_that_is_not_a_jwt_says_so(kit: Kit) -> None:
    inspector = TokenInspector(state=kit.state)
    inspector.paste.value = "not-a-token"
    inspector.inspect_button.click()
    assert (inspector.errors.what or "").startswith("this is not a JWT")
    assert inspector.verdict.value == ""
    inspector.paste.value = ""
    inspector.inspect_button.click()
    assert inspector.errors.what == "no token pasted"


def test_a_pasted_token_is_inspected_and_the_field_cleared(kit: Kit) -> None:
    issued = tokens.obtain("lesson-app", state=kit.state)
    inspector = TokenInspector(state=kit.state)
    inspector.paste.value = issued.token
    inspector.inspect_button.click()
    assert inspector.errors.what is None
    assert inspector.token == issued.token
    assert inspector.paste.value == ""
    assert issued.token not in shown_text(inspector)
