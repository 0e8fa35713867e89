"""JupyterLab itself starts and renders in Debian's Chromium (the base every UI test stands on)."""

from __future__ import annotations

from typing import Any

from .conftest import Lab


def test_jupyterlab_renders_its_launcher_in_chromium(lab: Lab, page: Any) -> None:
    page.goto(lab.lab_url())
    page.wait_for_selector(".jp-Launcher", timeout=60_000)
    assert "JupyterLab" in page.title()
