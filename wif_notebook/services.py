"""Starting, stopping and finding the kit's background services (the IdP and the test mongod).

Each service is its own process (it survives a kernel restart, like a real IdP or mongod). The parent
spawns ``python -m <module> --state-dir D ...`` in a new session; the child binds its socket, then
*announces* itself by writing ``run/<name>.json`` (pid, port, urls). The parent waits for that record
and a TCP connect before it returns, so a started service is a serving service.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ServiceError, StateError
from .state import ServiceRecord, StateDir

START_TIMEOUT = 20.0
T = TypeVar("T")
# Where a detached child's folder is chosen: a kit's state directory, or a classroom's.
_OTHER_FOLDER = "--state-dir, or `wif classroom up --dir`"

# Children started by this process, kept so they can be reaped (and so Popen does not warn that a
# detached service "is still running" when the parent forgets it).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists"; reap it if it is ours.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def running_record(state: StateDir, name: str) -> ServiceRecord | None:
    """The record of ``name`` if its process is alive and its port answers, else None."""
    record = state.read_record(name)
    if record is None:
        return None
    if not pid_alive(record.pid) or not port_open(record.host, record.port):
        return None
    return record


def spawn_detached(
    argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, so it outlives the kernel or terminal that started it
    and their Ctrl-C; no stdin; stdout and stderr appended to ``log_path``, made 0600 (it may hold
    secrets). A log that cannot be opened is a ``StateError`` naming it. ``wait_started`` waits for
    the child and reports a failed start."""
    try:
        out = open(log_path, "ab")  # noqa: SIM115 - closed below, once the child holds it
    except OSError as exc:
        raise StateError(
            f"cannot write {log_path}: {exc.strerror or exc}",
            hint=f"{log_path.parent} must be writable and have free space (or choose another "
            f"folder: {_OTHER_FOLDER})",
        ) from exc
    with out:
        os.chmod(log_path, 0o600)
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def wait_started(
    proc: subprocess.Popen[bytes],
    log_path: Path,
    ready: Callable[[], T | None],
    *,
    what: str,
    next_step: str,
    timeout: float = START_TIMEOUT,
    stop: Callable[[], object] | None = None,
    interval: float = 0.02,
) -> T:
    """Wait until ``ready()`` gives a value (the child of ``spawn_detached`` serves) and return it.

    The one report of a failed start: a child that exits first, or is not ready within ``timeout``
    (then stopped: SIGTERM, then SIGKILL), and ``what`` fails with the last lines of its log and
    the next step (the child's own, when it printed one last; else "read the log" and
    ``next_step``), or with the reason its log's folder cannot be written (a full disk swallowed
    the child's own message). ``stop``, when given, replaces the stopping and runs either way (a
    child may have started others).
    """
    deadline = time.monotonic() + timeout
    while (code := proc.poll()) is None and time.monotonic() < deadline:
        value = ready()
        if value is not None:
            _CHILDREN[proc.pid] = proc
            return value
        time.sleep(interval)
    if stop is not None:
        stop()  # the caller's: it may have more than this child to stop (JupyterHub's servers)
    elif code is None:
        # Only a child still running: one that exited was reaped by poll(), and its pid may
        # already be another process's.
        _terminate(proc.pid)
    proc.wait()
    if code is None:
        raise ServiceError(
            f"{what} did not start within {timeout:.0f} s: {_tail(log_path)}",
            hint=f"read {log_path}; on a busy machine, try again",
        )
    problem = _unwritable(log_path.parent)
    if problem is not None:
        raise StateError(
            f"{what} exited during start (status {code}): cannot write in {log_path.parent}: {problem}",
            hint="free some space on that file system (or make it writable), or choose another "
            f"folder ({_OTHER_FOLDER}), then start again",
        )
    said, child_hint = _split_child_hint(_tail(log_path))
    raise ServiceError(
        f"{what} exited during start (status {code}): {said}",
        hint=f"{child_hint} (the whole output is in {log_path})"
        if child_hint
        else f"read {log_path} for the whole output; {next_step}",
    )


def start(
    state: StateDir,
    name: str,
    module: str,
    args: Sequence[str] = (),
    *,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
) -> ServiceRecord:
    """Start ``python -m module`` as service ``name`` unless it already runs (idempotent)."""
    existing = running_record(state, name)
    if existing is not None:
        return existing
    state.remove_record(name)
    argv = [sys.executable, "-m", module, "--state-dir", str(state.path), *args]
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    out_path = state.subdir("logs") / f"{name}.out"
    proc = spawn_detached(argv, out_path, env=child_env)

    def announced() -> ServiceRecord | None:
        record = state.read_record(name)
        if record is not None and record.pid == proc.pid and port_open(record.host, record.port):
            return record
        return None

    return wait_started(
        proc,
        out_path,
        announced,
        what=f"the {name} service",
        next_step="fix the cause and start it again",
        timeout=timeout,
    )


def stop(state: StateDir, name: str, *, timeout: float = 10.0) -> bool:
    """Stop service ``name``; True if something was running."""
    record = state.read_record(name)
    if record is None:
        return False
    was_running = pid_alive(record.pid)
    if was_running:
        _terminate(record.pid, timeout=timeout)
    state.remove_record(name)
    return was_running


def _terminate(pid: int, *, timeout: float = 10.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _CHILDREN.pop(pid, None)
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.02)
    _CHILDREN.pop(pid, None)


def _unwritable(folder: Path) -> str | None:
    """Why a small file cannot be written in ``folder`` (full, read-only), or None."""
    probe = folder / f".write-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return None


def _tail(path: os.PathLike[str], lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as fh:
            text = fh.read()[-4000:]
    except OSError:
        return "(no output)"
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(no output)"


def _split_child_hint(tail: str) -> tuple[str, str | None]:
    """A child that failed with a WifError printed its own next step last: keep it as the hint
    instead of burying it in the middle of ours."""
    head, sep, hint = tail.rpartition(" | ")
    marker = "next step:"
    if sep and hint.strip().startswith(marker):
        return head, hint.strip()[len(marker) :].strip()
    return tail, None


# -- the child side -------------------------------------------------------------------------------
def announce(
    state: StateDir, name: str, port: int, *, host: str = "127.0.0.1", **extra: Any
) -> ServiceRecord:
    """Called by a service once its socket is bound: publish the record, remove it at exit."""
    record = ServiceRecord(
        name=name, pid=os.getpid(), port=port, host=host, started_at=time.time(), extra=extra
    )
    state.write_record(record)

    def _cleanup() -> None:
        current = state.read_record(name)
        if current is not None and current.pid == os.getpid():
            state.remove_record(name)

    atexit.register(_cleanup)
    return record


def exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so atexit handlers (record removal, flushes) run."""

    def _handler(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _handler)
