"""Image-baseline tests: fixed claims, times and logs, so each picture is the same on every run.

The baselines live in tests/plots/baseline/; a changed picture fails the test with the RMS
difference (matplotlib.testing.compare). Regenerate with WIF_UPDATE_BASELINES=1 after an intended change.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from wif_notebook import flow, plots
from wif_notebook.oidc import ProviderConfig
from wif_notebook.server.authz import DATABASE_ROLES
from wif_notebook.state import StateDir

from .conftest import check_image

pytestmark = pytest.mark.usefixtures("mpl_style")

ISSUED = 1_800_000_000  # 2027-01-15 08:00:00 UTC
CLAIMS = {
    "iss": "http://localhost:8123/kit",
    "sub": "billing-api",
    "aud": "api://mongodb-kit",
    "iat": ISSUED,
    "nbf": ISSUED,
    "exp": ISSUED + 3600,
    "groups": ["billing-writers", "reports-readers"],
}
PROVIDER = ProviderConfig(
    issuer="http://localhost:8123/kit",
    audience="api://mongodb-kit",
    auth_name_prefix="kit",
    authorization_claim="groups",
    supports_human_flows=False,
)
# What the server reports for readWrite on shop (its built-in definition).
READ_WRITE_SHOP = DATABASE_ROLES["readWrite"][0]("shop")
CONNECTION_STATUS = {
    "authInfo": {
        "authenticatedUsers": [{"user": "kit/billing-api", "db": "$external"}],
        "authenticatedUserRoles": [
            {"role": "kit/billing-writers", "db": "admin"},
            {"role": "kit/reports-readers", "db": "admin"},
            {"role": "readWrite", "db": "shop"},
        ],
        "authenticatedUserPrivileges": [
            {"resource": {"db": "reports", "collection": ""}, "actions": ["find"]},
            *READ_WRITE_SHOP,
        ],
    },
    "ok": 1.0,
}
ROLES_INFO = [
    {
        "role": "kit/billing-writers",
        "db": "admin",
        "roles": [{"role": "readWrite", "db": "shop"}],
        "privileges": [],
    },
    {
        "role": "kit/reports-readers",
        "db": "admin",
        "roles": [],
        "privileges": [{"resource": {"db": "reports", "collection": ""}, "actions": ["find"]}],
    },
]


def test_validity_window_of_a_live_token(tmp_path: Path) -> None:
    fig = plots.validity_window(CLAIMS, now=ISSUED + 1200).figure
    check_image(fig, "validity_window_live", tmp_path)


def test_validity_window_of_an_expired_token_with_an_early_refresh(tmp_path: Path) -> None:
    fig = plots.validity_window(CLAIMS, now=ISSUED + 4000, reauth_margin=300).figure
    assert "expired 7 min ago" in fig.get_suptitle()
    check_image(fig, "validity_window_expired", tmp_path)


def test_validity_window_in_the_dark_theme_has_light_text_on_a_transparent_background(tmp_path: Path) -> None:
    picture = plots.validity_window(CLAIMS, now=ISSUED + 1200)
    check_image(picture.figure_for(plots.DARK), "validity_window_live_dark", tmp_path)
    assert picture.figure_for(plots.DARK).get_suptitle() == picture.figure.get_suptitle()


def _label_boxes(fig: Figure) -> list[tuple[str, Bbox]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    return [
        (t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts if t.get_text()
    ]


def test_a_fresh_token_s_iat_and_now_labels_do_not_overlap() -> None:
    fresh = {**CLAIMS, "nbf": None, "exp": ISSUED + 300}
    for now in (ISSUED, ISSUED + 2, ISSUED + 299):
        boxes = _label_boxes(plots.validity_window(fresh, now=now).figure)
        overlapping = [
            (a, b)
            for i, (a, box_a) in enumerate(boxes)
            for b, box_b in boxes[i + 1 :]
            if box_a.overlaps(box_b)
        ]
        assert not overlapping, (now, overlapping)


def test_a_picture_displays_as_an_image_with_its_text_alternative_without_the_inline_backend() -> None:
    from IPython.core.formatters import DisplayFormatter

    picture = plots.validity_window(CLAIMS, now=ISSUED + 1200)
    data, metadata = DisplayFormatter().format(picture)
    assert "<Figure size" not in data["text/plain"]
    assert data["text/plain"].startswith("Validity window of billing-api: valid for another 40 min.")
    assert metadata["image/png"]["alt"] == picture.alt
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    assert f'alt="{picture.alt}"' in data["text/html"]
    themed = data[plots.PICTURE_MIME]
    assert themed["alt"] == picture.alt and themed["light"] == data["image/png"]
    assert themed["dark"] != themed["light"] and (themed["width"], themed["height"]) == (900, 320)


def test_a_pyplot_figure_wrapped_as_a_picture_is_shown_once_with_its_alt_text() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    picture = plots.picture(fig, "a straight line")
    assert not plt.fignum_exists(fig.number)  # the inline backend will not show it again
    data, metadata = picture._repr_mimebundle_()
    assert data["text/plain"] == "a straight line" and metadata["image/png"]["alt"] == "a straight line"
    assert data[plots.PICTURE_MIME]["dark"] == data[plots.PICTURE_MIME]["light"]


def test_validity_window_without_exp_says_mongod_refuses_it(tmp_path: Path) -> None:
    claims = {k: v for k, v in CLAIMS.items() if k != "exp"}
    picture = plots.validity_window(claims, now=ISSUED)
    texts = [t.get_text() for ax in picture.figure.axes for t in ax.texts]
    assert "no 'exp' claim: mongod refuses this token (rule body.exp)" in texts
    assert "no 'exp' claim" in picture.alt


def _line(**doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _mongod(t: str, log_id: int, ctx: str, msg: str, **attr: object) -> str:
    return _line(
        t={"$date": f"2027-01-15T08:00:{t}+00:00"}, s="I", c="ACCESS", id=log_id, ctx=ctx, msg=msg, attr=attr
    )


def _oidc_login(t: str, ctx: str, principal: str, **attr: object) -> str:
    """mongod's line for a MONGODB-OIDC login: "Authentication failed" (20249) where ``attr`` has an
    error, else "Authentication succeeded" (20250) in $external."""
    if "error" in attr:
        log_id, msg = 20249, "Authentication failed"
    else:
        log_id, msg = 20250, "Authentication succeeded"
        attr["authenticationDatabase"] = "$external"
    return _mongod(
        t, log_id, ctx, msg, mechanism="MONGODB-OIDC", speculative=False, principalName=principal, **attr
    )


def _idp(t: str, method: str, path: str, status: int, **extra: object) -> str:
    doc: dict[str, object] = {
        "time": f"2027-01-15T08:00:{t}+00:00",
        "method": method,
        "path": path,
        "query": None,
    }
    doc.update({"issuer": "kit", "status": status, "grant": None, "principal": None, "client": "127.0.0.1:1"})
    doc.update(extra)
    doc["duration_ms"] = 1.0
    return _line(**doc)


FAILED = "NoSuchKey: Unknown audience name 'api://other' for Identity Provider 'http://localhost:8123/kit'"
MONGOD_LOG = [
    _mongod("00.000", 4615611, "initandlisten", "MongoDB starting", pid=1, port=27117),
    _mongod("01.000", 22943, "listener", "Connection accepted", remote="127.0.0.1:5001", connectionId=1),
    _mongod(
        "01.001", 51800, "conn1", "client metadata", doc={"driver": {"name": "PyMongo", "version": "4.20.1"}}
    ),
    _mongod("01.010", 22943, "listener", "Connection accepted", remote="127.0.0.1:5002", connectionId=2),
    _mongod(
        "01.011", 51800, "conn2", "client metadata", doc={"driver": {"name": "PyMongo", "version": "4.20.1"}}
    ),
    _oidc_login("01.020", "conn2", "kit/billing-api", extraInfo={"claims": {"sub": "billing-api"}}),
    _oidc_login("05.020", "conn2", "kit/billing-api", extraInfo={}),
    _mongod("06.000", 22943, "listener", "Connection accepted", remote="127.0.0.1:5003", connectionId=3),
    _oidc_login("06.002", "conn3", "", error=FAILED),
    _mongod("06.003", 22944, "conn3", "Connection ended", remote="127.0.0.1:5003", connectionId=3),
]
IDP_LOG = [
    _idp("00.010", "GET", "/kit/.well-known/openid-configuration", 200),
    _idp("00.012", "GET", "/kit/jwks", 200),
    _idp("00.900", "GET", "/kit/.well-known/openid-configuration", 200),
    _idp("00.905", "POST", "/kit/token", 200, grant="client_credentials", principal="billing-api"),
    _idp("05.010", "POST", "/kit/token", 200, grant="client_credentials", principal="billing-api"),
    _idp("05.900", "POST", "/kit/token", 400, grant="client_credentials", error="invalid_client"),
]


@pytest.fixture
def logged(tmp_path: Path) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.write_private(state.subdir("logs") / "mongod.log", "\n".join(MONGOD_LOG) + "\n")
    state.write_private(state.logs_dir / "idp.log", "\n".join(IDP_LOG) + "\n")
    return state


def test_flow_from_fixed_logs_reads_as_the_exchange(logged: StateDir) -> None:
    collected = flow.collect(logged)
    assert collected.labels() == [
        "GET discovery (kit)",
        "200 OK",
        "GET JWKS (kit)",
        "200 OK",
        "GET discovery (kit)",
        "200 OK",
        "POST token (client_credentials)",
        "200 OK",
        "connect (conn2)",
        "hello (handshake)",
        "saslStart MONGODB-OIDC",
        "authenticated as kit/billing-api",
        "391 ReauthenticationRequired",
        "POST token (client_credentials)",
        "200 OK",
        "saslStart MONGODB-OIDC",
        "authenticated as kit/billing-api",
        "POST token (client_credentials)",
        "400 invalid_client",
        "connect (conn3)",
        "saslStart MONGODB-OIDC",
        "18 AuthenticationFailed",
        "disconnect (conn3)",
    ]
    senders = [(m.sender, m.to) for m in collected.messages[:8]]
    assert senders[:4] == [("mongod", "idp"), ("idp", "mongod")] * 2  # the server's discovery + JWKS
    assert senders[4:6] == [("client", "idp"), ("idp", "client")]  # the workload's discovery before its token
    failure = collected.errors()[-1]
    assert failure.code == 18 and FAILED in failure.detail
    assert [m.code for m in collected.errors()] == [391, 400, 18]
    assert collected.notes == [
        "1 connection(s) without authentication left out (driver monitoring); pass conn= to see one"
    ]
    only = flow.collect(logged, conn="conn3")
    assert [m.label for m in only if m.conn is not None] == [
        "connect (conn3)",
        "saslStart MONGODB-OIDC",
        "18 AuthenticationFailed",
        "disconnect (conn3)",
    ]


def _failed(t: str, ctx: str, command: str, ns: str, code: int, name: str, message: str) -> str:
    """A failed command as the kit's mongod logs it: "Slow query" (51803) with errCode/errName."""
    return _line(
        t={"$date": f"2027-01-15T08:00:{t}+00:00"},
        s="I",
        c="COMMAND",
        id=51803,
        ctx=ctx,
        msg="Slow query",
        attr={
            "type": "command",
            "ns": ns,
            "command": {command: ns.split(".", 1)[1], "$db": ns.split(".", 1)[0]},
            "ok": 0,
            "errMsg": message,
            "errName": name,
            "errCode": code,
        },
    )


