"""Display objects: what a notebook cell shows for a token, the services, a table or a log.

Each object has ``_repr_mimebundle_`` with the kit's MIME type where there is one
(``application/vnd.wif.token+json``, ``application/vnd.wif.status+json``: the contract in
docs/ARCHITECTURE.md, rendered by the labextension), plus ``text/html`` with inline styles only (no
JavaScript: classic Notebook 7, VS Code and GitHub show it as is) and ``text/plain`` for terminals.

Raw tokens never appear unless the person asked with ``show_raw=True`` (``--show-raw``,
``%config WifMagics.show_raw_tokens = True``); then the raw token is in the HTML and text only,
and the custom MIME type is left out because the contract promises it never carries one.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .state import StateDir

TOKEN_MIME = "application/vnd.wif.token+json"
STATUS_MIME = "application/vnd.wif.status+json"

# One palette for every view. In JupyterLab the labextension's stylesheet defines the --wif-*
# variables with a light and a dark value, each WCAG AA on that theme's backgrounds; elsewhere
# (classic Notebook without the extension, VS Code, nbconvert) the light value after the comma.
TONES = {
    "ok": "var(--wif-ok, #1b5e20)",
    "fail": "var(--wif-bad, #b71c1c)",
    "warn": "var(--wif-warn, #8a4b00)",
    "info": "var(--wif-info, #0d47a1)",
    "skip": "var(--wif-skip, #5f6368)",
}
_BOX = (
    "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45;"
    "border:1px solid #8888;border-radius:6px;padding:8px 12px;margin:4px 0;max-width:min(960px,100%);"
    "overflow-wrap:anywhere"
)
_TABLE = "border-collapse:collapse;margin:4px 0;font-size:12.5px"
_TH = (
    "text-align:left;padding:2px 10px 2px 0;border-bottom:1px solid #8886;font-weight:600;vertical-align:top"
)
_TD = "text-align:left;padding:2px 10px 2px 0;vertical-align:top"
_CODE = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px"


def esc(value: Any) -> str:
    """HTML-escape any value (non-strings as compact JSON)."""
    if not isinstance(value, str):
        value = json.dumps(value, default=str, ensure_ascii=False)
    return html.escape(value, quote=True)


def badge(text: str, tone: str = "info") -> str:
    colour = TONES.get(tone, TONES["info"])
    return (
        f'<span style="display:inline-block;padding:0 6px;border-radius:8px;border:1px solid {colour};'
        f'color:{colour};font-size:11.5px;font-weight:600">{esc(text)}</span>'
    )


def mark(passed: bool | None) -> tuple[str, str]:
    """(symbol, tone) for a rule result: ✔ passed, ✘ failed, – not evaluated."""
    if passed is True:
        return "✔", "ok"
    if passed is False:
        return "✘", "fail"
    return "–", "skip"


def mark_html(passed: bool | None) -> str:
    """``mark``'s symbol in bold, in its tone's colour."""
    symbol, tone = mark(passed)
    return f'<span style="color:{TONES[tone]};font-weight:700">{symbol}</span>'


def box(title: str, body: str, *, tone: str = "info", subtitle: str = "") -> str:
    colour = TONES.get(tone, TONES["info"])
    sub = f' <span style="opacity:.75;font-weight:400">{esc(subtitle)}</span>' if subtitle else ""
    return (
        f'<div style="{_BOX};border-left:4px solid {colour}">'
        f'<div style="font-weight:600;margin-bottom:4px">{esc(title)}{sub}</div>{body}</div>'
    )


def html_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, raw_html: bool = False, css: str = ""
) -> str:
    """A table (of class ``css``); cells are escaped unless ``raw_html`` (then the caller escaped them)."""
    head = "".join(f'<th style="{_TH}">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{_TD}">{cell if raw_html else esc(_cell(cell))}</td>' for cell in row)
        + "</tr>"
        for row in rows
    )
    css_class = f' class="{esc(css)}"' if css else ""
    return f'<table{css_class} style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def code(text: str) -> str:
    return f'<code style="{_CODE}">{esc(text)}</code>'


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def text_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [min(60, max([len(str(col))] + [len(r[i]) for r in cells])) for i, col in enumerate(columns)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


# -- generic views ---------------------------------------------------------------------------------
@dataclass
class Panel:
    """A titled list of facts (name → value), optionally with a table and notes below."""

    title: str
    rows: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tone: str = "info"
    subtitle: str = ""
    table: tuple[list[str], list[list[Any]]] | None = None

    def _repr_html_(self) -> str:
        parts = []
        if self.rows:
            parts.append(
                f'<table style="{_TABLE}">'
                + "".join(
                    f'<tr><th style="{_TH};border:0">{esc(k)}</th><td style="{_TD}">{esc(_cell(v))}</td></tr>'
                    for k, v in self.rows
                )
                + "</table>"
            )
        if self.table is not None:
            parts.append(html_table(*self.table))
        parts += [f'<div style="margin-top:4px">{esc(n)}</div>' for n in self.notes]
        return box(self.title, "".join(parts), tone=self.tone, subtitle=self.subtitle)

    def __str__(self) -> str:
        lines = [self.title + (f"  ({self.subtitle})" if self.subtitle else "")]
        width = max((len(k) for k, _ in self.rows), default=0)
        lines += [f"  {k.ljust(width)}  {_cell(v)}" for k, v in self.rows]
        if self.table is not None:
            lines += ["  " + line for line in text_table(*self.table).splitlines()]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}


@dataclass
class LogView:
    """The last lines of mongod's JSON log as a table (time, severity, component, id, message)."""

    lines: list[str]
    source: str = "mongod.log"

    def _rows(self) -> list[list[Any]]:
        rows: list[list[Any]] = []
        for line in self.lines:
            try:
                entry = json.loads(line)
            except ValueError:
                rows.append(["", "", "", "", line])
                continue
            stamp = str((entry.get("t") or {}).get("$date", ""))[11:23]
            attr = entry.get("attr") or {}
            detail = attr.get("error") or attr.get("principalName") or ""
            msg = str(entry.get("msg", "")) + (f" — {detail}" if detail else "")
            rows.append([stamp, entry.get("s"), entry.get("c"), entry.get("id"), msg])
        return rows

    def _repr_html_(self) -> str:
        if not self.lines:
            return box(f"{self.source}: no lines yet", "", tone="skip")
        return box(
            f"{self.source}: last {len(self.lines)} lines",
            html_table(["time (UTC)", "s", "component", "id", "message"], self._rows()),
        )

    def __str__(self) -> str:
        return "\n".join(self.lines) if self.lines else f"{self.source}: no lines yet"

    def __repr__(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}


