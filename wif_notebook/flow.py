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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clouds import clouds

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


class _MongodReader:
    """Turns mongod.log records into messages, one method per log id (``READERS``), keeping what a
    record needs to know about the records before it on the same connection."""

    def __init__(self) -> None:
        self.events: list[_Event] = []
        # connection -> how many authentication or failed-command records it has (a connection with
        # neither is a driver's monitoring connection)
        self.auths: dict[int, int] = {}
        self.last: dict[int, tuple[bool, bool]] = {}  # connection -> (succeeded, speculative), last auth
        # Connections whose session got a logged 391 since their last authentication record: their
        # next authentication answers it, so no 391 is inferred for it.
        self.logged_391: set[int] = set()
        # connection -> index in events of its last 18 from an "Authentication failed" record that
        # no 51803 has joined yet.
        self.open_18: dict[int, int] = {}

    def add(self, at: float, message: FlowMessage) -> None:
        self.events.append(_Event(at, len(self.events), message))

    def read(self, entries: Iterable[dict[str, Any]]) -> None:
        for entry in entries:
            at = _epoch(entry.get("t"))
            log_id = entry.get("id")
            reader = READERS.get(log_id) if isinstance(log_id, int) else None
            if at is not None and reader is not None:
                reader(self, at, entry.get("attr") or {}, _conn_id(entry), f"mongod.log id {log_id}")

    def accepted(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        detail = f"TCP from {attr.get('remote')}; {source}"
        self.add(at, _msg("client", "mongod", f"connect (conn{conn})", detail, conn=conn))

    def metadata(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        doc = attr.get("doc") or {}
        driver = doc.get("driver") or {}
        who = f"{driver.get('name', '?')} {driver.get('version', '')}".strip()
        app = (doc.get("application") or {}).get("name")
        detail = f"client metadata: {who}" + (f", appName {app}" if app else "") + f"; {source}"
        self.add(at, _msg("client", "mongod", "hello (handshake)", detail, conn=conn))

    def succeeded(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        self.authentication(at, attr, conn, source, succeeded=True)

    def failed(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        self.authentication(at, attr, conn, source, succeeded=False)

    def authentication(
        self, at: float, attr: dict[str, Any], conn: int | None, source: str, *, succeeded: bool
    ) -> None:
        key = conn or 0
        self.auths[key] = self.auths.get(key, 0) + 1
        mechanism = attr.get("mechanism", "?")
        speculative = bool(attr.get("speculative"))
        previous = self.last.get(key)
        self.last[key] = (succeeded, speculative)
        answered = key in self.logged_391
        self.logged_391.discard(key)
        self.open_18.pop(key, None)
        # A failed speculation is followed by a plain saslStart on the same connection; any other
        # second authentication is a reauthentication, which drivers do only after a 391.
        if previous is not None and previous != (False, True) and not answered:
            self.add(at, _inferred_391(conn, source))
        request = (
            f"hello + speculativeAuthenticate (saslStart {mechanism})"
            if speculative
            else f"saslStart {mechanism}"
        )
        jwt = " with the JWT (one-step machine flow)" if mechanism == "MONGODB-OIDC" else ""
        detail = f"inferred from the authentication record{jwt}; {source}"
        self.add(at, _msg("client", "mongod", request, detail, conn=conn))
        if succeeded:
            self.add(at, _authenticated(attr, mechanism, conn, source))
            return
        if not speculative:  # a refused speculation is not a command: no 51803 follows it
            self.open_18[key] = len(self.events)
        reason = attr.get("error") or "(no reason logged)"
        detail = f"client sees 'Authentication failed.'; server log reason: {reason}; {source}"
        self.add(at, _msg("mongod", "client", "18 AuthenticationFailed", detail, "error", code=18, conn=conn))

    def failed_command(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        if not isinstance(attr.get("errCode"), int):
            return  # a slow query that succeeded
        key = conn or 0
        code = int(attr["errCode"])
        command = _failed_command(attr)
        self.auths[key] = self.auths.get(key, 0) + 1
        label = f"{command} → {code} {attr.get('errName') or 'error'}"
        joined = self.open_18.pop(key, None) if code == 18 and command in _AUTH_COMMANDS else None
        if joined is not None:
            # The same refusal as the "Authentication failed" record just before it: name the
            # command on that 18 instead of drawing a second one.
            before = self.events[joined].message
            detail = (
                before.detail.rsplit("; mongod.log id", 1)[0]
                + f"; mongod.log ids {ID_AUTH_FAILED}, {ID_SLOW_QUERY}"
            )
            self.events[joined].message = _msg(
                before.sender, before.to, label, detail, before.kind, code=before.code, conn=before.conn
            )
            return
        if code == 391:
            self.logged_391.add(key)
        ns = attr.get("ns")
        detail = f"{attr.get('errMsg') or ''}" + (f"; ns {ns}" if ns else "") + f"; {source}"
        self.add(at, _msg("mongod", "client", label, detail, "error", code=code, conn=conn))

    def reauthenticated(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        user = (attr.get("user") or {}).get("user", "?")
        self.add(
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

    def jwks_failed(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        detail = f"{attr.get('issuer')}: {attr.get('error')}; {source}"
        self.add(at, _msg("mongod", "idp", "JWKS load failed", detail, "error"))

    def jwks_changed(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        detail = f"kids {attr.get('keyIds')}; {source}"
        self.add(at, _msg("mongod", "mongod", "JWKS keys removed or changed", detail, "reply"))

    def invalidated(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        detail = (
            f"{attr.get('sessions')} session(s) signed by {attr.get('keyIds')}: their next command "
            f"gets 391; {source}"
        )
        self.add(at, _msg("mongod", "mongod", "sessions must reauthenticate", detail, "error", code=391))

    def ended(self, at: float, attr: dict[str, Any], conn: int | None, source: str) -> None:
        self.add(at, _msg("client", "mongod", f"disconnect (conn{conn})", source, conn=conn))


READERS: dict[int, Callable[[_MongodReader, float, dict[str, Any], int | None, str], None]] = {
    ID_CONNECTION_ACCEPTED: _MongodReader.accepted,
    ID_CLIENT_METADATA: _MongodReader.metadata,
    ID_AUTH_SUCCEEDED: _MongodReader.succeeded,
    ID_AUTH_FAILED: _MongodReader.failed,
    ID_SLOW_QUERY: _MongodReader.failed_command,
    ID_REAUTH_SAME_USER: _MongodReader.reauthenticated,
    ID_JWKS_LOAD_FAILED: _MongodReader.jwks_failed,
    ID_JWKS_REFRESHED: _MongodReader.jwks_changed,
    ID_USERS_INVALIDATED: _MongodReader.invalidated,
    ID_CONNECTION_ENDED: _MongodReader.ended,
}


def _inferred_391(conn: int | None, source: str) -> FlowMessage:
    detail = (
        "inferred: a command failed because the session expired (token exp reached or "
        f"its signing key changed); the driver fetched a token and reauthenticated; {source}"
    )
    return _msg("mongod", "client", "391 ReauthenticationRequired", detail, "error", code=391, conn=conn)


def _authenticated(attr: dict[str, Any], mechanism: str, conn: int | None, source: str) -> FlowMessage:
    principal = attr.get("principalName") or "(unknown principal)"
    claims = (attr.get("extraInfo") or {}).get("claims")
    extra = f", claims {json.dumps(claims, sort_keys=True)}" if claims else ""
    detail = f"done: true; Authentication succeeded ({mechanism}){extra}; {source}"
    return _msg("mongod", "client", f"authenticated as {principal}", detail, "reply", conn=conn)


def _mongod_events(entries: Iterable[dict[str, Any]]) -> tuple[list[_Event], dict[int, int]]:
    """Messages from mongod.log, and how many authentication or failed-command records each
    connection has (a connection with neither is a driver's monitoring connection)."""
    reader = _MongodReader()
    reader.read(entries)
    return reader.events, reader.auths


@dataclass(frozen=True)
class _IdpPaths:
    """What the cloud registry says about the IdP's paths, read once per flow, not per log line."""

    metadata: tuple[tuple[str, str, str], ...]  # (path prefix, endpoint kind, issuer id) per metadata host
    issuers: tuple[tuple[str, dict[str, str], str], ...]  # (route base, {sub-path: kind}, issuer id)
    labels: dict[str, str]  # a metadata endpoint kind → its token request in words

    @classmethod
    def from_registry(cls) -> _IdpPaths:
        from .idp.issuers import ISSUERS

        hosts = [(c.metadata, c.issuer_ids[0]) for c in clouds() if c.metadata is not None]
        return cls(
            metadata=tuple((host.path, host.endpoint, issuer_id) for host, issuer_id in hosts),
            issuers=tuple((i.route_base, i.routes(), i.id) for i in ISSUERS.values()),
            labels={host.endpoint: host.request for host, _ in hosts},
        )

    def endpoint(self, path: str, method: str, grant: Any) -> tuple[str, str | None]:
        """(endpoint kind, issuer id) of one IdP request path."""
        for prefix, kind, issuer_id in self.metadata:
            if path.startswith(prefix):
                return kind, issuer_id
        if path == "/_wif/mint":
            return "mint", None
        if path.startswith("/_wif/"):
            return "admin", None
        for base, routes, issuer_id in self.issuers:
            if path.startswith(base + "/") or path == base:
                found = routes.get(path[len(base) :])
                if found is not None:
                    return found, issuer_id
        if method == "POST" and grant:
            return "token", None
        return "other", None


_IdpRequest = tuple[float, str, "str | None", dict[str, Any]]  # (time, endpoint kind, issuer id, entry)


def _idp_requests(entries: Iterable[dict[str, Any]], paths: _IdpPaths) -> list[_IdpRequest]:
    """The IdP's logged requests that belong to the exchange (not the kit's own admin calls)."""
    requests: list[_IdpRequest] = []
    for entry in entries:
        at = _epoch(entry.get("time"))
        path = entry.get("path")
        if at is None or not isinstance(path, str):
            continue
        kind, issuer_id = paths.endpoint(path, str(entry.get("method", "")), entry.get("grant"))
        if kind != "admin":
            requests.append((at, kind, issuer_id or entry.get("issuer"), entry))
    return requests


def _discovery_sender(requests: list[_IdpRequest], index: int) -> str:
    """Who fetched a discovery document: whoever next asks that issuer for its JWKS (the server) or
    a token (the workload), within a few seconds."""
    at, _, issuer_id, _ = requests[index]
    for at2, kind2, issuer2, _ in requests[index + 1 :]:
        if at2 - at > _DISCOVERY_PAIRING_SECS:
            break
        if issuer2 == issuer_id and kind2 in ("jwks", "token"):
            return "mongod" if kind2 == "jwks" else "client"
    return "mongod"


def _idp_request(requests: list[_IdpRequest], index: int, paths: _IdpPaths) -> tuple[str, str, str]:
    """(sender, label, source) of one IdP request."""
    _, kind, issuer_id, entry = requests[index]
    agent = str(entry.get("user_agent") or "")
    if kind == "jwks":
        return "mongod", f"GET JWKS ({issuer_id})", "idp.log"
    if kind == "discovery" and agent.startswith(_MONGOD_USER_AGENT):
        return "mongod", f"GET discovery ({issuer_id})", f"idp.log; User-Agent {agent}"
    if kind == "discovery":
        sender = _discovery_sender(requests, index)
        return (
            sender,
            f"GET discovery ({issuer_id})",
            "idp.log; sender inferred from the request that follows",
        )
    if kind == "token":
        return "client", f"POST token ({entry.get('grant') or '?'})", "idp.log"
    if kind == "mint":
        fault = entry.get("fault")
        return "client", "mint token" + (f" (fault {fault})" if fault else ""), "idp.log"
    # Requests only a workload makes (a metadata host's token request) have their platform's label.
    label = paths.labels.get(kind, f"{entry.get('method')} {entry.get('path')}")
    return "client", label, "idp.log"


def _idp_reply(
    at: float, kind: str, entry: dict[str, Any], sender: str, source: str
) -> tuple[float, FlowMessage]:
    """The IdP's answer to a request: when it was sent, and the message."""
    status = entry.get("status")
    ok = isinstance(status, int) and status < 400
    error = entry.get("error")
    duration = entry.get("duration_ms")
    message = _msg(
        "idp",
        sender,
        f"{status} " + ("OK" if ok else str(error or "error")),
        f"{kind}{f': {error}' if error else ''}; {source}",
        "reply" if ok else "error",
        code=None if ok else (status if isinstance(status, int) else None),
    )
    return at + (duration / 1000 if isinstance(duration, (int, float)) else 0.0), message


def _idp_events(entries: Iterable[dict[str, Any]]) -> list[_Event]:
    paths = _IdpPaths.from_registry()
    requests = _idp_requests(entries, paths)
    events: list[_Event] = []
    for index, (at, kind, _, entry) in enumerate(requests):
        sender, label, source = _idp_request(requests, index, paths)
        who = f"principal {entry['principal']}; " if entry.get("principal") else ""
        events.append(_Event(at, 2 * index, _msg(sender, "idp", label, f"{who}{source}")))
        replied, reply = _idp_reply(at, kind, entry, sender, source)
        events.append(_Event(replied, 2 * index + 1, reply))
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
    if conn is not None:
        wanted = _connection_number(conn)
        if not any(e.message.conn == wanted for e in mongod_events):
            notes.append(
                f"connection conn{wanted} is not in the log" + (" since the given time" if since else "")
            )
        mongod_events, idp_events = _keep_connections(mongod_events, idp_events, {wanted})
    else:
        if app_name is not None:
            mongod_events, idp_events = _keep_app(entries, app_name, mongod_events, idp_events, notes)
        mongod_events = _without_monitoring(mongod_events, auths, notes)
    return _flow(mongod_events, idp_events, notes, logs / "mongod.log")


def _connection_number(conn: str | int) -> int:
    """4 from ``"conn4"`` or ``4``; ConfigError for anything else."""
    text = str(conn)
    match = _CONN_CTX.match(text) or re.fullmatch(r"(\d+)", text)
    if match is None:
        from .errors import ConfigError

        raise ConfigError(f"{conn!r} is not a connection id", hint="use the log's ctx, e.g. 'conn4', or 4")
    return int(match.group(1))


def _keep_app(
    entries: list[dict[str, Any]],
    app_name: str,
    mongod_events: list[_Event],
    idp_events: list[_Event],
    notes: list[str],
) -> tuple[list[_Event], list[_Event]]:
    """Only the connections of the client named ``app_name``; a note says how many others were left out."""
    wanted = _app_connections(entries, app_name)
    others = {e.message.conn for e in mongod_events if e.message.conn is not None} - wanted
    if others:
        notes.append(
            f"{len(others)} connection(s) of other clients left out (this flow shows appName "
            f"{app_name}); %wif_flow --all-clients shows every client"
        )
    return _keep_connections(mongod_events, idp_events, wanted)


def _without_monitoring(mongod_events: list[_Event], auths: dict[int, int], notes: list[str]) -> list[_Event]:
    """Leave out connections that never authenticated (the driver's monitoring connections)."""
    silent = {
        e.message.conn
        for e in mongod_events
        if e.message.conn is not None and auths.get(e.message.conn, 0) == 0
    }
    if not silent:
        return mongod_events
    notes.append(
        f"{len(silent)} connection(s) without authentication left out (driver monitoring); "
        "pass conn= to see one"
    )
    return [e for e in mongod_events if e.message.conn not in silent]


def _flow(mongod_events: list[_Event], idp_events: list[_Event], notes: list[str], mongod_log: Path) -> Flow:
    """Both logs' messages in time order, times relative to the first."""
    # mongod's events first at equal times: its log line is written before the IdP's for a JIT fetch.
    merged = sorted(
        [(e.at, 0, e.order, e.message) for e in mongod_events]
        + [(e.at, 1, e.order, e.message) for e in idp_events]
    )
    if not merged:
        if not mongod_log.exists():
            notes.append(f"no mongod log at {mongod_log}: start the services (`wif up`)")
        return Flow([], started_at=None, notes=notes)
    merged = _place_inferred_reauth(merged)
    t0 = merged[0][0]
    messages = [
        FlowMessage(at - t0, m.sender, m.to, m.label, m.detail, m.kind, m.code, m.conn)
        for at, _, _, m in merged
    ]
    return Flow(messages, started_at=t0, notes=notes)
