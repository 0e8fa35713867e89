"""Pieces the widgets share: the in-place error area, HTML for claims and rule verdicts, error wording.

Nothing here shows a raw token: tokens appear as ``eyJhbGciOi…[redacted]`` or as their decoded
header and claims; the header and payload segments are shown apart (never joined by a dot) and the
signature cut short, as the display contract says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from ..display import TONES, esc, html_table
from ..errors import WifError

OK, FAIL, SKIP = "✓", "✗", "–"
# The token parts' colours (labextension style/base.css), light values outside JupyterLab.
_PART = "overflow-wrap:anywhere;color:var"
_ERROR_BOX = "padding:4px 8px;background:var(--jp-rendermime-error-background, #fff5f5)"
_TONES = {"ok": TONES["ok"], "error": TONES["fail"], "info": TONES["info"], "muted": TONES["skip"]}


def table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, css: str = "") -> str:
    """An HTML table of the widgets' class ``css``; cells are already escaped HTML."""
    return html_table(columns, rows, raw_html=True, css=css)


def mark(passed: bool | None) -> str:
    if passed is True:
        return f"<span style='color:{_TONES['ok']}'>{OK}</span>"
    if passed is False:
        return f"<span style='color:{_TONES['error']}'>{FAIL}</span>"
    return f"<span style='color:{_TONES['muted']}'>{SKIP}</span>"


def claims_table(claims: dict[str, Any]) -> str:
    """Each claim, its value and its meaning (``tokens.explain_claims``)."""
    from ..tokens import explain_claims

    rows = [
        [f"<code>{esc(c.name)}</code>", f"<code>{esc(c.value)}</code>", esc(c.meaning)]
        for c in explain_claims(claims)
    ]
    return table(["claim", "value", "meaning"], rows, css="wif-claims")


def verdict_table(results: Sequence[Any]) -> str:
    """One row per rule of the rule book: passed / failed / not evaluated, and the server's words."""
    rows = []
    for r in results:
        state = "passed" if r.passed else "failed" if r.passed is False else "skipped"
        rows.append(
            [
                mark(r.passed),
                f"<code>{esc(r.rule)}</code>",
                esc(r.title),
                f"<span class='wif-rule-{state}' data-rule='{esc(r.rule)}'>{esc(r.detail)}</span>",
            ]
        )
    return table(["", "rule", "check", "detail"], rows, css="wif-verdict")


def segments_html(token: str) -> str:
    """Header and payload segments apart, the signature cut short: recognisable, never usable."""
    from ..tokens import redact

    parts = token.split(".")
    if len(parts) != 3:
        return f"<code>{esc(redact(token))}</code> (not three parts)"
    head, body, sig = parts
    return (
        f"<div><b>redacted</b> <code>{esc(redact(token))}</code></div>"
        f"<div><b>header</b> <code style='{_PART}(--wif-part-header, #b0004a)'>{esc(head)}</code></div>"
        f"<div><b>payload</b> <code style='{_PART}(--wif-part-payload, #7b1fa2)'>{esc(body)}</code></div>"
        f"<div><b>signature</b> <code style='{_PART}(--wif-part-signature, #00687a)'>{esc(sig[:4])}…</code> "
        f"({len(sig)} characters)</div>"
    )


def describe(exc: BaseException) -> tuple[str, str]:
    """(what failed, next step) for any exception a step can raise; never a traceback."""
    if isinstance(exc, WifError):
        return exc.what, exc.hint or "fix the cause above and run this step again"
    try:
        from pymongo.errors import OperationFailure, PyMongoError, ServerSelectionTimeoutError
    except ImportError:  # pragma: no cover - pymongo is a dependency
        PyMongoError = OperationFailure = ServerSelectionTimeoutError = ()  # type: ignore[misc,assignment]
    if isinstance(exc, OperationFailure):
        if exc.code == 18:
            return (
                "the server answered 18 AuthenticationFailed ('Authentication failed.')",
                "the server's log says why: see the reason below, or check the claims step's verdict",
            )
        if exc.code == 13:
            return (
                f"the server answered 13 Unauthorized: {exc.details.get('errmsg') if exc.details else exc}",
                "run the authorize step to grant the workload a role, then connect again",
            )
        return (
            f"the server answered code {exc.code}: {str(exc).splitlines()[0][:300]}",
            "check the server's log (logs/mongod.log in the state directory)",
        )
    if isinstance(exc, ServerSelectionTimeoutError):
        return (
            "cannot reach the test mongod: it is not running or not answering",
            "start the services (%wif_up, or `wif up` in a terminal), then run this step again",
        )
    if isinstance(exc, PyMongoError):
        return f"MongoDB connection failed: {str(exc).splitlines()[0][:300]}", "run %wif_doctor"
    return (
        f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
        "run this step again; if it keeps failing, look at logs/mongod.log and logs/idp.log",
    )


class ErrorArea(w.HTML):
    """Where a step's failure is shown: the cause in one line and the next step. Empty when all is well."""

    def __init__(self) -> None:
        super().__init__(value="")
        self.add_class("wif-error")
        self.what: str | None = None
        self.hint: str | None = None

    def show(self, what: str, hint: str, *, extra: str = "") -> None:
        self.what, self.hint = what, hint
        self.value = (
            f"<div style='border-left:4px solid {_TONES['error']};{_ERROR_BOX}'>"
            f"<div class='wif-error-what'><b style='color:{_TONES['error']}'>{FAIL} {esc(what)}</b></div>"
            f"<div class='wif-error-hint'>next step: {esc(hint)}</div>{extra}</div>"
        )

    def clear(self) -> None:
        self.what = self.hint = None
        self.value = ""


def guarded(errors: ErrorArea, action: Callable[[], None]) -> bool:
    """Run ``action``; any failure lands in ``errors`` (never a traceback). True when it succeeded."""
    errors.clear()
    try:
        action()
    except Exception as exc:  # every failure becomes a message in place, by design
        what, hint = describe(exc)
        errors.show(what, hint)
        return False
    return True


def status_line(text: str, tone: str = "info") -> str:
    return f"<span style='color:{_TONES.get(tone, '#000')}'>{esc(text)}</span>"