def _authenticated(t: str, ctx: str) -> str:
    return _mongod(
        t,
        20250,
        ctx,
        "Authentication succeeded",
        mechanism="MONGODB-OIDC",
        speculative=False,
        principalName="kit/lesson-app",
        authenticationDatabase="$external",
    )


EXPIRED = "Command find requires reauthentication since the current authorization session has expired."
# conn5: a logged 391 before its reauthentication, then a forbidden insert; conn6: a refused saslStart
# (20249, then its 51803); conn7: a reauthentication with no 391 logged (as in an older log).
FAILURES_LOG = [
    _mongod("10.000", 22943, "listener", "Connection accepted", remote="127.0.0.1:5005", connectionId=5),
    _authenticated("10.010", "conn5"),
    _failed("13.000", "conn5", "find", "lessons.things", 391, "ReauthenticationRequired", EXPIRED),
    _authenticated("13.020", "conn5"),
    _failed("13.030", "conn5", "insert", "secret.stuff", 13, "Unauthorized", "not authorized on secret"),
    _mongod("14.000", 22943, "listener", "Connection accepted", remote="127.0.0.1:5006", connectionId=6),
    _mongod(
        "14.010",
        20249,
        "conn6",
        "Authentication failed",
        mechanism="MONGODB-OIDC",
        speculative=False,
        principalName="",
        error=FAILED,
    ),
    _line(
        t={"$date": "2027-01-15T08:00:14.011+00:00"},
        s="I",
        c="COMMAND",
        id=51803,
        ctx="conn6",
        msg="Slow query",
        attr={
            "type": "command",
            "ns": "$external.$cmd",
            "command": {"saslStart": 1, "$db": "$external"},
            "ok": 0,
            "errMsg": "Authentication failed.",
            "errName": "AuthenticationFailed",
            "errCode": 18,
        },
    ),
    _mongod("15.000", 22943, "listener", "Connection accepted", remote="127.0.0.1:5007", connectionId=7),
    _authenticated("15.010", "conn7"),
    _authenticated("18.010", "conn7"),
]


