"""Pictures for the lessons: a token's validity window, the login as a sequence diagram, and the
path from an identity to its privileges.

Every function returns a :class:`Picture`: a display object that shows itself as an image with a
text alternative wherever it is displayed (a lesson cell, a magic, ``display()``), whether or not
matplotlib's inline backend is on, in JupyterLab's light and dark themes alike. ``.figure`` is the
``matplotlib.figure.Figure`` (light theme) for saving or inspecting. Figures are built with the
object API (no pyplot state, never ``plt.show``), so they work under the Agg backend, in tests and
in notebooks. matplotlib is imported only when a picture is drawn.
"""

from __future__ import annotations

import base64
import html
import io
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .flow import Flow
    from .oidc import ProviderConfig

PICTURE_MIME = "application/vnd.wif.picture+json"
NOT_BEFORE_SKEW_SECS = 60  # mongod accepts nbf up to 60 s in the future (rule time.nbf)


@dataclass(frozen=True)
class Theme:
    """One palette per JupyterLab theme. Text colours reach WCAG AA (4.5:1) on the theme's output
    background (white; #111 to #424242 in the dark theme); the figure itself is transparent."""

    name: str
    fg: str  # text and axes
    muted: str  # secondary text, lifelines
    request: str
    reply: str
    error: str
    reauth: str
    valid: str  # the band where the token is usable
    skew: str  # nbf's 60 s allowance
    expired: str
    box: str  # face of a label box: the output background, so lines behind a label are hidden
    lane: str  # face of a participant box
    edge: str  # arrows that are not highlighted


LIGHT = Theme(
    name="light",
    fg="#212121",
    muted="#5f6368",
    request="#0d47a1",
    reply="#1b5e20",
    error="#b71c1c",
    reauth="#a14000",
    valid="#a5d6a7",
    skew="#e8f5e9",
    expired="#ffcdd2",
    box="#ffffff",
    lane="#eceff1",
    edge="#78909c",
)
DARK = Theme(
    name="dark",
    fg="#e8eaed",
    muted="#b0b8bf",
    request="#8ab4f8",
    reply="#81c995",
    error="#ff9e94",
    reauth="#fcad70",
    valid="#2e6b34",
    skew="#1d3b21",
    expired="#6b2a2a",
    box="#212121",
    lane="#37474f",
    edge="#90a4ae",
)
THEMES = (LIGHT, DARK)


class Picture:
    """A picture with its text alternative, drawn once per theme.

    ``_repr_mimebundle_`` gives ``application/vnd.wif.picture+json`` (light and dark PNGs with the
    alt text: the labextension shows the one for the current theme), ``text/html`` (a ``<figure>``
    with an ``<img alt>``), ``image/png`` (with ``alt`` in its metadata) and the alt text as
    ``text/plain``: classic Notebook, VS Code and nbconvert show the image, a terminal the words.
    ``themed=False`` is for a figure drawn elsewhere in fixed colours: one image, on white.
    """

    def __init__(self, draw: Callable[[Theme], Figure], alt: str, *, themed: bool = True) -> None:
        self._draw = draw
        self.alt = alt
        self.themed = themed
        self.figure = self._render(LIGHT)
        self._figures: dict[str, Figure] = {LIGHT.name: self.figure}

    def _render(self, theme: Theme) -> Figure:
        import matplotlib

        with matplotlib.rc_context(
            {
                "text.color": theme.fg,
                "axes.edgecolor": theme.muted,
                "axes.labelcolor": theme.fg,
                "xtick.color": theme.fg,
                "ytick.color": theme.fg,
            }
        ):
            return self._draw(theme)

    def figure_for(self, theme: Theme) -> Figure:
        if not self.themed:
            return self.figure
        if theme.name not in self._figures:
            self._figures[theme.name] = self._render(theme)
        return self._figures[theme.name]

    def png(self, theme: Theme = LIGHT) -> bytes:
        """The picture as PNG: transparent (it takes the output's background) when themed."""
        buffer = io.BytesIO()
        figure = self.figure_for(theme)
        if self.themed:
            figure.savefig(buffer, format="png", dpi=100, transparent=True)
        else:
            figure.savefig(buffer, format="png", dpi=100, facecolor="white")
        return buffer.getvalue()

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        light = base64.b64encode(self.png(LIGHT)).decode("ascii")
        dark = base64.b64encode(self.png(DARK)).decode("ascii") if self.themed else light
        width, height = (round(v * 100) for v in self.figure.get_size_inches())
        alt = html.escape(self.alt, quote=True)
        data = {
            PICTURE_MIME: {
                "version": 1,
                "alt": self.alt,
                "width": width,
                "height": height,
                "light": light,
                "dark": dark,
            },
            # Outside JupyterLab nothing knows the theme: the light picture on a white backdrop.
            "text/html": (
                '<figure class="wif-Picture" style="margin:4px 0;max-width:100%;overflow-x:auto">'
                f'<img src="data:image/png;base64,{light}" alt="{alt}" width="{width}" '
                'style="max-width:100%;height:auto;background:#fff"></figure>'
            ),
            "image/png": light,
            "text/plain": self.alt,
        }
        metadata = {"image/png": {"alt": self.alt, "needs_background": "light", "width": width}}
        return data, metadata

    def __repr__(self) -> str:
        return f"<Picture: {self.alt}>"


