"""Several kits on one machine (a shared JupyterHub host, two terminals): with default settings each
comes up on its own ports and keeps them; an explicitly requested busy port is refused in plain words.

The default ports are moved (WIF_IDP_DEFAULT_PORT / WIF_MONGOD_DEFAULT_PORT) to ports this test
chooses, so it never touches the real defaults other tests or a developer's kit may use.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import connect, ports
from wif_notebook.state import StateDir


def _free() -> int:
    return ports.free_port()


def wif(state_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook", *args, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )


@pytest.fixture
def defaults_env() -> dict[str, str]:
    env = dict(os.environ, WIF_IDP_DEFAULT_PORT=str(_free()), WIF_MONGOD_DEFAULT_PORT=str(_free()))
    env.pop("WIF_MONGOD", None)
    env.pop("WIF_STATE_DIR", None)
    return env


@pytest.fixture
def kits(tmp_path: Path, defaults_env: dict[str, str]) -> Iterator[list[Path]]:
    dirs = [tmp_path / f"kit{i}" for i in range(3)]
    try:
        yield dirs
    finally:
        for d in dirs:
            wif(d, "down", env=defaults_env)


def _login(state_dir: Path) -> int:
    """Log in with MONGODB-OIDC as a lesson's connect cell does; the port of the server that answered."""
    conn = connect.connect(state=StateDir(state_dir), callback=True)
    try:
        assert conn.users, "the login must name an authenticated user"
        address = conn.client.address
        assert address is not None
        return int(address[1])
    finally:
        conn.close()


def test_three_kits_with_default_settings_come_up_on_their_own_ports_and_log_in(
    kits: list[Path], defaults_env: dict[str, str]
) -> None:
    ups: list[dict[str, Any]] = []
    for d in kits:
        result = wif(d, "up", "--json", env=defaults_env)
        assert result.returncode == 0, result.stderr
        ups.append(json.loads(result.stdout))
    # The first kit gets the defaults; the others, finding them taken, get free ports.
    assert ups[0]["idp"]["port"] == int(defaults_env["WIF_IDP_DEFAULT_PORT"])
    assert ups[0]["mongod"]["port"] == int(defaults_env["WIF_MONGOD_DEFAULT_PORT"])
    used = [p for up in ups for p in (up["idp"]["port"], up["mongod"]["port"], up["ports"]["vendor-proxy"])]
    assert len(set(used)) == 9
    for d, up in zip(kits, ups, strict=True):
        # The IdP's vendor-host proxy (HTTPS_PROXY of `wif env --principal`) keeps its port too.
        assert up["ports"] == {
            "idp": up["idp"]["port"],
            "mongod": up["mongod"]["port"],
            "vendor-proxy": up["ports"]["vendor-proxy"],
        }
        assert up["issuer"] == f"https://localhost:{up['idp']['port']}/kit"
        assert _login(d) == up["mongod"]["port"]


def test_a_kit_keeps_its_ports_across_a_restart_and_shows_them(
    kits: list[Path], defaults_env: dict[str, str]
) -> None:
    first, second = kits[0], kits[1]
    assert wif(first, "up", env=defaults_env).returncode == 0
    up = json.loads(wif(second, "up", "--json", env=defaults_env).stdout)
    wif(second, "down", env=defaults_env)
    again = json.loads(wif(second, "up", "--json", env=defaults_env).stdout)
    assert again["started"] == ["idp", "mongod"]
    assert (again["idp"]["port"], again["mongod"]["port"]) == (up["idp"]["port"], up["mongod"]["port"])
    # A workload's HTTPS_PROXY (`wif env --principal`) stays valid across the restart.
    assert again["ports"]["vendor-proxy"] == up["ports"]["vendor-proxy"]
    status = wif(second, "status", env=defaults_env).stdout
    assert f"idp {up['idp']['port']}, mongod {up['mongod']['port']}" in status
    exports = wif(second, "env", env=defaults_env).stdout
    assert f"WIF_IDP_URL=http://localhost:{up['idp']['port']}" in exports
    assert f"127.0.0.1:{up['mongod']['port']}/" in exports
    assert _login(second) == up["mongod"]["port"]


def test_two_kits_come_up_while_something_else_holds_the_default_ports(
    kits: list[Path], defaults_env: dict[str, str]
) -> None:
    with socket.socket() as idp_squatter, socket.socket() as mongod_squatter:
        idp_squatter.bind(("127.0.0.1", int(defaults_env["WIF_IDP_DEFAULT_PORT"])))
        mongod_squatter.bind(("127.0.0.1", int(defaults_env["WIF_MONGOD_DEFAULT_PORT"])))
        idp_squatter.listen()
        mongod_squatter.listen()
        for d in kits[:2]:
            result = wif(d, "up", "--json", env=defaults_env)
            assert result.returncode == 0, result.stderr
            up = json.loads(result.stdout)
            assert up["idp"]["port"] != int(defaults_env["WIF_IDP_DEFAULT_PORT"])
            assert up["mongod"]["port"] != int(defaults_env["WIF_MONGOD_DEFAULT_PORT"])
            assert _login(d) == up["mongod"]["port"]


@pytest.mark.parametrize(("service", "option"), [("idp", "--idp-port"), ("mongod", "--port")])
def test_an_explicit_busy_port_names_the_port_its_holder_and_the_next_step(
    kits: list[Path], defaults_env: dict[str, str], service: str, option: str
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        result = wif(kits[0], "up", option, str(busy), env=defaults_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"on port {busy}: it is held by pid {os.getpid()}" in result.stderr
    assert f"next step: leave out {option} and the kit picks a free port" in result.stderr
    status = json.loads(wif(kits[0], "status", "--json", env=defaults_env).stdout)
    assert not status["idp"]["running"] and not status["mongod"]["running"], "a refused up left a service"


def test_the_idp_process_itself_reports_a_busy_port_without_a_traceback(tmp_path: Path) -> None:
    # The race a parent's check cannot close: the port is taken between the check and the bind.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "wif_notebook.idp", "--state-dir", str(tmp_path), "--port", str(busy)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "AttributeError" not in result.stderr
    assert f"cannot start the IdP on port {busy}: it is held by pid {os.getpid()}" in result.stderr


def test_a_vendor_proxy_whose_kept_port_is_taken_moves_and_wif_up_says_which_exports_went_stale(
    kits: list[Path], defaults_env: dict[str, str]
) -> None:
    kit = kits[0]
    first = json.loads(wif(kit, "idp", "start", "--json", env=defaults_env).stdout)
    kept = ports.kept_ports(StateDir(kit))["vendor-proxy"]
    assert first["vendor_proxy"] == f"http://127.0.0.1:{kept}"
    wif(kit, "idp", "stop", env=defaults_env)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", kept))
        squatter.listen()
        result = wif(kit, "up", env=defaults_env)
    assert result.returncode == 0, result.stderr
    moved = ports.kept_ports(StateDir(kit))["vendor-proxy"]
    assert moved != kept
    for said in (result.stdout, (kit / "logs" / "idp.out").read_text()):
        assert f"vendor-host proxy's port {kept} was taken, so it listens at http://127.0.0.1:{moved}" in said
        assert 'run eval "$(wif env --principal NAME)" again' in said
    exports = wif(kit, "env", "--principal", "reports-sp", env=defaults_env).stdout
    assert f"HTTPS_PROXY=http://127.0.0.1:{moved}" in exports
