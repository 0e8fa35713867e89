"""The launcher: finding a real Enterprise mongod, running the test server, `wif up/down/status/reset`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import services, stack
from wif_notebook.errors import ServiceError, StateError
from wif_notebook.mongod import (
    find_enterprise_mongod,
    inspect_mongod,
    mongod_logs,
    mongod_status,
    start_mongod,
    stop_mongod,
)
from wif_notebook.stack import check_kit_state_dir, reset
from wif_notebook.state import StateDir

ENTERPRISE_7011 = """db version v7.0.11
Build Info: {
    "version": "7.0.11",
    "gitVersion": "f451220f0df2b9dfe073f1521837f8ec5c208a8c",
    "modules": [
        "enterprise"
    ],
    "allocator": "tcmalloc",
    "environment": {
        "distarch": "x86_64",
        "target_arch": "x86_64"
    }
}
"""


def fake_mongod(folder: Path, output: str) -> Path:
    """An executable named mongod that prints ``output`` for --version (a stand-in for the binary)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mongod"
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({output!r})\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_real_mongod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.delenv("WIF_MONGOD", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    return empty


def test_enterprise_7_0_11_on_path_is_found(no_real_mongod: Path) -> None:
    path = fake_mongod(no_real_mongod, ENTERPRISE_7011)
    assert find_enterprise_mongod() == path
    binary = inspect_mongod(path)
    assert binary.version == (7, 0, 11) and binary.modules == ["enterprise"]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (ENTERPRISE_7011.replace('"enterprise"', '"community"'), "without the enterprise module"),
        (ENTERPRISE_7011.replace("7.0.11", "7.0.5"), "needs 7.0.11+"),
        ("mongod: something else\n", "did not print a db version"),
    ],
)
def test_unsuitable_mongod_on_path_falls_back_to_the_test_server(
    no_real_mongod: Path, output: str, reason: str
) -> None:
    path = fake_mongod(no_real_mongod, output)
    assert find_enterprise_mongod() is None
    assert reason in inspect_mongod(path).reason


def test_subscription_build_counts_as_enterprise(no_real_mongod: Path) -> None:
    path = fake_mongod(
        no_real_mongod, ENTERPRISE_7011.replace("7.0.11", "8.2.1").replace("enterprise", "subscription")
    )
    assert find_enterprise_mongod() == path


