"""The authentication exchange, rebuilt from the services' own logs: who said what to whom, and when.

``collect(state)`` reads the test mongod's JSON log (``logs/mongod.log``, mongod's format) and the
mock IdP's request log (``logs/idp.log``) and returns a ``Flow``: three participants (``client``,
``mongod``, ``idp``) and their messages in time order. Nothing is captured on the wire; every
message comes from a log record, so the same reading works on a real mongod's log.

What the logs say, and what is inferred from them (the message's ``detail`` says "inferred"):

- mongod logs *Connection accepted* (22943), the driver's handshake metadata (51800, first hello),
  *Authentication succeeded* (20250) / *failed* (20249, with the rule book's reason), a same-user
  reauthentication (5626700), JWKS load failures (7119501), key changes (7119502), invalidated
  sessions (7119503) and *Connection ended* (22944).
- A failed command is logged as *Slow query* (51803) with ``errCode``/``errName`` (the kit's mongod
  writes it for every failure; a real mongod only for slow ones or at a higher verbosity). It becomes
  the error reply ``<command> → <code> <errName>`` (13 Unauthorized, 391 ReauthenticationRequired,
  ...) at the time it happened; a failed ``saslStart``'s 51803 joins the 18 of its *Authentication
  failed* record rather than adding a second 18.
- mongod does not log the SASL commands themselves. An authentication record implies the client's
  ``saslStart`` (or, when ``speculative`` is true, a hello carrying ``speculativeAuthenticate``) and
  the server's reply. A second authentication on one connection with no logged 391 before it (an
  older log, or a real mongod's) implies the 391 that asked for it.
- The IdP logs every request with its User-Agent: a discovery fetch sent by the test mongod
  (``wif-notebook-test-mongod/<version>``) is the server's. Otherwise a JWKS fetch is the server's, a
  token request is the workload's, and a discovery fetch belongs to whichever of the two asks that
  issuer for its JWKS or its token next.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# mongod's log ids are named once, in server/log.py (constants only: reading a log starts no server).
from .server.log import (
    ID_AUTH_FAILED,
    ID_AUTH_SUCCEEDED,
    ID_CLIENT_METADATA,
    ID_CONNECTION_ACCEPTED,
    ID_CONNECTION_ENDED,
    ID_JWKS_LOAD_FAILED,
    ID_JWKS_REFRESHED,
    ID_REAUTH_SAME_USER,
    ID_SLOW_QUERY,
    ID_USERS_INVALIDATED,
)
from .state import StateDir

if TYPE_CHECKING:
    from .plots import Picture

PARTICIPANTS = ("client", "mongod", "idp")
FLOW_MIME = "application/vnd.wif.flow+json"

_AUTH_COMMANDS = ("saslStart", "saslContinue", "authenticate")
_CONN_CTX = re.compile(r"^conn(\d+)$")
# The User-Agent of the test mongod's discovery and JWKS requests (wif_notebook.server.core).
_MONGOD_USER_AGENT = "wif-notebook-test-mongod/"
# A discovery fetch and the JWKS or token request it leads to are this close together.
_DISCOVERY_PAIRING_SECS = 5.0


@dataclass(frozen=True)
class FlowMessage:
    """One arrow of the sequence diagram. ``t`` is seconds since the flow's first message."""

    t: float
    sender: str
    to: str
    label: str
    detail: str = ""
    kind: str = "request"  # request | reply | error
    code: int | None = None
    conn: int | None = None  # mongod's connection id, when the message belongs to one

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "from": self.sender,
            "to": self.to,
            "label": self.label,
            "detail": self.detail,
            "kind": self.kind,
            "code": self.code,
        }