# -- tokens ----------------------------------------------------------------------------------------
def _segments(token: str) -> dict[str, str]:
    parts = token.split(".")
    header = parts[0] if parts else ""
    payload = parts[1] if len(parts) > 1 else ""
    signature = parts[2] if len(parts) > 2 else ""
    return {"header": header, "payload": payload, "signature": (signature[:4] + "…") if signature else ""}


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def token_payload(
    token: str,
    *,
    state: StateDir | None = None,
    source: Mapping[str, Any] | None = None,
    check: bool = True,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``application/vnd.wif.token+json`` document for ``token`` (never the raw token).

    With ``check`` the rules are evaluated against the state directory's mongod.conf (and the
    issuer's JWKS); ``verdict`` is None when there is no server configuration.
    """
    from .errors import WifError
    from .tokens import decode, explain_claims, redact

    token = token.strip()
    moment = time.time() if now is None else now
    header: dict[str, Any] = {}
    claims: dict[str, Any] = {}
    try:
        decoded = decode(token)
        header, claims = decoded.header, decoded.claims
    except WifError:
        pass
    exp = _number(claims.get("exp"))
    doc: dict[str, Any] = {
        "version": 1,
        "token": {"redacted": redact(token), "segments": _segments(token)},
        "header": header,
        "claims": claims,
        "explanations": [
            {"claim": c.name, "value": c.value, "meaning": c.meaning} for c in explain_claims(claims)
        ],
        "validity": {
            "iat": _number(claims.get("iat")),
            "nbf": _number(claims.get("nbf")),
            "exp": exp,
            "now": moment,
            # mongod answers 391 once exp has passed; the driver then fetches a new token.
            "reauth_at": exp,
        },
        "verdict": verdict(token, state) if check and state is not None else None,
        "source": dict(source) if source is not None else None,
    }
    return doc


def verdict(token: str, state: StateDir) -> dict[str, Any] | None:
    """Every rule for the provider entry mongod.conf would select, or None without a configuration."""
    from .errors import ConfigError
    from .mongod import server_providers
    from .oidc import first_failure, keyset_for, select_provider_for_token
    from .oidc.rules import RuleFailure
    from .tokens import check_against, decode

    try:
        found = server_providers(state)
    except ConfigError:
        return None
    if found is None or not found.providers:
        return None
    keys = None
    try:
        issuer = decode(token).claims.get("iss")
        if isinstance(issuer, str):
            keys = keyset_for(issuer, state=state, allow_insecure_localhost=found.enable_test_commands)
    except Exception:  # an undecodable token: the format rule says so
        keys = None
    results = check_against(
        token, found.providers, keys, allow_insecure_localhost=found.enable_test_commands, state=state
    )
    provider = None
    try:
        chosen = select_provider_for_token(found.providers, token)
        provider = {"issuer": chosen.issuer, "audience": chosen.audience}
    except (RuleFailure, Exception):
        provider = None
    failed = first_failure(results)
    return {
        "provider": provider,
        "ok": failed is None,
        "rule": failed.rule if failed is not None else None,
        "rules": [asdict(r) for r in results],
        "config": found.source,
    }


def _when(ts: float | None, now: float) -> str:
    if ts is None:
        return "—"
    delta = int(ts - now)
    rel = "now" if delta == 0 else f"in {delta} s" if delta > 0 else f"{-delta} s ago"
    return time.strftime("%H:%M:%S UTC", time.gmtime(ts)) + f" ({rel})"


class TokenView:
    """A token: claims in plain words, validity window, and the rule book's verdict."""

    def __init__(
        self,
        token: Any,
        *,
        state: StateDir | None = None,
        show_raw: bool = False,
        check: bool = True,
    ) -> None:
        from .tokens import IssuedToken

        source: dict[str, Any] | None = None
        if isinstance(token, IssuedToken):
            source = {
                "method": token.method,
                "principal": token.principal,
                "issuer": token.issuer,
                "elapsed_ms": token.elapsed_ms,
                "from": token.source,
            }
            if token.fault:
                source["fault"] = token.fault
            raw = token.token
        else:
            raw = str(token).strip()
        self._raw = raw
        self.show_raw = show_raw
        self.payload = token_payload(raw, state=state, source=source, check=check)

    def __repr__(self) -> str:
        return str(self)

    @property
    def ok(self) -> bool | None:
        v = self.payload["verdict"]
        return None if v is None else bool(v["ok"])

    def _failed(self) -> dict[str, Any] | None:
        """The rule the server reports (the rule book leaves exactly that one failed)."""
        v = self.payload["verdict"]
        if v is None or v["rule"] is None:
            return None
        return next(r for r in v["rules"] if r["rule"] == v["rule"])

    def __str__(self) -> str:
        p = self.payload
        lines = [f"token  {self._raw if self.show_raw else p['token']['redacted']}"]
        src = p["source"]
        if src:
            lines.append(
                f"source {src.get('method')} for {src.get('principal')} ({src.get('elapsed_ms')} ms)"
                + (f", fault {src['fault'].get('name')}" if src.get("fault") else "")
            )
        if p["header"]:
            lines.append("header " + json.dumps(p["header"], sort_keys=True))
        for e in p["explanations"]:
            lines.append(f"  {e['claim']:<14} {_cell(e['value'])[:60]:<60}  {e['meaning']}")
        v = p["validity"]
        if v["exp"] is not None:
            lines.append(f"expires {_when(v['exp'], v['now'])}; reauthentication (391) after that")
        verdict_doc = p["verdict"]
        if verdict_doc is None:
            lines.append("verdict: not checked (no mongod.conf to check against)")
        else:
            failed = self._failed()
            lines.append(
                "verdict: the server would accept this token"
                if failed is None
                else f"verdict: REFUSED by rule {failed['rule']} ({failed['title']}): {failed['detail']}"
            )
            for r in verdict_doc["rules"]:
                symbol, _tone = mark(r["passed"])
                lines.append(f"  {symbol} {r['rule']:<20} {r['detail']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        p = self.payload
        now = p["validity"]["now"]
        shown = self._raw if self.show_raw else p["token"]["redacted"]
        parts = [f'<div style="margin-bottom:4px">{code(shown)}</div>']
        src = p["source"]
        if src:
            fault = src.get("fault")
            parts.append(
                f"<div>obtained by {badge(str(src.get('method')))} for <b>{esc(src.get('principal'))}</b>"
                f" in {esc(src.get('elapsed_ms'))} ms"
                + (f" — fault preset {badge(str(fault.get('name')), 'warn')}" if fault else "")
                + "</div>"
            )
        if p["header"]:
            parts.append(f"<div>header {code(json.dumps(p['header'], sort_keys=True))}</div>")
        rows = [
            [code(e["claim"]), esc(_cell(e["value"])[:120]), esc(e["meaning"])] for e in p["explanations"]
        ]
        if rows:
            parts.append(html_table(["claim", "value", "meaning"], rows, raw_html=True))
        v = p["validity"]
        if v["exp"] is not None:
            parts.append(
                f"<div>issued {esc(_when(v['iat'], now))} · expires <b>{esc(_when(v['exp'], now))}</b>"
                " · the server asks for reauthentication (391) after that</div>"
            )
        tone = "info"
        verdict_doc = p["verdict"]
        if verdict_doc is None:
            parts.append("<div>Not checked against a server: no mongod.conf yet (%wif_up writes it).</div>")
        else:
            failed = self._failed()
            tone = "ok" if failed is None else "fail"
            headline = (
                badge("the server would accept this token", "ok")
                if failed is None
                else badge(f"refused: {failed['rule']}", "fail") + f" {esc(failed['detail'])}"
            )
            rule_rows = []
            for r in verdict_doc["rules"]:
                rule_rows.append(
                    [
                        mark_html(r["passed"]),
                        code(r["rule"]),
                        esc(r["title"]),
                        esc(r["detail"]),
                    ]
                )
            parts.append(f'<div style="margin-top:6px">{headline}</div>')
            parts.append(html_table(["", "rule", "check", "detail"], rule_rows, raw_html=True))
        title = "Token" + (f" for {src.get('principal')}" if src and src.get("principal") else "")
        return box(title, "".join(parts), tone=tone)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": str(self), "text/html": self._repr_html_()}
        if not self.show_raw:
            bundle[TOKEN_MIME] = self.payload
        return bundle


# -- services --------------------------------------------------------------------------------------
def status_payload(state: StateDir) -> dict[str, Any]:
    """The ``application/vnd.wif.status+json`` document (``wif_notebook.status``, the labextension's)."""
    from .status import status_payload as payload

    return payload(state)


class StatusView:
    """The IdP and mongod: running or not, where, with which issuers."""

    def __init__(
        self, payload: Mapping[str, Any], *, admin_uri_redacted: str | None = None, notes: Sequence[str] = ()
    ) -> None:
        self.payload = dict(payload)
        self.admin_uri_redacted = admin_uri_redacted
        self.notes = list(notes)  # news of the start that led here (``stack.up``'s), shown below

    @classmethod
    def of(cls, state: StateDir, *, notes: Sequence[str] = ()) -> StatusView:
        from .stack import status

        return cls(
            status_payload(state), admin_uri_redacted=status(state).get("admin_uri_redacted"), notes=notes
        )

    def _rows(self) -> list[list[Any]]:
        services = self.payload.get("services", {})
        idp = services.get("idp", {})
        mongod = services.get("mongod", {})
        rows = []
        if idp.get("running"):
            rows.append(["idp", "running", f"{idp.get('base_url')} (pid {idp.get('pid')})"])
        else:
            rows.append(["idp", "stopped", "%wif_up starts it"])
        if mongod.get("running"):
            where = f"{mongod.get('kind')} — {mongod.get('mongodb_uri')} (pid {mongod.get('pid')})"
            rows.append(["mongod", "running", where])
        else:
            rows.append(["mongod", "stopped", "%wif_up starts it"])
        return rows

    def _issuer_rows(self) -> list[list[Any]]:
        issuers = self.payload.get("services", {}).get("idp", {}).get("issuers") or {}
        out = []
        for name, info in issuers.items():
            if isinstance(info, Mapping):
                out.append([name, info.get("issuer"), info.get("audience")])
        return out

    def __str__(self) -> str:
        lines = [f"state_dir  {self.payload.get('state_dir')}"]
        lines += [f"{name:<7} {state:<8} {detail}" for name, state, detail in self._rows()]
        for name, issuer, audience in self._issuer_rows():
            lines.append(f"  issuer {name:<6} {issuer}  (audience {audience})")
        if self.admin_uri_redacted:
            lines.append(f"admin   {self.admin_uri_redacted}")
        lines += [f"note    {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = []
        for name, state, detail in self._rows():
            tone = "ok" if state == "running" else "fail"
            rows.append([f"<b>{esc(name)}</b>", badge(state, tone), esc(detail)])
        body = html_table(["service", "state", "where"], rows, raw_html=True)
        issuers = self._issuer_rows()
        if issuers:
            body += html_table(["issuer", "URL", "audience"], issuers)
        if self.admin_uri_redacted:
            body += f"<div>administrator {code(self.admin_uri_redacted)}</div>"
        body += "".join(f"<div><b>note</b> {esc(note)}</div>" for note in self.notes)
        running = all(r[1] == "running" for r in self._rows())
        return box(
            "wif-notebook services",
            body,
            tone="ok" if running else "warn",
            subtitle=str(self.payload.get("state_dir", "")),
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {STATUS_MIME: self.payload, "text/html": self._repr_html_(), "text/plain": str(self)}
