"""The state directory contract: location, modes, atomic private files, service lifecycle."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from wif_notebook import services
from wif_notebook.errors import ServiceError, StateError, TokenError
from wif_notebook.state import ServiceRecord, StateDir, create_private_once, default_state_path, read_text


def test_default_location_follows_xdg_state_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WIF_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path() == tmp_path / "xdg" / "wif-notebook"


def test_env_var_overrides_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WIF_STATE_DIR", str(tmp_path / "elsewhere"))
    assert StateDir().path == tmp_path / "elsewhere"


def test_state_dir_is_0700_even_if_it_existed_open(tmp_path: Path) -> None:
    path = tmp_path / "open"
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    StateDir(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_private_files_are_0600_and_replaced_atomically(state: StateDir) -> None:
    target = state.path / "secret.txt"
    state.write_private(target, "one")
    state.write_private(target, "two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in state.path.iterdir()] == ["secret.txt"]


def test_a_file_created_once_keeps_its_first_value_and_is_0600(state: StateDir) -> None:
    path = state.path / "keys" / "once.secret"
    assert create_private_once(path, lambda: "first").text == "first"
    assert create_private_once(path, lambda: "second").text == "first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["once.secret"]  # no temp file left behind


def test_a_file_that_cannot_be_read_names_the_reason_and_the_next_step(tmp_path: Path) -> None:
    with pytest.raises(TokenError) as unreadable:
        read_text(tmp_path, TokenError, f"cannot read {tmp_path}", "pass another file")
    assert unreadable.value.what == f"cannot read {tmp_path}: Is a directory"
    assert unreadable.value.hint == "pass another file"
    with pytest.raises(TokenError) as missing:
        read_text(tmp_path / "gone", TokenError, "cannot read it", "x", missing=("it is gone", "make it"))
    assert (missing.value.what, missing.value.hint) == ("it is gone", "make it")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    with pytest.raises(StateError, match="cannot use the state directory"):
        StateDir(ro / "state")


def test_state_dir_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="next step") as info:
        StateDir(blocker / "state")
    assert "--state-dir" in str(info.value)


def test_record_round_trip(state: StateDir) -> None:
    rec = ServiceRecord(name="x", pid=42, port=1234, extra={"issuer": "http://localhost:1/kit"})
    state.write_record(rec)
    assert state.read_record("x") == rec
    state.remove_record("x")
    assert state.read_record("x") is None


SERVICE = textwrap.dedent(
    """
    import socket, sys, time
    from wif_notebook.state import StateDir
    from wif_notebook import services
    state = StateDir(sys.argv[sys.argv.index("--state-dir") + 1])
    if "--fail" in sys.argv:
        print("cannot bind: port taken", flush=True)
        sys.exit(3)
    services.exit_on_sigterm()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    services.announce(state, "toy", sock.getsockname()[1], url="toy://")
    while True:
        conn, _ = sock.accept()
        conn.close()
    """
)


@pytest.fixture
def toy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "toy_service.py").write_text(SERVICE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    return "toy_service"


def test_service_start_is_idempotent_and_stop_removes_record(state: StateDir, toy_module: str) -> None:
    first = services.start(state, "toy", toy_module)
    try:
        assert first.extra == {"url": "toy://"}
        assert services.start(state, "toy", toy_module).pid == first.pid
        assert services.running_record(state, "toy") is not None
    finally:
        assert services.stop(state, "toy") is True
    assert services.running_record(state, "toy") is None
    assert state.read_record("toy") is None
    assert services.stop(state, "toy") is False


def test_service_that_dies_at_start_reports_its_output_and_signals_nobody(
    state: StateDir, toy_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spy, not a stand-in: every signal still goes out. The child exited and was reaped, so its
    # pid may already be another process's: no SIGTERM/SIGKILL may go to it.
    sent: list[tuple[int, int]] = []
    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    with pytest.raises(ServiceError, match="port taken"):
        services.start(state, "toy", toy_module, ["--fail"])
    assert [s for s in sent if s[1] != 0] == []


def test_stale_record_of_a_killed_service_is_not_running(state: StateDir, toy_module: str) -> None:
    rec = services.start(state, "toy", toy_module)
    os.kill(rec.pid, 9)
    services._terminate(rec.pid, timeout=2)
    assert services.running_record(state, "toy") is None
    again = services.start(state, "toy", toy_module)
    assert again.pid != rec.pid
    services.stop(state, "toy")
