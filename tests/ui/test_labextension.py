"""The wif-notebook JupyterLab extension in a real JupyterLab and Chromium: the token and flow
renderers, the Workload Identity panel (lessons, progress, services) and its status-bar item."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import lessons
from wif_notebook.state import StateDir

from .conftest import Lab

pytestmark = pytest.mark.timeout(120)

NOW = int(time.time())
TOKEN_PAYLOAD: dict[str, Any] = {
    "version": 1,
    "token": {
        "redacted": "eyJhbGciOi…[redacted]",
        "segments": {
            "header": "eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpdC0xIn0",
            "payload": "eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjgxMjMva2l0In0",
            "signature": "c2lnbmF0dXJl…",
        },
    },
    "header": {"alg": "RS256", "kid": "kit-1", "typ": "JWT"},
    "claims": {
        "iss": "http://localhost:8123/kit",
        "sub": "billing-api",
        "aud": "api://other",
        "exp": NOW + 300,
    },
    "explanations": [
        {"claim": "sub", "value": "billing-api", "meaning": "the workload this token names"},
        {"claim": "aud", "value": "api://other", "meaning": "who the token is for"},
    ],
    # A fresh token: iat and now fall on one spot of the timeline.
    "validity": {"iat": NOW, "nbf": None, "exp": NOW + 300, "now": NOW, "reauth_at": NOW + 240},
    "verdict": {
        "provider": {"issuer": "http://localhost:8123/kit", "audience": "api://mongodb-kit"},
        "ok": False,
        "rules": [
            {"rule": "format", "title": "Three base64url parts", "passed": True, "detail": None},
            {
                "rule": "body.aud",
                "title": "Audience",
                "passed": False,
                "detail": "aud is not api://mongodb-kit",
            },
            {"rule": "signature", "title": "Signature", "passed": None, "detail": None},
        ],
    },
    "source": {"method": "client_credentials", "principal": "billing-api", "issuer": None, "elapsed_ms": 2.5},
}
FLOW_PAYLOAD: dict[str, Any] = {
    "version": 1,
    "participants": ["client", "mongod", "idp"],
    "messages": [
        {
            "t": 0.0,
            "from": "client",
            "to": "idp",
            "label": "POST /kit/token",
            "detail": None,
            "kind": "request",
        },
        {
            "t": 0.003,
            "from": "idp",
            "to": "client",
            "label": "200 access_token",
            "kind": "reply",
            "code": None,
        },
        {"t": 0.005, "from": "client", "to": "mongod", "label": "saslStart", "kind": "request", "code": None},
        {
            "t": 0.009,
            "from": "mongod",
            "to": "client",
            "label": "AuthenticationFailed",
            "kind": "error",
            "code": 18,
        },
    ],
}


def write_notebook(path: Path, cells: list[dict[str, Any]], metadata: dict[str, Any] | None = None) -> None:
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}
    path.write_text(
        json.dumps(
            {"nbformat": 4, "nbformat_minor": 5, "metadata": {**meta, **(metadata or {})}, "cells": cells}
        )
    )


def code(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def api_post(lab: Lab, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{lab.url}/wif/api/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {lab.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return dict(json.loads(response.read()))


def open_panel(page: Any) -> Any:
    page.wait_for_selector(".jp-SideBar .lm-TabBar-tab", timeout=60_000)
    page.click('.jp-SideBar .lm-TabBar-tab[data-id="wif-notebook-panel"]')
    panel = page.locator("#wif-notebook-panel")
    panel.wait_for(state="visible", timeout=10_000)
    return panel


def test_a_token_output_shows_its_parts_claims_and_the_verdict(lab: Lab, page: Any) -> None:
    source = (
        "from IPython.display import display\n"
        f"display({{'application/vnd.wif.token+json': {TOKEN_PAYLOAD!r},\n"
        "         'text/html': '<p class=\"html-fallback\">fallback</p>', 'text/plain': 'token'}, raw=True)\n"
        f"display({{'application/vnd.wif.flow+json': {FLOW_PAYLOAD!r}, 'text/plain': 'flow'}}, raw=True)\n"
    )
    write_notebook(lab.root / "token.ipynb", [code(source)])
    page.goto(lab.lab_url("token.ipynb") + "&reset")
    page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=60_000)
    page.click(".jp-Cell .jp-InputArea-editor")
    page.keyboard.press("Shift+Enter")
    token = page.locator(".jp-OutputArea-output .wif-Token")
    token.wait_for(timeout=30_000)

    parts = token.locator("[data-part]")
    assert parts.evaluate_all("els => els.map(e => e.dataset.part)") == ["header", "payload", "signature"]
    assert (
        token.locator(".wif-Token-part--payload .wif-Token-segment").inner_text()
        == (TOKEN_PAYLOAD["token"]["segments"]["payload"])
    )
    assert "the workload this token names" in token.locator('tr[data-claim="sub"]').inner_text()
    assert "Rejected at rule body.aud" in token.locator(".wif-Verdict").inner_text()
    assert "wif-Rule--fail" in (token.locator('[data-rule="body.aud"]').get_attribute("class") or "")
    assert token.locator('[data-marker="now"]').count() == 1
    _assert_timeline_labels_clear_of_each_other(token)
    # The rich view replaced the HTML fallback rather than sitting next to it.
    assert page.locator(".html-fallback").count() == 0
    flow = page.locator(".jp-OutputArea-output .wif-Flow svg")
    flow.wait_for(timeout=10_000)
    assert flow.locator(".wif-Flow-message").count() == 4
    assert "AuthenticationFailed (code 18)" in flow.locator('[data-kind="error"]').inner_html()


def _assert_timeline_labels_clear_of_each_other(token: Any) -> None:
    """iat's label stays above the line; now's, on the same spot, goes below it, clear of the line,
    of iat's label and of the legend (the bar leaves room for the rows below it)."""

    def box(selector: str) -> dict[str, float]:
        found = token.locator(selector).bounding_box()
        assert found is not None, selector
        return dict(found)

    line = box(".wif-Timeline")
    iat, now = box('[data-marker="iat"] span'), box('[data-marker="now"] span')
    legend = box(".wif-Timeline-legend")
    assert token.locator('[data-marker="now"]').get_attribute("data-row") == "1"
    line_bottom = line["y"] + line["height"]
    assert iat["y"] + iat["height"] <= line_bottom
    assert now["y"] >= line_bottom
    assert now["y"] + now["height"] <= legend["y"]