def test_logged_command_failures_are_shown_where_they_happened_and_391_is_inferred_only_when_unlogged(
    tmp_path: Path,
) -> None:
    state = StateDir(tmp_path / "state")
    state.write_private(state.subdir("logs") / "mongod.log", "\n".join(FAILURES_LOG) + "\n")
    collected = flow.collect(state)
    assert [(m.conn, m.label) for m in collected if m.conn in (5, 6)] == [
        (5, "connect (conn5)"),
        (5, "saslStart MONGODB-OIDC"),
        (5, "authenticated as kit/lesson-app"),
        (5, "find → 391 ReauthenticationRequired"),
        (5, "saslStart MONGODB-OIDC"),
        (5, "authenticated as kit/lesson-app"),
        (5, "insert → 13 Unauthorized"),
        (6, "connect (conn6)"),
        (6, "saslStart MONGODB-OIDC"),
        (6, "saslStart → 18 AuthenticationFailed"),
    ]
    errors = [(m.conn, m.code, m.kind, m.sender, m.to) for m in collected.errors()]
    assert errors == [
        (5, 391, "error", "mongod", "client"),
        (5, 13, "error", "mongod", "client"),
        (6, 18, "error", "mongod", "client"),
        (7, 391, "error", "mongod", "client"),
    ]
    logged_391, refused_13, refused_18, inferred_391 = collected.errors()
    assert EXPIRED in logged_391.detail and "ns lessons.things" in logged_391.detail
    assert "inferred" not in logged_391.detail and "mongod.log id 51803" in logged_391.detail
    assert logged_391.t == pytest.approx(3.0)  # at the 51803's own time, not the reauthentication's
    assert "not authorized on secret" in refused_13.detail
    assert FAILED in refused_18.detail and "mongod.log ids 20249, 51803" in refused_18.detail
    assert inferred_391.label == "391 ReauthenticationRequired" and inferred_391.detail.startswith("inferred")
    payload = collected.to_json()
    assert {"t", "from", "to", "label", "detail", "kind", "code"} == set(payload["messages"][0])
    assert [m["code"] for m in payload["messages"] if m["kind"] == "error"] == [391, 13, 18, 391]