def test_wif_mongod_naming_a_community_build_is_an_error(
    no_real_mongod: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = fake_mongod(tmp_path / "other", ENTERPRISE_7011.replace('"enterprise"', '"community"'))
    monkeypatch.setenv("WIF_MONGOD", str(path))
    with pytest.raises(ServiceError) as err:
        find_enterprise_mongod()
    assert "without the enterprise module" in err.value.what
    assert "WIF_MONGOD" in (err.value.hint or "")


def test_test_server_starts_once_reports_itself_and_stops(state: StateDir, no_real_mongod: Path) -> None:
    record = start_mongod(state, port=0)
    try:
        assert start_mongod(state).pid == record.pid  # idempotent
        status = mongod_status(state)
        assert status["running"] and status["kind"] == "test-server"
        assert status["port"] == record.port and status["pid"] == record.pid
        assert status["enterprise_mongod"] is None
        assert (state.path / "admin.json").exists()
        lines = mongod_logs(state, 5)
        assert lines and all(json.loads(line)["t"] for line in lines)
    finally:
        assert stop_mongod(state) is True
    assert mongod_status(state)["running"] is False
    assert stop_mongod(state) is False


def test_editing_the_providers_of_a_server_on_any_free_port_keeps_its_port(
    state: StateDir, no_real_mongod: Path
) -> None:
    from wif_notebook.providers import restore_default_config, set_provider

    record = start_mongod(state, port=0)  # "any free port": the server chose one
    try:
        view = set_provider(state, "kit", {"audience": "api://another-audience"})
        assert view.restarted
        assert mongod_status(state)["port"] == record.port, "the restart moved every client's URI"
        assert f"port: {record.port}" in state.mongod_conf.read_text()
        restore_default_config(state)
        assert mongod_status(state)["port"] == record.port
    finally:
        stop_mongod(state)


def test_start_refuses_a_foreign_dbpath_before_writing_anything(
    state: StateDir, no_real_mongod: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "real-mongod-data"
    foreign.mkdir()
    (foreign / "WiredTiger").write_text("WiredTiger\n")
    start_mongod(state, port=0)  # writes the kit's mongod.conf
    stop_mongod(state)
    conf = state.mongod_conf.read_text().replace(str(state.db_path), str(foreign))
    state.mongod_conf.write_text(conf)
    with pytest.raises(StateError, match="did not write") as info:
        start_mongod(state)
    assert info.value.hint and "dbPath" in info.value.hint
    assert sorted(p.name for p in foreign.iterdir()) == ["WiredTiger"]  # no authz.json added


def test_start_refuses_a_configured_dbpath_that_does_not_exist_and_creates_none(
    state: StateDir, no_real_mongod: Path, tmp_path: Path
) -> None:
    typo = tmp_path / "dta" / "db"
    start_mongod(state, port=0)  # writes the kit's mongod.conf
    stop_mongod(state)
    state.mongod_conf.write_text(state.mongod_conf.read_text().replace(str(state.db_path), str(typo)))
    try:
        with pytest.raises(StateError) as info:
            start_mongod(state)
    finally:
        stop_mongod(state)
    assert info.value.what.startswith(f"Data directory {typo} not found. Create the missing directory")
    assert info.value.hint and "correct storage.dbPath in mongod.conf" in info.value.hint
    assert not typo.parent.exists()


def test_reset_refuses_a_folder_with_foreign_files(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    (folder / "mongod.conf").write_text("net: {}\n")
    with pytest.raises(StateError) as err:
        reset(StateDir(folder))
    assert "thesis.tex" in err.value.what
    assert (folder / "thesis.tex").read_text() == "precious" and (folder / "mongod.conf").exists()


def test_reset_refuses_the_home_directory() -> None:
    with pytest.raises(StateError):
        check_kit_state_dir(Path.home())


def test_reset_wipes_a_kit_state_dir(state: StateDir) -> None:
    state.write_private(state.mongod_conf, "net: {}\n")
    state.subdir("db")
    state.write_private(state.db_path / "authz.json", "{}")
    state.write_private(state.path / "admin.json", "{}")
    result = reset(state)
    assert set(result["removed"]) == {"mongod.conf", "db", "admin.json"}
    assert list(state.path.iterdir()) == []
    assert oct(state.path.stat().st_mode & 0o777) == "0o700"


def test_reset_wipes_the_kit_but_keeps_the_lesson_progress(state: StateDir) -> None:
    from wif_notebook import lessons

    state.write_private(state.mongod_conf, "net: {}\n")
    lessons.record_check("01-what-is-wif", "read-claims", True, state=state)
    result = reset(state)
    assert "mongod.conf" in result["removed"] and result["kept"] == ["progress"]
    assert [p.name for p in state.path.iterdir()] == ["progress"]
    assert lessons.progress(state)["01-what-is-wif"]["read-claims"]["passed"] is True
    assert oct((state.path / "progress").stat().st_mode & 0o777) == "0o700"


# -- the whole kit through the command line -------------------------------------------------------
def wif(state_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WIF_STATE_DIR=str(state_dir))
    env.pop("WIF_MONGOD", None)
    proc = subprocess.run(
        [sys.executable, "-m", "wif_notebook", *args], capture_output=True, text=True, env=env, timeout=60
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    state_dir = tmp_path_factory.mktemp("kit") / "state"
    first = json.loads(wif(state_dir, "up", "--idp-port", "0", "--port", "0", "--json").stdout)
    try:
        yield state_dir, first
    finally:
        wif(state_dir, "down", check=False)


def test_wif_up_starts_both_and_prints_where_they_are(kit: tuple[Path, dict[str, Any]]) -> None:
    state_dir, up = kit
    assert up["started"] == ["idp", "mongod"]
    assert up["state_dir"] == str(state_dir)
    # The production shape: an https issuer, whose certificate chains to the kit CA shown here.
    assert up["issuer"] == up["idp"]["https_base_url"] + "/kit"
    assert up["ca_file"] == str(state_dir / "tls" / "ca.pem") and Path(up["ca_file"]).exists()
    # mongod.conf names the https issuers (the test server fetches their JWKS trusting the kit CA).
    conf = (state_dir / "mongod.conf").read_text()
    assert f'"issuer": "{up["issuer"]}"' in conf and '"issuer": "http://' not in conf
    assert up["mongod"]["kind"] == "test-server"
    port = up["mongod"]["port"]
    assert (
        up["mongodb_uri"] == f"mongodb://127.0.0.1:{port}/?authMechanism=MONGODB-OIDC&directConnection=true"
    )
    assert up["admin_uri_redacted"] == (
        f"mongodb://admin:****@127.0.0.1:{port}/?authSource=admin&authMechanism=SCRAM-SHA-256&directConnection=true"
    )
    assert up["admin_credentials_file"] == str(state_dir / "admin.json")
    password = json.loads((state_dir / "admin.json").read_text())["password"]
    assert "admin_uri" not in up and password not in json.dumps(up)


def test_wif_up_again_changes_nothing(kit: tuple[Path, dict[str, Any]]) -> None:
    state_dir, up = kit
    again = json.loads(wif(state_dir, "up", "--json").stdout)
    assert again["started"] == []
    assert again["mongod"]["pid"] == up["mongod"]["pid"] and again["idp"]["pid"] == up["idp"]["pid"]
    assert again["mongodb_uri"] == up["mongodb_uri"]
    text = wif(state_dir, "up").stdout
    assert "started nothing (both were running)" in text
    password = json.loads((state_dir / "admin.json").read_text())["password"]
    assert password not in text


def test_wif_status_shows_both_without_the_password(kit: tuple[Path, dict[str, Any]]) -> None:
    state_dir, up = kit
    status = json.loads(wif(state_dir, "status", "--json").stdout)
    assert status["idp"]["running"] and status["mongod"]["running"]
    assert "admin_uri" not in status
    text = wif(state_dir, "status").stdout
    assert "test-server" in text and up["mongodb_uri"] in text
    assert "mongod" in wif(state_dir, "mongod", "status").stdout
    assert "oidcIdentityProviders" in wif(state_dir, "mongod", "config").stdout


def test_wif_mongod_logs_prints_json_lines(kit: tuple[Path, dict[str, Any]]) -> None:
    state_dir, _ = kit
    lines = wif(state_dir, "mongod", "logs", "-n", "3").stdout.splitlines()
    assert len(lines) == 3 and all(json.loads(line)["s"] for line in lines)


def test_bad_config_is_refused_with_mongods_message_and_a_next_step(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state = StateDir(state_dir)
    state.write_private(state.mongod_conf, "net:\n  prot: 1\n")
    proc = wif(state_dir, "mongod", "start", check=False)
    assert proc.returncode == 1
    assert "Unrecognized option: net.prot" in proc.stderr and "next step:" in proc.stderr


# -- end to end: real pymongo, MONGODB-OIDC, authorization ----------------------------------------
def mint(up: dict[str, Any], principal: str) -> str:
    import urllib.request

    req = urllib.request.Request(
        up["idp"]["base_url"] + "/_wif/mint",
        data=json.dumps({"principal": principal}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        token: str = json.loads(resp.read())["token"]
    return token


def oidc_client(up: dict[str, Any], token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from pymongo import MongoClient

    token_file = tmp_path / "token"
    token_file.write_text(token)
    monkeypatch.setenv("OIDC_TOKEN_FILE", str(token_file))
    return MongoClient(
        up["mongodb_uri"], authMechanismProperties={"ENVIRONMENT": "test"}, serverSelectionTimeoutMS=5000
    )


def test_oidc_login_shows_user_and_token_roles_and_group_role_authorizes(
    kit: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    state_dir, up = kit
    client = oidc_client(up, mint(up, "billing-api"), tmp_path, monkeypatch)
    admin: MongoClient[dict[str, Any]] = MongoClient(
        stack.administrator_uri(StateDir(state_dir)), serverSelectionTimeoutMS=5000
    )
    try:
        info = client.admin.command("connectionStatus")["authInfo"]
        assert info["authenticatedUsers"] == [{"user": "kit/billing-api", "db": "$external"}]
        roles = {(r["role"], r["db"]) for r in info["authenticatedUserRoles"]}
        assert roles == {("kit/billing-writers", "admin"), ("kit/reports-readers", "admin")}

        # No role document yet: the token's roles grant nothing.
        with pytest.raises(OperationFailure) as denied:
            client.reports.daily.find_one()
        assert denied.value.code == 13
        assert denied.value.details is not None
        assert denied.value.details["errmsg"].startswith(
            'not authorized on reports to execute command { find: "daily"'
        )

        admin.admin.command(
            "createRole", "kit/reports-readers", privileges=[], roles=[{"role": "read", "db": "reports"}]
        )
        admin.reports.daily.insert_one({"day": 1})
        assert client.reports.daily.find_one({}, {"_id": 0}) == {"day": 1}
        with pytest.raises(OperationFailure) as write_denied:
            client.reports.daily.insert_one({"day": 2})
        assert write_denied.value.code == 13
        info = client.admin.command("connectionStatus")["authInfo"]
        assert {"role": "read", "db": "reports"} in info["authenticatedUserRoles"]
    finally:
        client.close()
        admin.close()


def test_external_user_authorizes_a_kubernetes_service_account(
    kit: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pymongo import MongoClient

    state_dir, up = kit
    admin: MongoClient[dict[str, Any]] = MongoClient(
        stack.administrator_uri(StateDir(state_dir)), serverSelectionTimeoutMS=5000
    )
    user = "k8s/system:serviceaccount:shop:orders-worker"
    admin["$external"].command("createUser", user, roles=[{"role": "readWrite", "db": "shop"}])
    client = oidc_client(up, mint(up, "orders-worker"), tmp_path, monkeypatch)
    try:
        client.shop.orders.insert_one({"n": 1})
        info = client.admin.command("connectionStatus")["authInfo"]
        assert info["authenticatedUsers"] == [{"user": user, "db": "$external"}]
        assert {"role": "readWrite", "db": "shop"} in info["authenticatedUserRoles"]
        users = admin["$external"].command("usersInfo", user)["users"]
        assert users[0]["mechanisms"] == ["external"] and "credentials" not in users[0]
    finally:
        client.close()
        admin.close()


def test_enterprise_mongod_is_started_with_the_same_file_and_reported(
    state: StateDir, no_real_mongod: Path, tmp_path: Path
) -> None:
    # A stand-in for an Enterprise binary: it answers --version like mongod 7.0.11 Enterprise and,
    # given --config, runs a wire-compatible server on that file (the kit's own, in another state dir).
    scratch = tmp_path / "scratch-state"
    script = no_real_mongod / "mongod"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "if '--version' in sys.argv:\n"
        f"    sys.stdout.write({ENTERPRISE_7011!r})\n"
        "    sys.exit(0)\n"
        "config = sys.argv[sys.argv.index('--config') + 1]\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'wif_notebook.server',\n"
        f"          '--state-dir', {str(scratch)!r}, '--config', config])\n"
    )
    script.chmod(0o755)
    record = start_mongod(state, port=0)
    try:
        assert record.port != 0  # a real mongod needs a concrete port: the kit chose a free one
        assert f"port: {record.port}" in state.mongod_conf.read_text()
        status = mongod_status(state)
        assert status["running"] and status["kind"] == "enterprise"
        assert status["enterprise_mongod"] == str(script)
        assert start_mongod(state).pid == record.pid
    finally:
        assert stop_mongod(state) is True
    assert mongod_status(state)["running"] is False


def test_an_enterprise_mongod_that_exits_at_start_is_reported_with_its_status_and_words(
    state: StateDir, no_real_mongod: Path
) -> None:
    # A stand-in that refuses its options as mongod does (EXIT_BADOPTIONS) before it logs anything.
    script = no_real_mongod / "mongod"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "if '--version' in sys.argv:\n"
        f"    sys.stdout.write({ENTERPRISE_7011!r})\n"
        "    sys.exit(0)\n"
        "print('Unrecognized option: storage.bogus', file=sys.stderr)\n"
        "print(\"try 'mongod --help' for more information\", file=sys.stderr)\n"
        "sys.exit(2)\n"
    )
    script.chmod(0o755)
    with pytest.raises(ServiceError) as refused:
        start_mongod(state, port=0)
    out_path = state.path / "logs" / "mongod.out"
    assert refused.value.what == (
        f"MongoDB Enterprise mongod ({script}) exited during start (status 2): "
        "Unrecognized option: storage.bogus | try 'mongod --help' for more information"
    )
    assert refused.value.hint == (
        f"read {out_path} for the whole output; read {state.path / 'logs' / 'mongod.log'} too; "
        f"fix {state.mongod_conf} and start again"
    )
    assert out_path.stat().st_mode & 0o777 == 0o600
    assert mongod_status(state)["running"] is False


def test_start_applies_a_changed_config_by_restarting(state: StateDir, no_real_mongod: Path) -> None:
    first = start_mongod(state, port=0)
    try:
        later = first.started_at + 5
        os.utime(state.mongod_conf, (later, later))
        second = start_mongod(state)
        assert second.pid != first.pid
        assert mongod_status(state)["pid"] == second.pid
    finally:
        stop_mongod(state)


def test_user_and_role_commands_through_pymongo(kit: tuple[Path, dict[str, Any]]) -> None:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    state_dir, up = kit
    admin: MongoClient[dict[str, Any]] = MongoClient(
        stack.administrator_uri(StateDir(state_dir)), serverSelectionTimeoutMS=5000
    )
    try:
        admin.admin.command("createRole", "kit/auditors", privileges=[], roles=["clusterMonitor"])
        with pytest.raises(OperationFailure) as dup:
            admin.admin.command("createRole", "kit/auditors", privileges=[], roles=[])
        assert (dup.value.code, dup.value.details and dup.value.details["errmsg"]) == (
            51002,
            'Role "kit/auditors@admin" already exists',
        )
        (role,) = admin.admin.command("rolesInfo", "kit/auditors", showPrivileges=True)["roles"]
        assert role["roles"] == [{"role": "clusterMonitor", "db": "admin"}]
        assert any(p["resource"] == {"cluster": True} for p in role["inheritedPrivileges"])
        admin.admin.command("dropRole", "kit/auditors")
        assert admin.admin.command("rolesInfo", "kit/auditors")["roles"] == []
        with pytest.raises(OperationFailure) as missing:
            admin["$external"].command("createUser", "kit/x", roles=[{"role": "nope", "db": "admin"}])
        assert missing.value.code == 31
        me = admin.admin.command("usersInfo", "admin")["users"][0]
        assert me["roles"] == [{"role": "root", "db": "admin"}] and "credentials" not in me
    finally:
        admin.close()


def test_busy_port_error_names_the_port_its_holder_and_one_next_step(state: StateDir) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServiceError) as info:
            start_mongod(state, port)
    message = str(info.value)
    assert f"cannot start mongod on port {port}: it is held by pid {os.getpid()}" in message
    assert message.count("next step:") == 1
    assert info.value.hint is not None and "choose another port with --port" in info.value.hint
    assert services.running_record(state, "mongod") is None
