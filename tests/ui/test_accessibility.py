"""Accessibility of the wif-notebook extension in a real JupyterLab and Debian's Chromium.

axe-core (labextension/node_modules/axe-core, a devDependency) checks the side panel, the
status-bar item and every renderer (token, flow, status, picture) after a lesson's magics ran,
in the light and the dark theme; the keyboard walk reaches and activates every control of the
panel and the status item, and focus stays where it was across polls, Start, Stop and Reset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook.state import StateDir

from .conftest import Lab
from .test_labextension import api_post, code, open_panel, write_notebook

pytestmark = pytest.mark.timeout(240)

AXE = Path(__file__).resolve().parents[2] / "labextension" / "node_modules" / "axe-core" / "axe.min.js"
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
# Everything the extension draws: the panel, the status-bar item and the rendered outputs.
OURS = ["#wif-notebook-panel", ".wif-StatusItem", ".wif-Output"]

LESSON_CELLS = [
    {"cell_type": "markdown", "metadata": {}, "source": "# A lesson\n\n## Tokens and the exchange\n"},
    code("%load_ext wif_notebook\n%wif_up --idp-port 0 --port 0"),
    code("%wif_token billing-api -o billing_token"),
    code("%wif_token billing-api --fault wrong-audience"),
    code("%wif_connect -o client\n%wif_flow"),
    code("from wif_notebook.plots import validity_window\n\nvalidity_window(billing_token)"),
]
RENDERERS = [".wif-Status", ".wif-Token", ".wif-Flow", ".wif-Picture"]


def use_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab's theme through the command palette, as a person would."""
    wanted = "true" if theme == "light" else "false"
    if page.evaluate("document.body.dataset.jpThemeLight") == wanted:
        return
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#command-palette")
    palette.locator("input").fill(f"Use Theme: {THEMES[theme]}")
    palette.locator(f'.lm-CommandPalette-item:has-text("Use Theme: {THEMES[theme]}")').first.click()
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{wanted}'", timeout=30_000)


def axe_violations(page: Any, selectors: list[str]) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2.x A/AA and best practice) inside ``selectors``."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `jlpm install` in labextension/ (pip install -e . does it)")
    page.add_script_tag(path=str(AXE))
    # JupyterLab's shell is absolutely positioned, so <body> is 0 px high with overflow hidden, and
    # axe then takes every element as scrolled out of sight and checks no text contrast at all
    # (axe-core's scrollHidden). Giving body the viewport's height changes no colour or layout.
    page.add_style_tag(content="html, body { height: 100%; }")
    script = """async selectors => {
            const include = selectors.map(s => [s]);
            const result = await axe.run({ include }, {
                runOnly: { type: 'tag',
                           values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
                resultTypes: ['violations']
            });
            return {
                checked: result.passes.concat(result.violations).map(p => p.id),
                incomplete: result.incomplete.map(p => p.id),
                violations: result.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                 nodes: v.nodes.map(n => ({ target: n.target.join(' '), why: n.failureSummary,
                                                            html: n.html.slice(0, 160) })) }))
            };
        }"""
    # axe really looked at our elements' text colours (a typo in a selector would check nothing).
    # Right after a theme switch the colours may still be settling (axe then files every node as
    # "incomplete"): look again, a few times, before calling it unchecked.
    for _ in range(5):
        result: dict[str, Any] = page.evaluate(script, selectors)
        if "color-contrast" in result["checked"]:
            break
        page.wait_for_timeout(1000)
    assert "color-contrast" in result["checked"], result
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def report(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=1, ensure_ascii=False)


def reset_workspace(lab: Lab, page: Any) -> None:
    """Leave JupyterLab's saved layout as a fresh one (the Launcher): the session's later tests
    open JupyterLab without ``reset`` and expect it."""
    page.goto(lab.lab_url() + "&reset")
    page.locator(".jp-Launcher").wait_for(timeout=60_000)