@dataclass
class Flow:
    """An authentication exchange: participants and messages in time order."""

    messages: list[FlowMessage] = field(default_factory=list)
    participants: tuple[str, ...] = PARTICIPANTS
    started_at: float | None = None  # epoch seconds of t = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[FlowMessage]:
        return iter(self.messages)

    def labels(self) -> list[str]:
        return [m.label for m in self.messages]

    def errors(self) -> list[FlowMessage]:
        return [m for m in self.messages if m.kind == "error"]

    def to_json(self) -> dict[str, Any]:
        """The ``application/vnd.wif.flow+json`` payload (docs/ARCHITECTURE.md)."""
        return {
            "version": 1,
            "participants": list(self.participants),
            "messages": [m.to_json() for m in self.messages],
        }

    def plot(self) -> Picture:
        """The exchange as a sequence diagram (``wif_notebook.plots.sequence_diagram``): a picture
        that displays as an image with the messages in words as its text alternative."""
        from .plots import sequence_diagram

        return sequence_diagram(self)

    def __str__(self) -> str:
        if not self.messages:
            return "no authentication exchange in the logs" + "".join(f"\n  note: {n}" for n in self.notes)
        width = max(len(p) for p in self.participants)
        lines = []
        for m in self.messages:
            code = f" [{m.code}]" if m.code is not None else ""
            arrow = f"{m.sender:>{width}} -> {m.to:<{width}}"
            lines.append(f"{m.t:8.3f}s  {arrow}  {m.label}{code}" + (f"  ({m.detail})" if m.detail else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .display import TONES

        colours = {"request": TONES["info"], "reply": TONES["ok"], "error": TONES["fail"]}
        rows = []
        for m in self.messages:
            code = f" <b>{m.code}</b>" if m.code is not None else ""
            rows.append(
                f"<tr><td style='text-align:right'>{m.t:.3f} s</td>"
                f"<td>{html.escape(m.sender)} → {html.escape(m.to)}</td>"
                f"<td style='color:{colours.get(m.kind, '#000')}'>{html.escape(m.label)}{code}</td>"
                f"<td>{html.escape(m.detail)}</td></tr>"
            )
        notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in self.notes)
        if not rows:
            return "<div class='wif-flow'><p>No authentication exchange in the logs.</p>" + notes + "</div>"
        return (
            "<div class='wif-flow'><table><thead><tr><th>t</th><th>from → to</th><th>message</th>"
            "<th>detail</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + notes + "</div>"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {FLOW_MIME: self.to_json(), "text/html": self._repr_html_(), "text/plain": str(self)}


# -- reading the logs --------------------------------------------------------------------------------


def _epoch(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("$date")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    for line in text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line being written, or not JSON (a real mongod's stdout before logging starts)
        if isinstance(doc, dict):
            yield doc


@dataclass
class _Event:
    """A message before times are made relative; ``order`` keeps log order for equal times."""

    at: float
    order: int
    message: FlowMessage


def _conn_id(entry: dict[str, Any]) -> int | None:
    attr = entry.get("attr") or {}
    if isinstance(attr.get("connectionId"), int):
        return int(attr["connectionId"])
    match = _CONN_CTX.match(str(entry.get("ctx", "")))
    return int(match.group(1)) if match else None


def _msg(sender: str, to: str, label: str, detail: str = "", kind: str = "request", **kw: Any) -> FlowMessage:
    return FlowMessage(0.0, sender, to, label, detail, kind, **kw)


def _failed_command(attr: dict[str, Any]) -> str:
    """The failed command's name: the first key of the logged ``command`` (mongod puts it first)."""
    command = attr.get("command")
    if isinstance(command, dict):
        for key in command:
            if not str(key).startswith("$"):
                return str(key)
    return "command"


def _mongod_events(entries: Iterable[dict[str, Any]]) -> tuple[list[_Event], dict[int, int]]:
    """Messages from mongod.log, and how many authentication or failed-command records each
    connection has (a connection with neither is a driver's monitoring connection)."""
    events: list[_Event] = []
    auths: dict[int, int] = {}
    last: dict[int, tuple[bool, bool]] = {}  # connection -> (succeeded, speculative) of its last record
    # Connections whose session got a logged 391 since their last authentication record: their next
    # authentication answers it, so no 391 is inferred for it.
    logged_391: set[int] = set()
    # connection -> index in events of its last 18 from an "Authentication failed" record that no
    # 51803 has joined yet.
    open_18: dict[int, int] = {}
    order = 0

    def add(at: float, message: FlowMessage) -> None:
        nonlocal order
        events.append(_Event(at, order, message))
        order += 1

    for entry in entries:
        at = _epoch(entry.get("t"))
        log_id = entry.get("id")
        if at is None or not isinstance(log_id, int):
            continue
        attr = entry.get("attr") or {}
        conn = _conn_id(entry)
        source = f"mongod.log id {log_id}"
        if log_id == ID_CONNECTION_ACCEPTED:
            add(
                at,
                _msg(
                    "client",
                    "mongod",
                    f"connect (conn{conn})",
                    f"TCP from {attr.get('remote')}; {source}",
                    conn=conn,
                ),
            )
        elif log_id == ID_CLIENT_METADATA:
            doc = attr.get("doc") or {}
            driver = doc.get("driver") or {}
            who = f"{driver.get('name', '?')} {driver.get('version', '')}".strip()
            app = (doc.get("application") or {}).get("name")
            detail = f"client metadata: {who}" + (f", appName {app}" if app else "") + f"; {source}"
            add(at, _msg("client", "mongod", "hello (handshake)", detail, conn=conn))
        elif log_id in (ID_AUTH_SUCCEEDED, ID_AUTH_FAILED):
            key = conn or 0
            auths[key] = auths.get(key, 0) + 1
            mechanism = attr.get("mechanism", "?")
            speculative = bool(attr.get("speculative"))
            principal = attr.get("principalName") or "(unknown principal)"
            previous = last.get(key)
            last[key] = (log_id == ID_AUTH_SUCCEEDED, speculative)
            answered = key in logged_391
            logged_391.discard(key)
            open_18.pop(key, None)
            # A failed speculation is followed by a plain saslStart on the same connection; any other
            # second authentication is a reauthentication, which drivers do only after a 391.
            if previous is not None and not (previous == (False, True)) and not answered:
                add(
                    at,
                    _msg(
                        "mongod",
                        "client",
                        "391 ReauthenticationRequired",
                        "inferred: a command failed because the session expired (token exp reached or "
                        f"its signing key changed); the driver fetched a token and reauthenticated; {source}",
                        "error",
                        code=391,
                        conn=conn,
                    ),
                )
            request = (
                f"hello + speculativeAuthenticate (saslStart {mechanism})"
                if speculative
                else f"saslStart {mechanism}"
            )
            jwt = " with the JWT (one-step machine flow)" if mechanism == "MONGODB-OIDC" else ""
            add(
                at,
                _msg(
                    "client",
                    "mongod",
                    request,
                    f"inferred from the authentication record{jwt}; {source}",
                    conn=conn,
                ),
            )
            if log_id == ID_AUTH_SUCCEEDED:
                claims = (attr.get("extraInfo") or {}).get("claims")
                extra = f", claims {json.dumps(claims, sort_keys=True)}" if claims else ""
                add(
                    at,
                    _msg(
                        "mongod",
                        "client",
                        f"authenticated as {principal}",
                        f"done: true; Authentication succeeded ({mechanism}){extra}; {source}",
                        "reply",
                        conn=conn,
                    ),
                )
            else:
                reason = attr.get("error") or "(no reason logged)"
                if not speculative:  # a refused speculation is not a command: no 51803 follows it
                    open_18[key] = len(events)
                add(
                    at,
                    _msg(
                        "mongod",
                        "client",
                        "18 AuthenticationFailed",
                        f"client sees 'Authentication failed.'; server log reason: {reason}; {source}",
                        "error",
                        code=18,
                        conn=conn,
                    ),
                )
        elif log_id == ID_SLOW_QUERY and isinstance(attr.get("errCode"), int):
            key = conn or 0
            code = int(attr["errCode"])
            name = str(attr.get("errName") or "error")
            command = _failed_command(attr)
            auths[key] = auths.get(key, 0) + 1
            label = f"{command} → {code} {name}"
            joined = open_18.pop(key, None) if code == 18 and command in _AUTH_COMMANDS else None
            if joined is not None:
                # The same refusal as the "Authentication failed" record just before it: name the
                # command on that 18 instead of drawing a second one.
                before = events[joined].message
                detail = (
                    before.detail.rsplit("; mongod.log id", 1)[0]
                    + f"; mongod.log ids {ID_AUTH_FAILED}, {log_id}"
                )
                events[joined].message = _msg(
                    before.sender, before.to, label, detail, before.kind, code=before.code, conn=before.conn
                )
                continue
            if code == 391:
                logged_391.add(key)
            message = attr.get("errMsg") or ""
            ns = attr.get("ns")
            add(
                at,
                _msg(
                    "mongod",
                    "client",
                    label,
                    f"{message}" + (f"; ns {ns}" if ns else "") + f"; {source}",
                    "error",
                    code=code,
                    conn=conn,
                ),
            )
        elif log_id == ID_REAUTH_SAME_USER:
            user = (attr.get("user") or {}).get("user", "?")
            add(
                at,
                _msg(
                    "mongod",
                    "mongod",
                    "reauthenticated as the same user",
                    f"{user}; {source}",
                    "reply",
                    conn=conn,
                ),
            )
        elif log_id == ID_JWKS_LOAD_FAILED:
            add(
                at,
                _msg(
                    "mongod",
                    "idp",
                    "JWKS load failed",
                    f"{attr.get('issuer')}: {attr.get('error')}; {source}",
                    "error",
                ),
            )
        elif log_id == ID_JWKS_REFRESHED:
            add(
                at,
                _msg(
                    "mongod",
                    "mongod",
                    "JWKS keys removed or changed",
                    f"kids {attr.get('keyIds')}; {source}",
                    "reply",
                ),
            )
        elif log_id == ID_USERS_INVALIDATED:
            add(
                at,
                _msg(
                    "mongod",
                    "mongod",
                    "sessions must reauthenticate",
                    f"{attr.get('sessions')} session(s) signed by {attr.get('keyIds')}: their next command "
                    f"gets 391; {source}",
                    "error",
                    code=391,
                ),
            )
        elif log_id == ID_CONNECTION_ENDED:
            add(at, _msg("client", "mongod", f"disconnect (conn{conn})", source, conn=conn))
    return events, auths


def _idp_endpoint(path: str, method: str, grant: Any) -> tuple[str, str | None]:
    """(endpoint kind, issuer id) of one IdP request path."""
    from .idp.issuers import ISSUERS

    if path == "/metadata/identity/oauth2/token":
        return "imds", "azure"
    if path.startswith("/computeMetadata/"):
        return "gcp-metadata", "gcp"
    if path == "/_wif/mint":
        return "mint", None
    if path.startswith("/_wif/"):
        return "admin", None
    for issuer in ISSUERS.values():
        base = issuer.route_base
        if path.startswith(base + "/") or path == base:
            kind = issuer.routes().get(path[len(base) :])
            if kind is not None:
                return kind, issuer.id
    if method == "POST" and grant:
        return "token", None
    return "other", None


def _idp_events(entries: Iterable[dict[str, Any]]) -> list[_Event]:
    raw: list[tuple[float, str, str | None, dict[str, Any]]] = []
    for entry in entries:
        at = _epoch(entry.get("time"))
        path = entry.get("path")
        if at is None or not isinstance(path, str):
            continue
        kind, issuer_id = _idp_endpoint(path, str(entry.get("method", "")), entry.get("grant"))
        if kind == "admin":
            continue  # the kit's own admin calls (principals list, key rotation) are not the exchange
        raw.append((at, kind, issuer_id or entry.get("issuer"), entry))

    events: list[_Event] = []
    for index, (at, kind, issuer_id, entry) in enumerate(raw):
        status = entry.get("status")
        source = "idp.log"
        if kind == "jwks":
            sender, label = "mongod", f"GET JWKS ({issuer_id})"
        elif kind == "discovery" and str(entry.get("user_agent") or "").startswith(_MONGOD_USER_AGENT):
            sender, label = "mongod", f"GET discovery ({issuer_id})"
            source += f"; User-Agent {entry['user_agent']}"
        elif kind == "discovery":
            # Who asked: whoever next asks this issuer for its JWKS (the server) or a token (the workload).
            sender = "mongod"
            for at2, kind2, issuer2, _ in raw[index + 1 :]:
                if at2 - at > _DISCOVERY_PAIRING_SECS:
                    break
                if issuer2 == issuer_id and kind2 in ("jwks", "token"):
                    sender = "mongod" if kind2 == "jwks" else "client"
                    break
            label = f"GET discovery ({issuer_id})"
            source += "; sender inferred from the request that follows"
        elif kind == "token":
            grant = entry.get("grant") or "?"
            sender, label = "client", f"POST token ({grant})"
        elif kind == "imds":
            sender, label = "client", "GET Azure IMDS token"
        elif kind == "gcp-metadata":
            sender, label = "client", "GET GCP metadata identity"
        elif kind == "mint":
            fault = entry.get("fault")
            sender, label = "client", "mint token" + (f" (fault {fault})" if fault else "")
        else:
            sender, label = "client", f"{entry.get('method')} {entry.get('path')}"
        who = f"principal {entry['principal']}; " if entry.get("principal") else ""
        events.append(_Event(at, 2 * index, _msg(sender, "idp", label, f"{who}{source}")))
        ok = isinstance(status, int) and status < 400
        error = entry.get("error")
        reply_label = f"{status} " + ("OK" if ok else str(error or "error"))
        duration = entry.get("duration_ms")
        events.append(
            _Event(
                at + (duration / 1000 if isinstance(duration, (int, float)) else 0.0),
                2 * index + 1,
                _msg(
                    "idp",
                    sender,
                    reply_label,
                    f"{kind}{f': {error}' if error else ''}; {source}",
                    "reply" if ok else "error",
                    code=None if ok else (status if isinstance(status, int) else None),
                ),
            )
        )
    return events


def _place_inferred_reauth(
    merged: list[tuple[float, int, int, FlowMessage]],
) -> list[tuple[float, int, int, FlowMessage]]:
    """Move each inferred 391 before the token request the workload made because of it.

    Such a 391 was not logged; the reauthentication was. Between the two, the driver called the
    callback, so the workload's IdP requests just before the reauthentication belong after the 391.
    """
    out = list(merged)
    for index in range(len(out)):
        at, source, order, message = out[index]
        if (
            message.code != 391
            or message.sender != "mongod"
            or message.to != "client"
            or not message.detail.startswith("inferred")
        ):
            continue  # a logged 391 (51803) already sits where it happened
        start = index
        while (
            start > 0
            and {out[start - 1][3].sender, out[start - 1][3].to} == {"client", "idp"}
            and at - out[start - 1][0] <= _DISCOVERY_PAIRING_SECS
        ):
            start -= 1
        if start < index:
            moved = (out[start][0], source, order, message)
            out = out[:start] + [moved] + out[start:index] + out[index + 1 :]
    return out


def _app_connections(entries: Iterable[dict[str, Any]], app_name: str) -> set[int]:
    """The connections whose handshake metadata (51800) names ``app_name``."""
    found = set()
    for entry in entries:
        if entry.get("id") == ID_CLIENT_METADATA:
            doc = (entry.get("attr") or {}).get("doc") or {}
            conn = _conn_id(entry)
            if conn is not None and (doc.get("application") or {}).get("name") == app_name:
                found.add(conn)
    return found


def _keep_connections(
    mongod_events: list[_Event], idp_events: list[_Event], wanted: set[int]
) -> tuple[list[_Event], list[_Event]]:
    """Only ``wanted`` connections' records (and the server's own, which name no connection), and the
    IdP requests made while they were open (plus the few seconds before: the workload's token)."""
    mine = [e for e in mongod_events if e.message.conn in wanted]
    if mine:
        start, end = mine[0].at - _DISCOVERY_PAIRING_SECS, mine[-1].at
        idp_events = [e for e in idp_events if start <= e.at <= end]
    else:
        idp_events = []
    return [e for e in mongod_events if e.message.conn in wanted or e.message.conn is None], idp_events


def collect(
    state: StateDir | None = None,
    *,
    since: float | None = None,
    conn: str | int | None = None,
    app_name: str | None = None,
) -> Flow:
    """The authentication exchange found in the logs of ``state``'s services.

    ``since``: epoch seconds; older records are left out (e.g. ``time.time()`` taken before a login).
    ``conn``: one mongod connection (``"conn4"`` or ``4``): its records, and the IdP requests made
    while it was open (plus the few seconds before, when the workload fetched its token).
    ``app_name``: only the connections of the client with that appName (``connect`` gives each
    client its own), so other clients' traffic (the administrator's SCRAM login, other notebooks)
    stays out; a note says how many connections were left out.
    By default, connections that never authenticated (the driver's monitoring connections) are
    left out; a note says how many.
    """
    state = state if state is not None else StateDir()
    logs = state.logs_dir
    entries = list(_json_lines(logs / "mongod.log"))
    mongod_events, auths = _mongod_events(entries)
    idp_events = _idp_events(_json_lines(logs / "idp.log"))
    notes: list[str] = []

    if since is not None:
        mongod_events = [e for e in mongod_events if e.at >= since]
        idp_events = [e for e in idp_events if e.at >= since]
    if app_name is not None and conn is None:
        wanted_app = _app_connections(entries, app_name)
        others = {e.message.conn for e in mongod_events if e.message.conn is not None} - wanted_app
        mongod_events, idp_events = _keep_connections(mongod_events, idp_events, wanted_app)
        if others:
            notes.append(
                f"{len(others)} connection(s) of other clients left out (this flow shows appName "
                f"{app_name}); %wif_flow --all-clients shows every client"
            )

    wanted: int | None = None
    if conn is not None:
        text = str(conn)
        match = _CONN_CTX.match(text) or re.fullmatch(r"(\d+)", text)
        if match is None:
            from .errors import ConfigError

            raise ConfigError(
                f"{conn!r} is not a connection id", hint="use the log's ctx, e.g. 'conn4', or 4"
            )
        wanted = int(match.group(1))
        if not any(e.message.conn == wanted for e in mongod_events):
            notes.append(
                f"connection conn{wanted} is not in the log" + (" since the given time" if since else "")
            )
        mongod_events, idp_events = _keep_connections(mongod_events, idp_events, {wanted})
    else:
        silent = {
            e.message.conn
            for e in mongod_events
            if e.message.conn is not None and auths.get(e.message.conn, 0) == 0
        }
        if silent:
            mongod_events = [e for e in mongod_events if e.message.conn not in silent]
            notes.append(
                f"{len(silent)} connection(s) without authentication left out (driver monitoring); "
                "pass conn= to see one"
            )

    # mongod's events first at equal times: its log line is written before the IdP's for a JIT fetch.
    merged = sorted(
        [(e.at, 0, e.order, e.message) for e in mongod_events]
        + [(e.at, 1, e.order, e.message) for e in idp_events]
    )
    if not merged:
        if not (logs / "mongod.log").exists():
            notes.append(f"no mongod log at {logs / 'mongod.log'}: start the services (`wif up`)")
        return Flow([], started_at=None, notes=notes)
    merged = _place_inferred_reauth(merged)
    t0 = merged[0][0]
    messages = [
        FlowMessage(at - t0, m.sender, m.to, m.label, m.detail, m.kind, m.code, m.conn)
        for at, _, _, m in merged
    ]
    return Flow(messages, started_at=t0, notes=notes)