def test_flow_bundle_follows_the_display_contract(logged: StateDir) -> None:
    bundle = flow.collect(logged, since=1_800_000_006.0)._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.wif.flow+json", "text/html", "text/plain"}
    payload = bundle["application/vnd.wif.flow+json"]
    assert payload["version"] == 1 and payload["participants"] == ["client", "mongod", "idp"]
    assert payload["messages"][0] == {
        "t": 0.0,
        "from": "client",
        "to": "mongod",
        "label": "connect (conn3)",
        "detail": "TCP from 127.0.0.1:5003; mongod.log id 22943",
        "kind": "request",
        "code": None,
    }
    assert payload["messages"][2]["code"] == 18 and payload["messages"][2]["kind"] == "error"
    assert "18 AuthenticationFailed" in bundle["text/plain"]


def test_sequence_diagram_of_fixed_logs(logged: StateDir, tmp_path: Path) -> None:
    picture = plots.sequence_diagram(flow.collect(logged))
    check_image(picture.figure, "sequence_diagram", tmp_path)
    check_image(picture.figure_for(plots.DARK), "sequence_diagram_dark", tmp_path)
    assert picture.alt.startswith("Sequence diagram of ")
    assert "1. mongod to idp: GET discovery (kit); " in picture.alt


def test_authorization_graph_highlights_why_the_workload_may_insert(tmp_path: Path) -> None:
    # Everything the picture can know: the token, the provider entry and the roles' privileges.
    known = {"token": CLAIMS, "provider": PROVIDER, "roles_info": ROLES_INFO}
    graph = plots.authorization_model(CONNECTION_STATUS, **known, action="insert", namespace="shop.orders")
    hot = sorted(n.label for n in graph.nodes.values() if n.highlighted)
    assert hot == [
        "groups: billing-writers",
        "kit/billing-api\n@ $external",
        "kit/billing-writers\n@ admin",
        "readWrite\n@ shop",
        "shop.*\ninsert (+20 more)",
    ]
    assert graph.notes[0] == "insert on shop.orders: allowed"
    fig = plots.authorization_graph(CONNECTION_STATUS, **known, action="insert", namespace="shop.orders")
    check_image(fig.figure, "authorization_graph_insert", tmp_path)
    assert "insert on shop.orders: allowed." in fig.alt
    assert "roles: kit/billing-writers @ admin (highlighted)" in fig.alt