@pytest.fixture(scope="module")
def lesson_page(lab: Lab, browser: Any) -> Iterator[Any]:
    """A lesson notebook whose magics ran: every renderer is on the page, the panel is open.

    One for the module: running the lesson takes most of a minute, and the tests only look."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    write_notebook(lab.root / "a11y-lesson.ipynb", LESSON_CELLS)
    page.goto(lab.lab_url("a11y-lesson.ipynb") + "&reset")
    page.wait_for_function("document.body.innerText.includes('| Idle')", timeout=60_000)
    page.click(".jp-CodeCell .jp-InputArea-editor")
    for cell in LESSON_CELLS:
        if cell["cell_type"] == "code":
            page.keyboard.press("Shift+Enter")
    for selector in RENDERERS:
        try:
            page.locator(f".jp-OutputArea-output {selector}").first.wait_for(timeout=60_000)
        except Exception:
            pytest.fail(
                f"no {selector} output; the notebook shows:\n{page.locator('.jp-Notebook').inner_text()}"
            )
    panel = open_panel(page)
    try:
        panel.locator('[data-service="mongod"] [data-state="up"]').wait_for(timeout=15_000)
    except Exception:
        pytest.fail(f"the panel does not show mongod up:\n{panel.inner_text()}")
    try:
        yield page
    finally:
        use_theme(page, "light")
        reset_workspace(lab, page)
        context.close()
        api_post(lab, "services/stop", {})


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_panel_status_item_and_renderers_have_no_serious_axe_violations(lesson_page: Any, theme: str) -> None:
    page = lesson_page
    use_theme(page, theme)
    for selector in OURS:
        assert page.locator(selector).count() > 0, selector
    violations = axe_violations(page, OURS)
    assert not violations, f"{theme} theme:\n{report(violations)}"


def test_output_headings_nest_under_the_lesson_s_heading(lesson_page: Any) -> None:
    levels = lesson_page.locator(".wif-Token [role=heading]").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-level'))"
    )
    assert levels and set(levels) == {"3"}, levels  # the lesson's last heading before them is an h2


def test_a_picture_shows_the_image_for_the_theme_with_its_text_alternative(lesson_page: Any) -> None:
    page = lesson_page
    figure = page.locator(".jp-OutputArea-output .wif-Picture").first
    for theme in ("light", "dark"):
        use_theme(page, theme)
        shown = figure.locator("img:visible")
        assert shown.count() == 1
        assert f"wif-Picture-img--{theme}" in (shown.get_attribute("class") or "")
        assert (shown.get_attribute("alt") or "").startswith("Validity window of billing-api: valid for")
    assert "<Figure size" not in page.locator(".jp-Notebook").inner_text()


def wait_for_text(panel: Any, selector: str) -> None:
    try:
        panel.locator(selector).wait_for(timeout=60_000)
    except Exception:
        pytest.fail(f"the panel never showed {selector}:\n{panel.inner_text()}")


def focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 120)"))


def wait_for_polls(page: Any, count: int) -> None:
    """Wait until the panel has fetched /wif/api/status ``count`` more times."""
    seen = {"n": 0}

    def on_response(response: Any) -> None:
        if response.url.split("?")[0].endswith("/wif/api/status"):
            seen["n"] += 1

    page.on("response", on_response)
    try:
        for _ in range(200):
            if seen["n"] >= count:
                return
            page.wait_for_timeout(100)
        pytest.fail(f"the panel polled {seen['n']} times, not {count}")
    finally:
        page.remove_listener("response", on_response)


def still_focused(page: Any, selector: str) -> bool:
    """True when the element that has focus is the very element marked before (not a redraw)."""
    return bool(
        page.evaluate(
            f"document.activeElement === document.querySelector('{selector}') "
            "&& document.activeElement.wifKept === true"
        )
    )


def mark(page: Any, selector: str) -> None:
    # A property, not an attribute: the redraw removes attributes the panel does not set.
    page.evaluate(f"document.querySelector('{selector}').wifKept = true")


def test_the_keyboard_reaches_and_activates_every_control_and_focus_survives_polls(
    lab: Lab, page: Any
) -> None:
    lesson = lab.root / "lessons" / "03-keyboard.ipynb"
    write_notebook(lesson, [{"cell_type": "markdown", "metadata": {}, "source": "# Keyboard lesson\n"}])
    state = StateDir(lab.state_dir)
    api_post(lab, "services/start", {"idp_port": 0, "port": 0})
    try:
        page.goto(lab.lab_url() + "&reset")
        # JupyterLab focuses the restored Launcher once it has started: let it, before walking.
        page.wait_for_function("document.activeElement && document.activeElement.closest('.jp-Launcher')")
        panel = open_panel(page)
        summary = panel.locator('[data-service="idp"] details summary')
        summary.wait_for(timeout=15_000)
        panel.locator('[data-lesson="03-keyboard"]').wait_for(timeout=15_000)

        # Tab from the panel's title through the panel: every control is reached, in order.
        panel.locator(".wif-Panel-title").click()
        controls = panel.locator("button, summary, a[href], [tabindex='0']").evaluate_all(
            "els => els.map(e => e.outerHTML.slice(0, 120))"
        )
        reached = []
        for _ in range(len(controls)):
            page.keyboard.press("Tab")
            reached.append(focused(page))
        assert reached == controls

        # The "more issuers" section opens with Enter and stays open, focused, across 3 polls.
        summary.focus()
        mark(page, '#wif-notebook-panel [data-service="idp"] summary')
        page.keyboard.press("Enter")
        assert panel.locator('[data-service="idp"] details[open]').count() == 1
        wait_for_polls(page, 3)
        assert panel.locator('[data-service="idp"] details[open]').count() == 1
        assert still_focused(page, '#wif-notebook-panel [data-service="idp"] summary'), focused(page)

        # Stop with Space, Start with Enter: the pressed button keeps focus through the change.
        stop = "#wif-notebook-panel .wif-Panel-stop"
        mark(page, stop)
        page.focus(stop)
        page.keyboard.press(" ")
        wait_for_text(panel, '[data-service="mongod"] [data-state="down"]')
        # The buttons are aria-disabled until the stop request itself has answered.
        wait_for_text(panel, '.wif-Panel-start[aria-disabled="false"]')
        assert still_focused(page, stop), focused(page)
        start = "#wif-notebook-panel .wif-Panel-start"
        mark(page, start)
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Enter")
        wait_for_text(panel, '[data-service="mongod"] [data-state="up"]')
        assert still_focused(page, start), focused(page)

        # Reset's dialog opens on Cancel: Enter, Enter cannot wipe the state directory.
        reset = "#wif-notebook-panel .wif-Panel-reset"
        mark(page, reset)
        page.focus(reset)
        page.keyboard.press("Enter")
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=10_000)
        assert page.evaluate("document.activeElement.textContent.trim()") == "Cancel"
        page.keyboard.press("Enter")
        dialog.wait_for(state="detached", timeout=10_000)
        # Nothing was reset: a reset would stop mongod and wipe its record within a poll or two.
        wait_for_polls(page, 2)
        assert state.read_record("mongod") is not None
        assert still_focused(page, reset), focused(page)
        assert panel.locator('[data-service="mongod"] [data-state="up"]').count() == 1

        # A lesson opens with Space (it is a button).
        page.focus('#wif-notebook-panel [data-lesson="03-keyboard"]')
        page.keyboard.press(" ")
        page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab:has-text("03-keyboard.ipynb")').wait_for(
            timeout=20_000
        )

        # The status-bar item is a button in the tab order; Enter opens the closed panel.
        page.click('.jp-SideBar .lm-TabBar-tab[data-id="wif-notebook-panel"]')  # collapse the panel
        panel.wait_for(state="hidden", timeout=10_000)
        page.locator("#jp-main-statusbar").click(position={"x": 2, "y": 2})
        item = page.locator(".wif-StatusItem-button")
        for _ in range(30):
            if page.evaluate("document.activeElement.classList.contains('wif-StatusItem-button')"):
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.classList.contains('wif-StatusItem-button')"), focused(
            page
        )
        assert "IdP up" in item.inner_text()
        page.keyboard.press("Enter")
        panel.wait_for(state="visible", timeout=10_000)
    finally:
        api_post(lab, "services/stop", {})
        lesson.unlink()  # the session's other tests count the lessons
        reset_workspace(lab, page)


def test_outputs_fit_a_900_px_window_without_scrolling_sideways(lesson_page: Any) -> None:
    page = lesson_page
    page.click('.jp-SideBar .lm-TabBar-tab[data-id="wif-notebook-panel"]')  # the notebook gets the room
    page.set_viewport_size({"width": 900, "height": 900})
    try:
        page.wait_for_timeout(300)  # JupyterLab lays the shell out again on resize
        overflowing = page.locator(".jp-OutputArea-output .wif-Output").evaluate_all(
            "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".map(e => `${e.firstElementChild.className}: ${e.scrollWidth} > ${e.clientWidth}`)"
        )
        assert not overflowing
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
        open_panel(page)


def test_uris_in_the_narrow_panel_wrap_only_between_their_parts(lesson_page: Any) -> None:
    pieces = lesson_page.locator("#wif-notebook-panel .wif-Uri").evaluate_all(
        """els => els.map(el => ({
            lines: el.getClientRects().length,
            parts: Array.from(el.childNodes).filter(n => n.nodeType === Node.TEXT_NODE).map(n => {
                const range = document.createRange();
                range.selectNodeContents(n);
                return [n.textContent, range.getClientRects().length];
            })
        }))"""
    )
    assert any(p["lines"] > 1 for p in pieces), pieces  # some URI is wider than the panel
    broken = [text for p in pieces for text, rects in p["parts"] if rects != 1]
    assert not broken, broken
