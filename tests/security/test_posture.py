"""The kit must not teach bad habits: loopback by default and a loud warning otherwise, clients
authenticate with their secrets, a private state directory, and no raw token in logs or displays."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from _support.logs import json_lines
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from wif_notebook import services, stack
from wif_notebook.idp.service import mint, retire_key, rotate_keys
from wif_notebook.state import StateDir

from .conftest import DB, ROLE, FixedCallback, RunningKit

RAW_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}")


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
            address: str = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_idp_and_test_mongod_listen_on_loopback_only_by_default(kit: RunningKit) -> None:
    idp_port = int(kit.info["idp"]["port"])
    for name in ("idp", "mongod"):
        record = kit.state.read_record(name)
        assert record is not None and record.host == "127.0.0.1"
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    idp_record = kit.state.read_record("idp")
    assert idp_record is not None
    proxy_port = int(str(idp_record.extra["vendor_proxy"]).rsplit(":", 1)[1])  # the vendor-host proxy
    for port in (idp_port, kit.port, proxy_port):
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()
    assert not kit.mongod_log(9900002), "no bind warning for a loopback-only server"


def _read_until(path: Path, needle: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never appeared in {path}")


def test_idp_warns_loudly_when_asked_to_bind_beyond_loopback(tmp_path: Path) -> None:
    out = tmp_path / "idp.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wif_notebook.idp",
                "--state-dir",
                str(tmp_path / "s"),
                "--host",
                "0.0.0.0",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        text = _read_until(out, "WARNING")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "wif idp: WARNING: binding 0.0.0.0" in text
    assert "127.0.0.1" in text


def test_test_mongod_warns_loudly_when_asked_to_bind_beyond_loopback(state: StateDir) -> None:
    conf = state.path / "mongod.conf"
    (state.path / "db").mkdir()
    conf.write_text(
        f"net:\n  port: 0\n  bindIp: 0.0.0.0\nstorage:\n  dbPath: {state.path / 'db'}\n"
        f"systemLog:\n  destination: file\n  path: {state.path / 'logs' / 'mongod.log'}\n"
    )
    services.start(state, "mongod", "wif_notebook.server", ["--config", str(conf)])
    try:
        out = _read_until(state.logs_dir / "mongod.out", "WARNING")
        log = json_lines(state.logs_dir / "mongod.log")
    finally:
        services.stop(state, "mongod")
    assert "wif mongod: WARNING: net.bindIp 0.0.0.0 listens beyond this machine" in out
    [warning] = [e for e in log if e["id"] == 9900002]
    assert warning["s"] == "W" and warning["tags"] == ["startupWarnings"]
    assert "net.bindIp: 127.0.0.1" in warning["msg"]


def _token_request(kit: RunningKit, form: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    base = urlsplit(kit.info["idp"]["base_url"])
    conn = http.client.HTTPConnection("127.0.0.1", base.port, timeout=10)
    try:
        conn.request(
            "POST",
            urlsplit(kit.issuer).path + "/token",
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_token_endpoint_refuses_a_client_without_its_secret(kit: RunningKit) -> None:
    catalog = yaml.safe_load(kit.state.principals_file.read_text())["principals"]
    app = next(p for p in catalog if p["name"] == "lesson-app")
    grant = {"grant_type": "client_credentials"}
    for form, headers in [
        (grant, None),
        ({**grant, "client_id": app["client_id"]}, None),
        ({**grant, "client_id": app["client_id"], "client_secret": "guess"}, None),
        ({**grant, "client_id": app["client_id"], "client_secret": ""}, None),
        (grant, {"Authorization": "Basic " + base64.b64encode(f"{app['client_id']}:".encode()).decode()}),
    ]:
        status, doc = _token_request(kit, form, headers)
        assert status in (400, 401) and doc["error"] == "invalid_client", (form, headers, doc)
        assert "access_token" not in doc
    status, doc = _token_request(
        kit, {**grant, "client_id": app["client_id"], "client_secret": app["client_secret"]}
    )
    assert status == 200 and doc["access_token"].startswith("eyJ")


def test_state_directory_is_0700_and_its_files_0600_after_a_whole_session(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    env = {**os.environ, "WIF_STATE_DIR": str(state.path)}
    info = stack.up(state, idp_port=0, port=0)
    try:
        admin: MongoClient[Any]
        with MongoClient(stack.administrator_uri(state), serverSelectionTimeoutMS=10_000) as admin:
            admin.admin.command("createRole", ROLE, privileges=[], roles=[{"role": "readWrite", "db": DB}])
        token = str(mint(state, "lesson-app")["token"])
        cli = subprocess.run(
            [sys.executable, "-m", "wif_notebook", "token", "billing-api"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert cli.stdout.startswith("eyJ")
        subprocess.run(
            [sys.executable, "-m", "wif_notebook", "env"], env=env, capture_output=True, check=True
        )
        client: MongoClient[dict[str, Any]] = MongoClient(
            info["mongodb_uri"],
            authMechanismProperties={"OIDC_CALLBACK": FixedCallback(token)},
            serverSelectionTimeoutMS=10_000,
        )
        with client:
            client[DB].items.insert_one({"_id": 1})
        old_kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
        rotate_keys(state, "kit")
        retire_key(state, "kit", old_kid)
        time.sleep(0.2)
        loose = []
        for path in [state.path, *state.path.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            if path.is_symlink():
                continue
            wanted = 0o700 if path.is_dir() else 0o600
            if mode != wanted:
                loose.append(f"{oct(mode)} {path.relative_to(state.path)}")
        assert loose == [], "written with a looser mode than the state directory contract:\n" + "\n".join(
            loose
        )
    finally:
        stack.down(state)


def _texts(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def test_logs_and_displays_never_contain_a_raw_token(kit: RunningKit) -> None:
    from wif_notebook import flow
    from wif_notebook.display import StatusView, TokenView
    from wif_notebook.doctor import diagnose
    from wif_notebook.widgets.inspector import TokenInspector

    # A session that used tokens: a login and a failed login (a token with a broken signature).
    token = kit.token()
    client = kit.oidc_client(token)
    client[DB].items.find_one()
    bad = kit.oidc_client(token[:-8] + "AAAAAAAA")
    with pytest.raises(OperationFailure):
        bad[DB].items.find_one()

    leaks = []
    for path in sorted(kit.state.logs_dir.iterdir()):
        if path.suffix in (".log", ".out") and RAW_TOKEN.search(path.read_text(errors="replace")):
            leaks.append(str(path.name))

    shown: dict[str, Any] = {
        "TokenView": TokenView(token, state=kit.state)._repr_mimebundle_(),
        "TokenView str": str(TokenView(token, state=kit.state)),
        "StatusView": StatusView.of(kit.state)._repr_mimebundle_(),
        "doctor": diagnose(token, state=kit.state)._repr_mimebundle_(),
        "flow": flow.collect(kit.state)._repr_mimebundle_(),
    }
    inspector = TokenInspector(token, state=kit.state)
    shown["TokenInspector"] = [
        getattr(child, "value", "")
        for child in _widgets(inspector)
        if type(child).__name__ in ("HTML", "Label", "Textarea", "Text")
    ]
    for name, value in shown.items():
        if RAW_TOKEN.search(_texts(value)):
            leaks.append(name)
    assert leaks == [], f"a raw token appears in: {leaks}"
    assert "eyJhbGciOi…[redacted]" in _texts(shown["TokenView"]) + _texts(shown["TokenInspector"])


def _widgets(root: Any) -> list[Any]:
    out = [root]
    for child in getattr(root, "children", ()):
        out.extend(_widgets(child))
    return out