def test_authorization_graph_from_connection_status_alone_marks_unknown_grants(tmp_path: Path) -> None:
    graph = plots.authorization_model(CONNECTION_STATUS, action="insert", namespace="reports.daily")
    assert graph.notes[0] == "insert on reports.daily: NOT allowed: no privilege grants it"
    assert ("user", "role:readWrite@shop", "dashed") in graph.edges
    check_image(
        plots.authorization_graph(CONNECTION_STATUS).figure, "authorization_graph_status_only", tmp_path
    )


def test_authorization_graph_from_a_token_and_its_provider(tmp_path: Path) -> None:
    graph = plots.authorization_model(CLAIMS, provider=PROVIDER)
    assert [n.label for n in graph.column(2)] == [
        "kit/billing-writers\n@ admin",
        "kit/reports-readers\n@ admin",
    ]
    assert graph.nodes["user"].label == "kit/billing-api\n@ $external"


def test_authorization_graph_of_a_token_mongod_refuses_says_so_with_the_servers_reason() -> None:
    # No groups claim while the provider takes roles from it: mongod refuses the token (it does
    # not log it in with no roles); a principalName claim the token lacks: refused too.
    no_groups = {k: v for k, v in CLAIMS.items() if k != "groups"}
    graph = plots.authorization_model(no_groups, provider=PROVIDER)
    assert "mongod refuses this token: InvalidJWT: Claim 'groups' not found on OIDC token" in graph.notes
    assert graph.column(2) == []
    by_email = dataclasses.replace(PROVIDER, principal_name="email")
    graph = plots.authorization_model(CLAIMS, provider=by_email)
    assert graph.nodes["user"].label == "refused by mongod"
    assert "mongod refuses this token: InvalidJWT: Unable to find principal claim 'email' in token body" in (
        graph.notes
    )


def test_sequence_diagram_shows_logged_failures_in_red_where_they_happened(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    state.write_private(state.subdir("logs") / "mongod.log", "\n".join(FAILURES_LOG) + "\n")
    check_image(plots.sequence_diagram(flow.collect(state)).figure, "sequence_diagram_failures", tmp_path)