def picture(figure: Figure, alt: str) -> Picture:
    """A figure drawn elsewhere (pyplot in a lesson) as a :class:`Picture` with its text alternative.

    Its colours stay as drawn, so it shows on white in both themes. A pyplot figure is closed, so
    the inline backend does not show it a second time without its text alternative.
    """
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(figure)
    return Picture(lambda _theme: figure, alt, themed=False)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=None)


def _claims_of(token_or_claims: Any) -> dict[str, Any]:
    """Claims from an IssuedToken, ValidatedToken, DecodedToken, a compact JWT or a claims mapping."""
    from .tokens import decode

    if isinstance(token_or_claims, Mapping):
        return dict(token_or_claims)
    if isinstance(token_or_claims, str):
        return decode(token_or_claims).claims
    claims = getattr(token_or_claims, "claims", None)
    if isinstance(claims, Mapping):
        return dict(claims)
    from .errors import TokenError

    raise TokenError(
        f"cannot read claims from {type(token_or_claims).__name__}",
        hint="pass an IssuedToken, a ValidatedToken, a JWT string or a dict of claims",
    )


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# -- the validity window -------------------------------------------------------------------------------


def validity_window(
    token_or_claims: Any, *, now: float | datetime | None = None, reauth_margin: float = 0.0
) -> Picture:
    """The token's life on a time line: iat, nbf (with mongod's 60 s skew), exp, now, re-authentication.

    mongod ends the authorization session at ``exp``: the next command gets 391
    ReauthenticationRequired, and the driver then calls the callback for a new token and runs
    saslStart again on the same connection (machine flows never refresh early). ``reauth_margin``
    (seconds) marks an earlier refresh your own callback or token cache does, ``reauth_margin``
    seconds before ``exp``; 0 means the driver's behaviour.
    """
    claims = _claims_of(token_or_claims)
    moment = now.timestamp() if isinstance(now, datetime) else float(now) if now is not None else time.time()
    iat, nbf, exp = (_number(claims.get(k)) for k in ("iat", "nbf", "exp"))
    sub = claims.get("sub")
    who = sub if isinstance(sub, str) else "token"
    if exp is None:
        words = f"Validity window of {who}: no 'exp' claim: mongod refuses this token (rule body.exp)."
        return Picture(lambda theme: _no_exp_window(who, theme), words)
    status = _validity_status(nbf, exp, moment)
    when = "at exp" if reauth_margin <= 0 else f"{_span(reauth_margin)} before exp (your refresh)"
    times = [f"{name} {_utc(at)}" for name, at in (("issued", iat), ("not before", nbf)) if at is not None]
    words = (
        f"Validity window of {who}: {status}. "
        + ", ".join([*times, f"expires {_utc(exp)}"])
        + f"; now {_utc(moment)}. Re-authentication {when}: the first command after exp gets "
        "391 ReauthenticationRequired and the driver fetches a new token."
    )
    return Picture(
        lambda theme: _draw_validity_window(who, iat, nbf, exp, moment, reauth_margin, status, when, theme),
        words,
    )


def _validity_status(nbf: float | None, exp: float, moment: float) -> str:
    remaining = exp - moment
    status = f"valid for another {_span(remaining)}" if remaining > 0 else f"expired {_span(remaining)} ago"
    if nbf is not None and nbf - NOT_BEFORE_SKEW_SECS > moment:
        status = f"not valid yet (nbf is {_span(nbf - moment)} ahead, more than the 60 s skew)"
    return status


