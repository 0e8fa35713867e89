"""Debian's Chromium for browser tests, launched by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("WIF_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# this offline machine refuses many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Fail (not skip) where the browser is missing: a browser test that does not run proves nothing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (./dev.sh test does it as root)")
