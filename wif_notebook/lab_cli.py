"""``wif lab [-- JUPYTER-LAB-OPTIONS]``: the services and JupyterLab in one terminal, for ``./dev.sh lab``.

It starts the IdP and the test mongod (``stack.up``), runs JupyterLab in the foreground, and when
JupyterLab ends (Ctrl-C, its File ▸ Shut Down, or a SIGTERM) stops the services it started itself and
says so; services that were already running keep running, and it says that too (``wif down`` stops
them). In a terminal, Ctrl-C reaches JupyterLab itself (same process group), which asks for
confirmation as usual; this process waits for it. Without a terminal (a supervisor, a test, a
container's init) JupyterLab runs in a session of its own and this process passes each SIGINT on,
so an interrupt meant for ``wif lab`` alone still ends JupyterLab, exactly once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import Any

from . import stack
from .cli import command, port_arg, state_from
from .state import StateDir

# The services `stack.up` starts, how to stop one, and what people call it.
_SERVICES = (("mongod", "the test mongod"), ("idp", "the IdP"))


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = command(
        subparsers,
        "lab",
        "start the IdP and the test mongod, run JupyterLab; stop what it started when it ends",
        parent,
        cmd_lab,
        description="Start the services, run JupyterLab in the foreground (options after --), and "
        "stop the services this command started when JupyterLab ends.",
    )
    p.add_argument("--idp-port", type=port_arg, default=None, help="IdP port (0: any free port)")
    p.add_argument("--port", type=port_arg, default=None, help="mongod port (0: any free port)")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="-- then options for jupyter lab")


def _stop(state: StateDir, name: str) -> bool:
    from .idp.service import stop_idp
    from .mongod import stop_mongod

    return stop_mongod(state) if name == "mongod" else stop_idp(state)


def _in_terminal() -> bool:
    """Whether this process is the terminal's foreground job, so Ctrl-C reaches JupyterLab too."""
    if sys.stdin is None:  # started with stdin closed
        return False
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):  # no terminal on stdin
        return False


def _wait(proc: subprocess.Popen[bytes], *, forward: bool) -> int:
    """JupyterLab's exit status. Ctrl-C is JupyterLab's to handle (it asks, then stops); without a
    terminal it never saw the interrupt (its own session), so it is passed on."""
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            if forward:
                proc.send_signal(signal.SIGINT)


def cmd_lab(args: argparse.Namespace) -> int:
    state = state_from(args)
    up = stack.up(state, idp_port=args.idp_port, port=args.port)
    started = set(up["started"])
    print(f"wif lab: {', '.join(sorted(started)) or 'nothing'} started; state {up['state_dir']}")
    if up["idp"].get("note"):
        print(f"wif lab: note: {up['idp']['note']}")
    jupyter = [a for a in args.jupyter_args if a != "--"]
    if os.geteuid() == 0:
        jupyter.append("--allow-root")  # containers and Binder-like machines run as root
    terminal = _in_terminal()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        # In a terminal JupyterLab stays in our process group: it reads its Ctrl-C confirmation there.
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", *jupyter], start_new_session=not terminal
        )
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        code = _wait(proc, forward=not terminal)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for name, words in _SERVICES:
            if name in started:
                done = "stopped" if _stop(state, name) else "found already stopped"
                print(f"wif lab: {done} {words} (this command started it)", flush=True)
            else:
                print(
                    f"wif lab: {words} keeps running (it was running before); `wif down` stops both",
                    flush=True,
                )
    return code