def _no_exp_window(who: str, theme: Theme) -> Figure:
    fig = _figure(9.0, 3.2)
    ax = fig.add_axes((0.04, 0.33, 0.92, 0.5))
    ax.set_yticks([])
    ax.set_xticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.text(
        0.5,
        0.5,
        "no 'exp' claim: mongod refuses this token (rule body.exp)",
        ha="center",
        va="center",
        color=theme.error,
        transform=ax.transAxes,
    )
    fig.suptitle(f"Validity window of {who}", fontsize=11)
    return fig


# Label rows of the validity window, in axes height: above the band, below it, then in it.
_LABEL_ROWS = (0.92, 0.08, 0.5)
# Two labels closer than this (a fraction of the axis width) would print on top of each other.
_LABEL_GAP = 0.13


def _label_rows(positions: Sequence[float], preferred: Sequence[int]) -> list[float]:
    """A row for each label (positions as axis fractions): its preferred row unless a label already
    placed in that row is too close, then the next free row; a fresh token's iat and now sit at
    the same moment and must not share a row."""
    placed: list[tuple[float, int]] = []
    rows: list[float] = []
    for x, want in zip(positions, preferred, strict=True):
        order = [want, *(r for r in range(len(_LABEL_ROWS)) if r != want)]
        row = next((r for r in order if all(abs(x - px) >= _LABEL_GAP for px, pr in placed if pr == r)), want)
        placed.append((x, row))
        rows.append(_LABEL_ROWS[row])
    return rows


def _draw_validity_window(
    who: str,
    iat: float | None,
    nbf: float | None,
    exp: float,
    moment: float,
    reauth_margin: float,
    status: str,
    when: str,
    theme: Theme,
) -> Figure:
    fig = _figure(9.0, 3.2)
    ax = fig.add_axes((0.04, 0.33, 0.92, 0.5))
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)

    start = min(v for v in (iat, nbf, moment, exp) if v is not None)
    if nbf is not None:
        start = min(start, nbf - NOT_BEFORE_SKEW_SECS)
    length = max(exp, moment) - start or 1.0
    pad = 0.12 * length
    lo, hi = start - pad * 0.5, max(exp, moment) + pad
    ax.set_xlim(lo - moment, hi - moment)
    ax.set_ylim(0, 1)

    valid_from = nbf if nbf is not None else (iat if iat is not None else start)
    ax.axvspan(valid_from - moment, exp - moment, ymin=0.3, ymax=0.7, color=theme.valid, lw=0)
    if nbf is not None:
        ax.axvspan(
            nbf - NOT_BEFORE_SKEW_SECS - moment, nbf - moment, ymin=0.3, ymax=0.7, color=theme.skew, lw=0
        )
    ax.axvspan(exp - moment, hi - moment, ymin=0.3, ymax=0.7, color=theme.expired, lw=0)
    ax.text(
        (exp - moment + hi - moment) / 2, 0.5, "expired:\n391 → reauth", ha="center", va="center", fontsize=8
    )

    reauth_at = exp - max(0.0, reauth_margin)
    marks: list[tuple[float, str, str, str, int]] = []  # (time, label, colour, style, preferred row)
    if iat is not None:
        marks.append((iat, f"iat\n{_utc(iat)}", theme.muted, ":", 0))
    if nbf is not None and nbf != iat:
        marks.append((nbf, f"nbf\n{_utc(nbf)}", theme.request, "--", 1))
    marks.append((exp, f"exp\n{_utc(exp)}", theme.error, "-", 0))
    marks.append((moment, f"now\n{_utc(moment)}", theme.fg, "-", 1))
    if reauth_margin > 0:
        marks.append((reauth_at, "early refresh", theme.reauth, "-.", 1))
    heights = _label_rows([(at - lo) / (hi - lo) for at, *_ in marks], [m[4] for m in marks])
    for (at, label, colour, style, _), height in zip(marks, heights, strict=True):
        x = at - moment
        ax.axvline(x, color=colour, linestyle=style, lw=1.6)
        ax.text(
            x,
            height,
            label,
            ha="center",
            va="center",
            fontsize=8,
            color=colour,
            bbox={"boxstyle": "round,pad=0.2", "fc": theme.box, "ec": colour, "lw": 0.6},
        )
    ax.set_xlabel("seconds from now")
    fig.suptitle(f"Validity window of {who}: {status}", fontsize=11)
    fig.text(
        0.5,
        0.03,
        f"Re-authentication {when}: the first command after exp gets 391 ReauthenticationRequired;\n"
        "the driver then fetches a new token and reauthenticates on the same connection.",
        ha="center",
        fontsize=8,
        color=theme.reauth,
    )
    return fig


