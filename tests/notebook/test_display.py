"""Display objects follow the MIME contract (docs/ARCHITECTURE.md) and never carry a raw token."""

from __future__ import annotations

import json

from wif_notebook import tokens
from wif_notebook.display import STATUS_MIME, TOKEN_MIME, Panel, StatusView, TokenView
from wif_notebook.state import StateDir


def test_token_payload_has_the_contract_shape_and_separate_segments(kit: StateDir) -> None:
    issued = tokens.mint("billing-api", state=kit)
    bundle = TokenView(issued, state=kit)._repr_mimebundle_()
    doc = bundle[TOKEN_MIME]
    assert doc["version"] == 1
    head, payload, signature = issued.token.split(".")
    assert doc["token"] == {
        "redacted": "eyJhbGciOi…[redacted]",
        "segments": {"header": head, "payload": payload, "signature": signature[:4] + "…"},
    }
    assert doc["header"]["alg"] == "RS256" and doc["claims"]["sub"] == "billing-api"
    assert {e["claim"] for e in doc["explanations"]} >= {"iss", "sub", "aud", "exp"}
    assert doc["validity"]["exp"] == doc["claims"]["exp"] == doc["validity"]["reauth_at"]
    assert doc["verdict"]["ok"] is True
    assert doc["verdict"]["provider"]["audience"] == "api://mongodb-kit"
    assert [r["rule"] for r in doc["verdict"]["rules"]][:2] == ["format", "header.alg"]
    assert doc["source"]["method"] == "mint" and doc["source"]["principal"] == "billing-api"
    for mime, data in bundle.items():
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        assert issued.token not in text and f"{head}.{payload}" not in text, mime


def test_verdict_is_null_without_a_server_configuration(tmp_path: object) -> None:
    lonely = StateDir(str(tmp_path) + "/empty")
    view = TokenView("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", state=lonely)
    assert view.payload["verdict"] is None
    assert "Not checked against a server" in view._repr_html_()


def test_wrong_audience_headline_names_the_audience_rule(kit: StateDir) -> None:
    view = TokenView(tokens.mint("billing-api", fault="wrong-audience", state=kit), state=kit)
    assert view.ok is False
    assert "REFUSED by rule audience" in str(view)


def test_html_is_self_contained(kit: StateDir) -> None:
    html = TokenView(tokens.mint("lesson-app", state=kit), state=kit)._repr_html_()
    html += StatusView.of(kit)._repr_html_() + Panel("t", [("a", "<b>")])._repr_html_()
    assert "<script" not in html and "<link" not in html and "class=" not in html
    assert "&lt;b&gt;" in html  # values are escaped


def test_status_view_carries_the_status_payload(kit: StateDir) -> None:
    bundle = StatusView.of(kit)._repr_mimebundle_()
    doc = bundle[STATUS_MIME]
    assert doc["version"] == 1 and doc["state_dir"] == str(kit.path)
    assert doc["services"]["idp"]["running"] and doc["services"]["mongod"]["kind"] == "test-server"
    assert "****" in bundle["text/plain"]  # the administrator's password is never shown
