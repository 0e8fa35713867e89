"""Which port each service listens on, so kits on one machine never collide.

Rules (docs/ARCHITECTURE.md, "Ports"):

- No port asked for: the port kept for this state directory (``ports.json``), else the service's
  default, else any free port; whichever it gets is kept, so URIs stay the same across restarts.
  A kept or default port another program holds now is passed over for a free one: a second learner's
  kit on a shared machine comes up instead of failing.
- A port asked for explicitly (``--port``, a hand-written mongod.conf): used as is, and a busy one is
  an error naming the port, the process that holds it when it can be seen, and the next step.
- Port 0: any free port, chosen by the service itself when it binds.

The defaults can be moved with ``WIF_IDP_DEFAULT_PORT`` / ``WIF_MONGOD_DEFAULT_PORT`` (tests point
them at a port they hold, to exercise the "default is taken" path without touching the real ones).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from .errors import ServiceError
from .state import StateDir

# In the state directory: {"idp": 8123, "mongod": 27117, "vendor-proxy": …} (the IdP's second
# listener keeps its port here too: idp/vendorproxy.py).
PORTS_FILE = "ports.json"

# Stable defaults, so the URIs in a learner's notebook stay valid across `wif up`; 27017 is often
# taken by a real mongod, hence 27117.
DEFAULTS = {"idp": 8123, "mongod": 27117}
DEFAULT_ENV = {"idp": "WIF_IDP_DEFAULT_PORT", "mongod": "WIF_MONGOD_DEFAULT_PORT"}
# How to ask for another port, per service, in the words of the CLI.
OPTIONS = {"idp": "--idp-port", "mongod": "--port"}


def default_port(service: str) -> int:
    """The service's default port (``WIF_<SERVICE>_DEFAULT_PORT`` overrides it)."""
    raw = os.environ.get(DEFAULT_ENV[service], "")
    if raw.strip():
        with contextlib.suppress(ValueError):
            port = int(raw)
            if 0 < port <= 65535:
                return port
    return DEFAULTS[service]


def kept_ports(state: StateDir) -> dict[str, int]:
    """The ports kept for this state directory (empty before the first start)."""
    try:
        doc = json.loads((state.path / PORTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {str(k): int(v) for k, v in doc.items() if isinstance(v, int) and 0 < v <= 65535}


def keep(state: StateDir, service: str, port: int) -> None:
    """Remember the port ``service`` listens on, for its next start."""
    ports = kept_ports(state)
    if ports.get(service) != port:
        ports[service] = port
        state.write_private(state.path / PORTS_FILE, json.dumps(ports, indent=2, sort_keys=True))


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Could a service bind ``host:port`` now? (SO_REUSEADDR, as both services bind: a port in
    TIME_WAIT is free, one with a listener is not.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def choose(state: StateDir, service: str, *, avoid: frozenset[int] = frozenset()) -> int:
    """The port to start ``service`` on when none was asked for: kept, else default, else free."""
    for candidate in (kept_ports(state).get(service), default_port(service)):
        if candidate is not None and candidate not in avoid and is_free(candidate):
            return candidate
    return free_port()


def require_free(service: str, port: int) -> None:
    """An explicitly requested port must be free: else a ServiceError with the holder and next step."""
    if port == 0 or is_free(port):
        return
    raise port_in_use(service, port)


def port_in_use(service: str, port: int) -> ServiceError:
    who = holder(port)
    held = f"held by {who}" if who else "held by another program (run `ss -ltnp` as root to see which)"
    option = OPTIONS[service]
    return ServiceError(
        f"cannot start {'the IdP' if service == 'idp' else service} on port {port}: it is {held}",
        hint=f"leave out {option} and the kit picks a free port and keeps it for this state directory, "
        f"or choose another port with {option}, or stop what holds port {port}",
    )


# -- who holds a port (Linux /proc; None elsewhere or when the owner is not visible) -------------
def holder(port: int) -> str | None:
    """``pid N (command line)`` of the process listening on ``port``, if this user can see it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    proc = Path("/proc")
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (pid_dir / "fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return f"pid {pid_dir.name} ({_command_line(pid_dir)})"
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                # local_address is HEXIP:HEXPORT; state 0A is LISTEN; inode is the tenth field.
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _command_line(pid_dir: Path) -> str:
    try:
        words = (pid_dir / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "command line not visible"
    text = " ".join(" ".join(w.decode(errors="replace") for w in words).split())
    return text if len(text) <= 160 else text[:159] + "…"