# -- the sequence diagram ---------------------------------------------------------------------------

MAX_DIAGRAM_MESSAGES = 60


_LANE_TITLES = {"client": "client (pymongo)", "mongod": "mongod", "idp": "IdP"}


def sequence_diagram(flow: Flow) -> Picture:
    """client / mongod / IdP lanes and the logged messages between them, in order, coloured by kind.

    The text alternative lists the messages in words, as the labextension's flow view does."""
    messages = list(flow.messages)
    names = ", ".join(_LANE_TITLES.get(p, p) for p in flow.participants)
    if not messages:
        words = f"Sequence diagram between {names}: no authentication exchange in the logs."
    else:
        steps = "; ".join(
            f"{i}. {m.sender} to {m.to}: {_message_label(m)}" for i, m in enumerate(messages, start=1)
        )
        words = f"Sequence diagram of {len(messages)} messages between {names}: {steps}."
    return Picture(lambda theme: _draw_sequence_diagram(flow, theme), words)


def _message_label(m: Any) -> str:
    return str(m.label if m.code is None or str(m.code) in m.label else f"{m.code} {m.label}")


def _draw_sequence_diagram(flow: Flow, theme: Theme) -> Figure:
    colours = {"request": theme.request, "reply": theme.reply, "error": theme.error}
    participants = list(flow.participants)
    messages = list(flow.messages)
    dropped = max(0, len(messages) - MAX_DIAGRAM_MESSAGES)
    messages = messages[dropped:]
    rows = max(1, len(messages))
    fig = _figure(10.0, 1.3 + 0.42 * rows)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    lane = {name: 1.6 + i * 3.2 for i, name in enumerate(participants)}
    width = 1.6 + 3.2 * (len(participants) - 1) + 3.2
    ax.set_xlim(0, width)
    ax.set_ylim(-(rows + 0.6), 1.2)
    for name, x in lane.items():
        ax.plot([x, x], [0.4, -(rows + 0.3)], color=theme.muted, lw=1, ls="--", zorder=1)
        ax.text(
            x,
            0.7,
            _LANE_TITLES.get(name, name),
            ha="center",
            va="center",
            fontsize=10,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.35", "fc": theme.lane, "ec": theme.muted},
        )
    if not messages:
        ax.text(width / 2, -0.5, "no authentication exchange in the logs", ha="center", color=theme.muted)
    for i, m in enumerate(messages):
        y = -(i + 0.6)
        colour = colours.get(m.kind, theme.fg)
        ax.text(0.05, y, f"+{m.t:.3f} s", fontsize=7, va="center", color=theme.muted)
        label = _message_label(m)
        x0, x1 = lane.get(m.sender, 0.0), lane.get(m.to, 0.0)
        weight = "bold" if m.kind == "error" else "normal"
        if x0 == x1:  # something the server did by itself: a note on its lane
            ax.text(
                x0 + 0.12,
                y,
                label,
                fontsize=8,
                va="center",
                ha="left",
                color=colour,
                fontweight=weight,
                bbox={"boxstyle": "round,pad=0.2", "fc": theme.box, "ec": colour, "lw": 0.8},
            )
            continue
        ax.annotate(
            "",
            xy=(x1, y),
            xytext=(x0, y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": colour,
                "lw": 1.4,
                "linestyle": "-" if m.kind == "request" else "--",
            },
        )
        ax.text(
            (x0 + x1) / 2,
            y + 0.08,
            label,
            fontsize=8,
            ha="center",
            va="bottom",
            color=colour,
            fontweight=weight,
        )
    if dropped:
        ax.text(
            width / 2,
            1.05,
            f"(first {dropped} messages not shown)",
            ha="center",
            fontsize=8,
            color=theme.muted,
        )
    return fig