def test_the_panel_lists_the_lessons_with_progress_and_opens_one(lab: Lab, page: Any) -> None:
    folder = lab.root / "lessons"
    write_notebook(
        folder / "01-what-is-wif.ipynb",
        [{"cell_type": "markdown", "metadata": {}, "source": "# What is WIF?\n"}],
        {"wif": {"lesson": {"exercises": ["connect", "claims"]}}},
    )
    write_notebook(
        folder / "02-tokens.ipynb", [{"cell_type": "markdown", "metadata": {}, "source": "# Tokens\n"}]
    )
    lessons.record_check("01-what-is-wif", "connect", True, state=StateDir(lab.state_dir))

    page.goto(lab.lab_url())
    panel = open_panel(page)
    items = panel.locator(".wif-Panel-lesson")
    items.nth(1).wait_for(timeout=15_000)
    assert items.locator(".wif-Panel-lessonTitle").all_inner_texts() == ["What is WIF?", "Tokens"]
    assert items.nth(0).locator(".wif-Progress-text").inner_text() == "1/2"
    assert "1 of 2 checks passed" in panel.locator(".wif-Panel-overall").inner_text()

    items.nth(1).click()
    tab = page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("02-tokens.ipynb")')
    tab.wait_for(timeout=20_000)
    page.locator(".jp-NotebookPanel:visible .jp-MarkdownOutput:has-text('Tokens')").wait_for(timeout=20_000)


def test_the_panel_and_status_bar_follow_the_services_starting_and_stopping(lab: Lab, page: Any) -> None:
    page.goto(lab.lab_url())
    panel = open_panel(page)
    idp_state = panel.locator('[data-service="idp"] [data-state]')
    mongod_state = panel.locator('[data-service="mongod"] [data-state]')
    idp_state.wait_for(timeout=15_000)
    assert (idp_state.inner_text(), mongod_state.inner_text()) == ("down", "down")

    # Free ports, so the test never collides with a kit already running on its default ports.
    started = api_post(lab, "services/start", {"idp_port": 0, "port": 0})
    port = started["services"]["mongod"]["port"]
    panel.locator('[data-service="mongod"] [data-state="up"]').wait_for(timeout=15_000)
    assert idp_state.inner_text() == "up"
    assert panel.locator('[data-service="mongod"] .wif-Port').inner_text() == f"port {port}"
    assert "test-server" in panel.locator('[data-service="mongod"]').inner_text()
    assert started["services"]["idp"]["issuers"]["kit"]["issuer"] in panel.inner_text()
    assert "IdP up" in page.locator(".wif-StatusItem").inner_text()

    # Stop through the command palette, as a learner would.
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    palette.locator("input").fill("Stop the Workload Identity services")
    palette.locator('.lm-CommandPalette-item:has-text("Stop the Workload Identity services")').first.click()
    panel.locator('[data-service="idp"] [data-state="down"]').wait_for(timeout=30_000)
    assert mongod_state.inner_text() == "down"
    page.locator(".wif-StatusItem:has-text('IdP down')").wait_for(timeout=10_000)
    assert StateDir(lab.state_dir).read_record("mongod") is None
