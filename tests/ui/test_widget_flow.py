"""The wizard in real JupyterLab (Debian's Chromium): run the cell, click through the first steps.

The notebook starts the kit itself (``stack.up`` on free ports, state directory from
WIF_STATE_DIR, which the ``lab`` fixture sets for the kernel) and displays the Wizard; the test then
clicks "Use this identity", "Obtain token" and "Decode and check" in the rendered widget and reads
the claims and the verdict off the page.
"""

from __future__ import annotations

from typing import Any

import nbformat

from .conftest import Lab

CELL = """\
from wif_notebook import stack
from wif_notebook.state import StateDir
from wif_notebook.widgets import Wizard

kit = stack.up(StateDir(), idp_port=0, port=0)
wizard = Wizard()
wizard.principal.value = "billing-api"
wizard
"""


def _write_notebook(lab: Lab, name: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(CELL))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(lab.root / name))


def _click_step(page: Any, step: str, label: str) -> None:
    button = page.locator(f".wif-step-{step} button", has_text=label)
    button.wait_for(state="visible", timeout=20_000)
    button.click()


def test_wizard_shows_the_principals_claims_and_verdict_after_two_clicks(lab: Lab, page: Any) -> None:
    _write_notebook(lab, "wizard.ipynb")
    page.goto(lab.lab_url("wizard.ipynb") + "&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell .cm-content", timeout=60_000)
    page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(".wif-wizard .wif-step-identity", timeout=60_000)

    _click_step(page, "identity", "Use this identity")
    identity = page.locator(".wif-step-identity-result")
    identity.get_by_text("billing-writers, reports-readers").wait_for(timeout=20_000)

    _click_step(page, "token", "Obtain token")
    token = page.locator(".wif-step-token-result")
    token.get_by_text("client_credentials").wait_for(timeout=20_000)
    assert "[redacted]" in token.inner_text()

    _click_step(page, "claims", "Decode and check")
    claims = page.locator(".wif-step-claims-result")
    claims.get_by_text("the server would accept this token").wait_for(timeout=20_000)
    text = claims.inner_text()
    assert "billing-api" in text and "billing-writers" in text
    assert "Audience matches" in text and "aud equals 'api://mongodb-kit'" in text
    # The next step appeared, and no step shows an error.
    assert page.locator(".wif-step-server button", has_text="Show server entry").is_visible()
    assert page.locator(".wif-error-what").count() == 0