# -- identity → claims → roles → privileges ------------------------------------------------------------

COLUMNS = ("identity", "claims", "roles", "inherited roles", "privileges")


@dataclass
class GraphNode:
    id: str
    column: int
    label: str
    highlighted: bool = False
    privilege: dict[str, Any] | None = None  # for privilege nodes: {resource, actions}


@dataclass
class AuthorizationGraph:
    """The nodes and edges ``authorization_graph`` draws (columns are ``COLUMNS``)."""

    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (from, to, style: solid|dashed)
    notes: list[str] = field(default_factory=list)

    def add(self, node_id: str, column: int, label: str) -> str:
        if node_id not in self.nodes:
            self.nodes[node_id] = GraphNode(node_id, column, label)
        return node_id

    def link(self, a: str, b: str, style: str = "solid") -> None:
        if (a, b, style) not in self.edges:
            self.edges.append((a, b, style))

    def column(self, index: int) -> list[GraphNode]:
        return [n for n in self.nodes.values() if n.column == index]


def _resource_label(resource: Mapping[str, Any]) -> str:
    if resource.get("cluster"):
        return "cluster"
    if resource.get("anyResource"):
        return "any resource"
    db, coll = resource.get("db", ""), resource.get("collection", "")
    return f"{db or '*'}.{coll or '*'}"


def _resource_matches(resource: Mapping[str, Any], namespace: str) -> bool:
    if resource.get("anyResource"):
        return True
    if resource.get("cluster") or "db" not in resource:
        return False
    db, _, coll = namespace.partition(".")
    rdb, rcoll = str(resource.get("db", "")), str(resource.get("collection", ""))
    db_ok = rdb == "" or rdb == db
    coll_ok = rcoll == "" and not coll.startswith("system.") or rcoll == coll
    return db_ok and coll_ok


def _privilege_label(priv: Mapping[str, Any]) -> str:
    actions = sorted(str(a) for a in priv.get("actions", []))
    # Two actions per line, at most six shown: a built-in role's twenty actions would hide the picture.
    shown = [", ".join(actions[i : i + 2]) for i in range(0, min(len(actions), 6), 2)]
    more = f"\n+{len(actions) - 6} more" if len(actions) > 6 else ""
    return f"{_resource_label(priv.get('resource', {}))}\n" + "\n".join(shown) + more


def _privilege_id(priv: Mapping[str, Any]) -> str:
    import json

    return (
        "priv:"
        + json.dumps(priv.get("resource", {}), sort_keys=True)
        + json.dumps(sorted(priv.get("actions", [])))
    )


def _role_definitions(
    roles_info: Sequence[Mapping[str, Any]] | None,
) -> dict[tuple[str, str], tuple[list[dict[str, Any]] | None, list[tuple[str, str]]]]:
    """(role, db) → (direct privileges or None when not shown, direct parent roles) from rolesInfo."""
    out: dict[tuple[str, str], tuple[list[dict[str, Any]] | None, list[tuple[str, str]]]] = {}
    for doc in roles_info or []:
        key = (str(doc.get("role")), str(doc.get("db")))
        parents = [(str(r["role"]), str(r["db"])) for r in doc.get("roles", []) if isinstance(r, Mapping)]
        privs = doc.get("privileges")
        out[key] = ([dict(p) for p in privs] if isinstance(privs, list) else None, parents)
    return out


def _builtin_definition(role: str, db: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]] | None:
    from .server.authz import ADMIN_ONLY_ROLES, DATABASE_ROLES, is_builtin_role

    if not is_builtin_role(role, db):
        return None
    make, inherits = DATABASE_ROLES.get(role) or ADMIN_ONLY_ROLES[role]
    return [dict(p) for p in make(db)], [(r, db) for r in inherits]


Ref = tuple[str, str]  # (role, db)
_UNATTRIBUTED = (
    "dashed: the server reports these but not who grants them; pass roles_info (rolesInfo with "
    "showPrivileges) to see the role tree"
)


def authorization_model(
    identity: Any,
    *,
    provider: ProviderConfig | None = None,
    token: Any = None,
    roles_info: Sequence[Mapping[str, Any]] | None = None,
    action: str | None = None,
    namespace: str | None = None,
) -> AuthorizationGraph:
    """The graph ``authorization_graph`` draws; see there for the arguments."""
    auth_info, claims, provider = _model_inputs(identity, provider, token)
    graph = AuthorizationGraph()
    ident = _identity_node(graph, auth_info, claims, provider)
    direct = _token_roles(graph, ident, claims, provider)
    definitions = _role_definitions(roles_info)
    reported = _reported_roles(graph, ident, auth_info, definitions, direct)
    covered = _role_tree(graph, direct, definitions, auth_info, reported)
    _unattributed_privileges(graph, ident, auth_info, covered)
    if action is not None:
        _highlight(graph, action, namespace or "")
    graph.notes = list(dict.fromkeys(graph.notes))  # each note once, in order
    return graph


def _model_inputs(
    identity: Any, provider: ProviderConfig | None, token: Any
) -> tuple[Mapping[str, Any] | None, dict[str, Any] | None, ProviderConfig | None]:
    """(connectionStatus authInfo, token claims, provider) from what the caller passed."""
    from .oidc import ValidatedToken

    auth_info: Mapping[str, Any] | None = None
    if isinstance(identity, Mapping) and isinstance(identity.get("authInfo"), Mapping):
        auth_info = identity["authInfo"]
    elif isinstance(identity, Mapping) and "authenticatedUsers" in identity:
        auth_info = identity
    else:
        token = identity if token is None else token
    if isinstance(token, ValidatedToken):
        provider = provider or token.provider
    return auth_info, (_claims_of(token) if token is not None else None), provider


def _identity_node(
    graph: AuthorizationGraph,
    auth_info: Mapping[str, Any] | None,
    claims: dict[str, Any] | None,
    provider: ProviderConfig | None,
) -> str:
    """Column 0: the authenticated user (from the server), or the user the token would log in as."""
    from .oidc import RuleFailure, check_principal, user_name

    users = list(auth_info.get("authenticatedUsers", [])) if auth_info else []
    if users:
        return graph.add("user", 0, f"{users[0].get('user')}\n@ {users[0].get('db')}")
    if claims is not None and provider is not None:
        try:
            user = user_name(provider, check_principal(claims, provider))
        except RuleFailure as failure:
            graph.notes.append(f"mongod refuses this token: {failure.message}")
            return graph.add("user", 0, "refused by mongod")
        return graph.add("user", 0, f"{user}\n@ $external")
    if claims is not None:
        return graph.add("user", 0, f"sub {claims.get('sub')}")
    graph.notes.append("connectionStatus shows no authenticated user")
    return graph.add("user", 0, "not authenticated")


def _token_roles(
    graph: AuthorizationGraph, ident: str, claims: dict[str, Any] | None, provider: ProviderConfig | None
) -> list[Ref]:
    """Columns 1-2: the authorization claim's values and the admin roles they name (rule book)."""
    from .oidc import RuleFailure, claim_roles

    if claims is None:
        return []
    if provider is None:
        # No configuration to name roles with: the groups claim's values alone.
        values = claims.get("groups")
        for value in values if isinstance(values, list) else []:
            graph.link(ident, graph.add(f"claim:{value}", 1, f"groups: {value}"))
        return []
    if not provider.use_authorization_claim:
        graph.notes.append(
            "useAuthorizationClaim is false: roles come from the $external user document, not the token"
        )
        return []
    try:
        roles = claim_roles(provider, claims)
    except RuleFailure as failure:  # a missing or malformed claim: mongod refuses the token
        graph.notes.append(f"mongod refuses this token: {failure.message}")
        return []
    direct: list[Ref] = []
    for value, role in roles.items():
        node = graph.add(f"claim:{value}", 1, f"{provider.authorization_claim}: {value}")
        graph.link(ident, node)
        graph.link(node, graph.add(f"role:{role}@admin", 2, f"{role}\n@ admin"))
        direct.append((role, "admin"))
    return direct


def _reported_roles(
    graph: AuthorizationGraph,
    ident: str,
    auth_info: Mapping[str, Any] | None,
    definitions: dict[Ref, Any],
    direct: list[Ref],
) -> list[Ref]:
    """The roles the server reports (connectionStatus); those the token did not reach and no reported
    role inherits are the user's own, added to ``direct``."""
    reported = [
        (str(r.get("role")), str(r.get("db"))) for r in (auth_info or {}).get("authenticatedUserRoles", [])
    ]
    inherited_somewhere: set[Ref] = set()
    for ref in reported:
        known = definitions.get(ref) or _builtin_definition(*ref)
        if known is not None:
            inherited_somewhere.update(known[1])
    unknown = [r for r in reported if r not in definitions and _builtin_definition(*r) is None]
    for ref in reported:
        if ref not in direct and ref not in inherited_somewhere:
            direct.append(ref)
            # With custom roles of unknown definition, a reported role may be inherited, not held.
            style = "dashed" if unknown and ref not in unknown else "solid"
            graph.link(ident, graph.add(f"role:{ref[0]}@{ref[1]}", 2, f"{ref[0]}\n@ {ref[1]}"), style)
    if unknown:
        graph.notes.append(_UNATTRIBUTED)
    return reported


def _role_privileges(
    ref: Ref, definitions: dict[Ref, Any]
) -> tuple[list[dict[str, Any]] | None, list[Ref]] | None:
    """(privileges, inherited roles) of a role: rolesInfo's answer, else the built-in definition."""
    builtin = _builtin_definition(*ref)
    definition = definitions.get(ref)
    if definition is None:
        return builtin
    privileges, parents = definition
    if privileges is None and builtin is not None:
        privileges = builtin[0]
    return privileges, parents


def _role_tree(
    graph: AuthorizationGraph,
    direct: list[Ref],
    definitions: dict[Ref, Any],
    auth_info: Mapping[str, Any] | None,
    reported: list[Ref],
) -> set[str]:
    """Columns 2-4: each role, the roles it inherits and their privileges; the privilege ids drawn."""
    covered: set[str] = set()
    seen: set[Ref] = set()
    queue = list(direct)
    while queue:
        ref = queue.pop(0)
        if ref in seen:
            continue
        seen.add(ref)
        node = graph.add(f"role:{ref[0]}@{ref[1]}", 2 if ref in direct else 3, f"{ref[0]}\n@ {ref[1]}")
        found = _role_privileges(ref, definitions)
        if found is None:
            if auth_info is not None and ref not in reported:
                graph.notes.append(f"role {ref[0]}@{ref[1]} does not exist on the server: it grants nothing")
            continue
        privileges, parents = found
        for parent in parents:
            graph.link(node, graph.add(f"role:{parent[0]}@{parent[1]}", 3, f"{parent[0]}\n@ {parent[1]}"))
            queue.append(parent)
        for priv in privileges or []:
            pid = graph.add(_privilege_id(priv), 4, _privilege_label(priv))
            graph.nodes[pid].privilege = priv
            covered.add(pid)
            graph.link(node, pid)
    return covered


def _unattributed_privileges(
    graph: AuthorizationGraph, ident: str, auth_info: Mapping[str, Any] | None, covered: set[str]
) -> None:
    """Privileges the server merged whose granting role is unknown (custom roles without rolesInfo)."""
    for priv in (auth_info or {}).get("authenticatedUserPrivileges", []):
        pid = _privilege_id(priv)
        if pid not in covered:
            graph.link(ident, graph.add(pid, 4, _privilege_label(priv)), "dashed")
            graph.nodes[pid].privilege = dict(priv)
            graph.notes.append(_UNATTRIBUTED)


def _highlight(graph: AuthorizationGraph, action: str, namespace: str) -> None:
    """Mark the privileges that allow ``action`` on ``namespace`` and every node on a path to them."""
    targets = set()
    for node in graph.column(4):
        priv = node.privilege or {}
        if action in priv.get("actions", []) and _resource_matches(priv.get("resource", {}), namespace):
            targets.add(node.id)
            others = len(priv.get("actions", [])) - 1
            node.label = f"{_resource_label(priv.get('resource', {}))}\n{action}" + (
                f" (+{others} more)" if others else ""
            )
    marked = set(targets)
    changed = True
    while changed:
        changed = False
        for a, b, _ in graph.edges:
            if b in marked and a not in marked:
                marked.add(a)
                changed = True
    for node_id in marked:
        graph.nodes[node_id].highlighted = True
    verdict = "allowed" if targets else "NOT allowed: no privilege grants it"
    graph.notes.insert(0, f"{action} on {namespace or '(any)'}: {verdict}")


def authorization_graph(
    identity: Any,
    *,
    provider: ProviderConfig | None = None,
    token: Any = None,
    roles_info: Sequence[Mapping[str, Any]] | None = None,
    action: str | None = None,
    namespace: str | None = None,
) -> Picture:
    """Why may this workload write here? identity → claims (groups) → roles → inherited roles → privileges.

    ``identity`` is a ``connectionStatus`` reply (run it with ``showPrivileges: true``) or its
    ``authInfo``; or a token (``ValidatedToken``, ``IssuedToken``, JWT string or claims dict), in which
    case ``provider`` (the ``oidcIdentityProviders`` entry) turns groups into ``<authNamePrefix>/<group>``
    roles in admin. ``token`` adds the claims column to a ``connectionStatus`` picture. ``roles_info``
    is the ``roles`` list of ``rolesInfo`` with ``showPrivileges: true`` (custom roles' parents and
    privileges; built-in roles are known). ``action`` + ``namespace`` (``"shop.orders"``) highlight
    the path that allows it, or say that none does.
    """
    graph = authorization_model(
        identity, provider=provider, token=token, roles_info=roles_info, action=action, namespace=namespace
    )
    return Picture(lambda theme: _draw_authorization_graph(graph, action, theme), _graph_in_words(graph))


def _graph_in_words(graph: AuthorizationGraph) -> str:
    """The graph as text: each column's boxes, then the notes (the verdict first when asked)."""
    parts = []
    for index, title in enumerate(COLUMNS):
        labels = [
            n.label.replace("\n", " ") + (" (highlighted)" if n.highlighted else "")
            for n in graph.column(index)
        ]
        if labels:
            parts.append(f"{title}: " + "; ".join(labels))
    words = "Authorization graph, identity to privileges. " + ". ".join(parts) + "."
    if graph.notes:
        words += " " + " ".join(note.rstrip(".") + "." for note in graph.notes)
    return words


def _draw_authorization_graph(graph: AuthorizationGraph, action: str | None, theme: Theme) -> Figure:
    columns = [graph.column(i) for i in range(len(COLUMNS))]
    rows = max(1, *(len(c) for c in columns))
    fig = _figure(12.0, 1.6 + 0.8 * rows + 0.22 * len(graph.notes))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    xs = [1.0, 3.2, 5.4, 7.6, 10.5]
    ax.set_xlim(0, 12.6)
    top = 0.0
    bottom = -(rows + 0.4 + 0.35 * len(graph.notes))
    ax.set_ylim(bottom, 1.0)
    for x, title in zip(xs, COLUMNS, strict=True):
        ax.text(x, 0.55, title, ha="center", va="center", fontsize=10, fontweight="bold", color=theme.fg)
    position: dict[str, tuple[float, float]] = {}
    for index, nodes in enumerate(columns):
        offset = (rows - len(nodes)) / 2
        for j, node in enumerate(nodes):
            position[node.id] = (xs[index], top - (offset + j + 0.5))
    boxes: dict[str, Any] = {}
    for node_id, (x, y) in position.items():
        node = graph.nodes[node_id]
        colour = theme.error if node.highlighted else theme.fg
        text = ax.text(
            x,
            y,
            node.label,
            ha="center",
            va="center",
            fontsize=7.5 if node.column == 4 else 8.5,
            color=colour,
            fontweight="bold" if node.highlighted else "normal",
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.3",
                "fc": theme.box,
                "ec": colour,
                "lw": 1.4 if node.highlighted else 0.8,
            },
        )
        boxes[node_id] = text.get_bbox_patch()
    # Arrows run centre to centre and are clipped at both boxes (patchA/patchB), whatever their width.
    for a, b, style in graph.edges:
        if a not in position or b not in position:
            continue
        hot = graph.nodes[a].highlighted and graph.nodes[b].highlighted
        ax.annotate(
            "",
            xy=position[b],
            xytext=position[a],
            zorder=4,
            arrowprops={
                "arrowstyle": "-|>",
                "lw": 2.0 if hot else 1.0,
                "color": theme.error if hot else theme.edge,
                "linestyle": "--" if style == "dashed" else "-",
                "patchA": boxes[a],
                "patchB": boxes[b],
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
    for k, note in enumerate(graph.notes):
        ax.text(
            0.2,
            -(rows + 0.35 + 0.35 * k),
            note,
            fontsize=8.5,
            va="center",
            color=theme.error if k == 0 and action is not None else theme.fg,
        )
    return fig
