"""``wif classroom up | status | down``: a real JupyterHub for a workshop on this machine.

The classroom directory (``--dir``, ``$WIF_CLASSROOM_DIR``, default ``~/.local/state/wif-classroom``;
0700) holds everything::

    settings.json            ports, learners, the instructor, the Python and proxy to run (read by
                             jupyterhub_config.py at each hub start)
    jupyterhub_config.py     generated; calls ``configure`` below
    learner-password         the workshop password of learner1..N (0600)
    instructor-password      the instructor's (admin) password (0600; JupyterHub wants 32+ characters)
    api-token                the token of the ``wif-classroom`` service, used by ``status`` (0600)
    proxy-token              configurable-http-proxy's API token (0600)
    classroom.json           the running hub: pid, urls, learners
    homes/<learner>/         each learner's home (0700): notebooks/ (the lessons) and .wif-state/
    logs/hub.log             JupyterHub, the proxy, the room service and learners' servers

Everything listens on 127.0.0.1: the proxy (``--port``, default 8000 if free, else a free port), the
hub, the proxy's API, the room service and every learner's kit.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .. import ports, services
from ..errors import ServiceError, StateError
from ..state import StateDir, read_text, write_private

ENV_VAR = "WIF_CLASSROOM_DIR"
PROXY_ENV = "WIF_CHP"  # an explicit configurable-http-proxy to use
INSTRUCTOR = "instructor"
INSTRUCTORS_GROUP = "instructors"
ROOM_SERVICE = "wif-room"
CLI_SERVICE = "wif-classroom"
LEARNER_PASSWORD = "learner-password"
INSTRUCTOR_PASSWORD = "instructor-password"
API_TOKEN = "api-token"
PROXY_TOKEN = "proxy-token"
RECORD = "classroom.json"
SETTINGS = "settings.json"
LEARNER_STATE = ".wif-state"  # inside each learner's home: that learner's WIF_STATE_DIR
MAX_LEARNERS = 200
START_TIMEOUT = 90.0

# What the room service may do with the hub's REST API: list the learners with their names, when
# they were last active and whether their server runs. Nothing more: it reads each learner's kit
# (services, progress, the doctor's last failing rule) from the learner's state directory on disk,
# and resets a kit there, so it needs neither access:servers nor any admin:* scope.
ROOM_SCOPES = ["list:users", "read:users:name", "read:users:activity", "read:servers"]
# `wif classroom status` reads the same, and asks each learner's server (its /wif/api/status, hence
# access:servers) whether the kit answers; `up --start-servers` starts learners' servers (servers).
CLI_SCOPES = [*ROOM_SCOPES, "servers", "access:servers"]

ISOLATION = {
    "spawner": "SimpleLocalProcessSpawner",
    "os_user": "every learner's server runs as the OS user that ran `wif classroom up`",
    "separate": [
        "home directory (0700) with its own copy of the lessons",
        "kit state directory (keys, principals, data, progress) and ports",
        "Jupyter server and kernels, reachable only by that learner (and the instructor) through the hub",
    ],
    "not_separate": "files: code a learner runs can read another learner's home, because all run "
    "as one OS user",
    "why": "system users need root on the instructor's machine; for an isolated room use The Littlest "
    "JupyterHub (a system user per learner) or Zero to JupyterHub (a pod per learner) with the same "
    "image and wif_notebook.classroom.singleuser (docs/INSTRUCTORS.md)",
}


def default_dir() -> Path:
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg).expanduser() / "wif-classroom"


def learner_names(n: int) -> list[str]:
    return [f"learner{i}" for i in range(1, n + 1)]


def learner_state_dir(folder: Path, name: str) -> Path:
    return folder / "homes" / name / LEARNER_STATE


def _read(path: Path) -> str:
    return read_text(
        path,
        StateError,
        f"cannot read {path}",
        "run `wif classroom down`, then `wif classroom up` to write it again",
    ).strip()


def _secret(path: Path, nbytes: int) -> str:
    """The secret in ``path``, created (0600) on first use: the room keeps its passwords across
    restarts of the hub."""
    if path.exists():
        return _read(path)
    value = secrets.token_urlsafe(nbytes)
    write_private(path, value + "\n")
    return value


# -- finding configurable-http-proxy ---------------------------------------------------------------
def find_proxy() -> str:
    """configurable-http-proxy: ``$WIF_CHP``, the repository's ``classroom/node_modules`` (installed
    by ./dev.sh), or PATH."""
    named = os.environ.get(PROXY_ENV)
    if named:
        if shutil.which(named) is None:
            raise ServiceError(
                f"{PROXY_ENV}={named} is not an executable configurable-http-proxy",
                hint=f"point {PROXY_ENV} at one (npm install configurable-http-proxy) or unset it",
            )
        return named
    repo_copy = Path(__file__).resolve().parents[2] / "classroom" / "node_modules" / ".bin"
    found = shutil.which(
        "configurable-http-proxy", path=f"{repo_copy}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if found is None:
        raise ServiceError(
            "configurable-http-proxy (JupyterHub's proxy, from npm) is not installed",
            hint="in the kit's repository run `npm ci --prefix classroom` (./dev.sh lab does it), or "
            f"`npm install -g configurable-http-proxy`, or set {PROXY_ENV} to its path",
        )
    return found


# -- the hub's configuration (called by the generated jupyterhub_config.py) -------------------------
CONFIG_TEXT = '''"""Generated by `wif classroom up`: JupyterHub for a Workload Identity Federation workshop.
The settings are in settings.json next to this file; the logic in wif_notebook.classroom.hub."""
import json
from pathlib import Path

from wif_notebook.classroom.hub import configure

here = Path(__file__).resolve().parent
configure(c, here, json.loads((here / "settings.json").read_text()))  # noqa: F821 - c: JupyterHub's
'''


def configure(c: Any, here: Path, settings: dict[str, Any]) -> None:
    """Fill JupyterHub's config object ``c`` for the classroom in ``here``."""
    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = settings["port"]
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings["hub_port"]
    c.JupyterHub.db_url = f"sqlite:///{here / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(here / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(here / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.command = [settings["proxy"]]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
    c.ConfigurableHTTPProxy.auth_token = _read(here / PROXY_TOKEN)
    c.ConfigurableHTTPProxy.pid_file = str(here / "proxy.pid")

    # A shared workshop password for learner1..N, a separate (admin) one for the instructor.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = _read(here / LEARNER_PASSWORD)
    c.SharedPasswordAuthenticator.admin_password = _read(here / INSTRUCTOR_PASSWORD)
    c.Authenticator.allowed_users = set(settings["learners"])
    c.Authenticator.admin_users = {settings["instructor"]}
    c.JupyterHub.load_groups = {INSTRUCTORS_GROUP: {"users": [settings["instructor"]]}}

    # After login: the instructor lands on the room view (no server of their own is started),
    # a learner on their own server (started now if it is not running).
    room_path = f"/services/{ROOM_SERVICE}/"
    c.JupyterHub.default_url = lambda handler: (
        room_path if handler.current_user is not None and handler.current_user.admin else ""
    )
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = str(here / "homes" / "{username}")
    c.Spawner.cmd = [settings["python"], "-m", "wif_notebook.classroom.singleuser"]
    c.Spawner.default_url = "/lab/tree/notebooks/00-preflight.ipynb"
    c.Spawner.notebook_dir = "~"
    c.Spawner.environment = {
        "WIF_STATE_DIR": lambda spawner: str(learner_state_dir(here, spawner.user.name)),
        "WIF_LESSONS_SOURCE": settings["lessons"],
    }
    c.Spawner.env_keep = [
        "PATH",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "LANG",
        "LC_ALL",
        "JUPYTERHUB_SINGLEUSER_APP",
        *ports.DEFAULT_ENV.values(),  # the kit's default ports, if the instructor moved them
        "WIF_MONGOD",  # a real Enterprise mongod, if the instructor has one
    ]
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120
    c.Spawner.post_stop_hook = stop_learner_kit
    # A Jupyter server answers SIGINT by waiting for a confirmation no one types; SIGTERM (sent
    # after this many seconds) stops it and its kernels cleanly: `wif classroom down` in seconds.
    c.LocalProcessSpawner.interrupt_timeout = 1

    c.JupyterHub.services = [
        {
            "name": ROOM_SERVICE,
            "url": f"http://127.0.0.1:{settings['room_port']}",
            "command": [settings["python"], "-m", "wif_notebook.classroom.room"],
            "environment": {ENV_VAR: str(here), **_passed_on()},
            "oauth_no_confirm": True,
            "display": True,
        },
        {"name": CLI_SERVICE, "api_token": _read(here / API_TOKEN)},
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "wif-room",
            "description": "the room view",
            "scopes": ROOM_SCOPES,
            "services": [ROOM_SERVICE],
        },
        {
            "name": "wif-classroom",
            "description": "wif classroom",
            "scopes": CLI_SCOPES,
            "services": [CLI_SERVICE],
        },
        {
            "name": "wif-instructors",
            "description": "instructors open the room view",
            "scopes": [f"access:services!service={ROOM_SERVICE}"],
            "groups": [INSTRUCTORS_GROUP],
        },
    ]


def _passed_on() -> dict[str, str]:
    """The hub's environment a service needs to run the kit as learners' servers do (env_keep)."""
    names = ["PATH", "PYTHONPATH", "VIRTUAL_ENV", *ports.DEFAULT_ENV.values(), "WIF_MONGOD"]
    return {name: os.environ[name] for name in names if name in os.environ}


async def stop_learner_kit(spawner: Any) -> None:
    """Spawner.post_stop_hook: a learner's kit stops with the learner's server (it started with it).
    In a thread: stopping waits for two processes, and the hub's event loop serves everyone else."""
    from .. import stack

    folder = Path(spawner.home_dir).parent.parent
    state = learner_state_dir(folder, spawner.user.name)
    with contextlib.suppress(Exception):  # a hook must not break the hub's stop of the server
        await asyncio.to_thread(stack.down, StateDir(state))


# -- up / status / down ------------------------------------------------------------------------------
def _record(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _hub_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/api/", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def running(folder: Path) -> dict[str, Any] | None:
    record = _record(folder)
    if record is None or not services.pid_alive(int(record.get("pid", 0))):
        return None
    return record


def up(
    folder: Path, learners: int, *, port: int | None = None, show_passwords: bool = False
) -> dict[str, Any]:
    """Start the hub for ``learners`` learners (idempotent for the same number)."""
    if not 1 <= learners <= MAX_LEARNERS:
        raise StateError(
            f"--learners must be between 1 and {MAX_LEARNERS}, not {learners}",
            hint="pass the number of people in the room, e.g. --learners 30",
        )
    folder = StateDir(folder).path  # 0700
    current = running(folder)
    if current is not None:
        if current["learners"] != learner_names(learners) or (port not in (None, 0, current["port"])):
            raise StateError(
                f"a classroom already runs in {folder} ({len(current['learners'])} learners, "
                f"port {current['port']})",
                hint="stop it first with `wif classroom down`, or use another --dir",
            )
        return describe(folder, current, show_passwords=show_passwords)
    if importlib.util.find_spec("jupyterhub") is None:
        raise ServiceError(
            "JupyterHub is not installed",
            hint="pip install 'wif-notebook[classroom]' (or pip install jupyterhub), then run this again",
        )
    proxy = find_proxy()
    from ..lessons import default_lessons_dir

    if port is None:
        public = 8000 if ports.is_free(8000) else ports.free_port()
    else:
        if port and not ports.is_free(port):
            who = ports.holder(port)
            raise ServiceError(
                f"cannot start the classroom on port {port}: it is held by {who or 'another program'}",
                hint="leave out --port and the classroom picks a free one, or choose another with --port",
            )
        public = port or ports.free_port()
    names = learner_names(learners)
    (folder / "homes").mkdir(exist_ok=True, mode=0o700)
    for name in names:
        home = folder / "homes" / name
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(home, 0o700)
    _secret(folder / LEARNER_PASSWORD, 9)
    _secret(folder / INSTRUCTOR_PASSWORD, 32)
    _secret(folder / API_TOKEN, 32)
    _secret(folder / PROXY_TOKEN, 32)
    settings = {
        "port": public,
        "hub_port": ports.free_port(),
        "proxy_api_port": ports.free_port(),
        "room_port": ports.free_port(),
        "learners": names,
        "instructor": INSTRUCTOR,
        "python": sys.executable,
        "proxy": proxy,
        "lessons": str(default_lessons_dir()),
    }
    write_private(folder / SETTINGS, json.dumps(settings, indent=2))
    write_private(folder / "jupyterhub_config.py", CONFIG_TEXT)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    log_path = logs / "hub.log"
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(folder / "jupyterhub_config.py")]
    proc = services.spawn_detached(argv, log_path, cwd=folder)
    services.wait_started(
        proc,
        log_path,
        lambda: _hub_answers(public) or None,
        what="JupyterHub",
        next_step="fix the cause and run `wif classroom up` again",
        timeout=START_TIMEOUT,
        stop=lambda: _stop_processes(folder, proc.pid),
        interval=0.2,
    )
    record = {"pid": proc.pid, "port": public, "learners": names, "started_at": time.time()}
    write_private(folder / RECORD, json.dumps(record, indent=2))
    return describe(folder, record, show_passwords=show_passwords)


def describe(folder: Path, record: dict[str, Any], *, show_passwords: bool = False) -> dict[str, Any]:
    """What `up` prints: where the hub is, how to log in (secrets only by path unless asked)."""
    hub_url = f"http://127.0.0.1:{record['port']}/"
    names = record["learners"]
    learners_login: dict[str, Any] = {
        "usernames": names,
        "password_file": str(folder / LEARNER_PASSWORD),
        "how": f"open hub_url, sign in as one of {names[0]}..{names[-1]} with the workshop password",
    }
    instructor_login: dict[str, Any] = {
        "username": INSTRUCTOR,
        "password_file": str(folder / INSTRUCTOR_PASSWORD),
        "how": "sign in at hub_url as the instructor (an admin), then open room_url",
    }
    if show_passwords:
        learners_login["password"] = _read(folder / LEARNER_PASSWORD)
        instructor_login["password"] = _read(folder / INSTRUCTOR_PASSWORD)
    return {
        "classroom_dir": str(folder),
        "hub_url": hub_url,
        "room_url": f"{hub_url}services/{ROOM_SERVICE}/",
        "pid": record["pid"],
        "learners": names,
        "login": {"learners": learners_login, "instructor": instructor_login},
        "api_token_file": str(folder / API_TOKEN),
        "log": str(folder / "logs" / "hub.log"),
        "isolation": ISOLATION,
    }


def hub_api(folder: Path, record: dict[str, Any], path: str, *, method: str = "GET") -> Any:
    """Call the hub's REST API with the classroom's service token."""
    url = f"http://127.0.0.1:{record['port']}/hub/api/{path}"
    req = urllib.request.Request(
        url, method=method, headers={"Authorization": f"token {_read(folder / API_TOKEN)}"}
    )
    try:
        # Starting a server answers once it runs or after the hub's slow_spawn_timeout (10 s).
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read()
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(
            f"the hub did not answer {method} {url}: {exc}",
            hint=f"check `wif classroom status` and the hub's log {folder / 'logs' / 'hub.log'}",
        ) from exc
    return json.loads(body) if body else None


def status(folder: Path) -> dict[str, Any]:
    """The hub and every learner: server running, last activity, kit answering."""
    folder = folder.expanduser().absolute()
    record = running(folder)
    if record is None or not _hub_answers(int(record["port"])):
        return {"classroom_dir": str(folder), "running": False}
    doc = describe(folder, record)
    doc["running"] = True
    try:
        users = {u["name"]: u for u in hub_api(folder, record, "users")}
    except urllib.error.HTTPError as exc:
        raise ServiceError(
            f"the hub refused to list the learners (HTTP {exc.code})",
            hint=f"the classroom's token in {folder / API_TOKEN} may be stale: `wif classroom down`, then up",
        ) from exc
    learners = []
    for name in record["learners"]:
        user = users.get(name, {})
        server = (user.get("servers") or {}).get("", {})
        learners.append(
            {
                "name": name,
                "server": "ready" if server.get("ready") else ("starting" if server else "stopped"),
                "last_activity": user.get("last_activity"),
                "kit": _kit_status(folder, name),
            }
        )
    doc["learner_status"] = learners
    return doc


def _kit_status(folder: Path, name: str) -> dict[str, Any]:
    from .. import stack

    state = learner_state_dir(folder, name)
    if not state.exists():
        return {"idp": False, "mongod": False}
    now = stack.status(StateDir(state))
    return {"idp": now["idp"]["running"], "mongod": now["mongod"]["running"], "ports": now["ports"]}


def start_servers(folder: Path) -> list[str]:
    """Ask the hub to start every learner's server (so they are warm when the room opens)."""
    record = running(folder)
    if record is None:
        raise StateError("no classroom runs here", hint="start one with `wif classroom up --learners N`")
    started = []
    for name in record["learners"]:
        with contextlib.suppress(urllib.error.HTTPError):  # 400: already running
            hub_api(folder, record, f"users/{name}/server", method="POST")
            started.append(name)
    return started


def down(folder: Path) -> dict[str, Any]:
    """Stop the hub (it stops the proxy, the room service and learners' servers), then every
    learner's kit, then anything still running from the classroom directory."""
    folder = folder.expanduser().absolute()
    record = _record(folder)
    hub_pid = int(record["pid"]) if record else 0
    was_running = bool(hub_pid) and services.pid_alive(hub_pid)
    left = _stop_processes(folder, hub_pid if was_running else 0)
    with contextlib.suppress(FileNotFoundError):
        (folder / RECORD).unlink()
    return {"classroom_dir": str(folder), "stopped": was_running, "processes_stopped": left}


def _stop_processes(folder: Path, hub_pid: int) -> int:
    from .. import stack

    if hub_pid:
        # SIGTERM: JupyterHub stops learners' servers, the proxy and its managed services.
        services._terminate(hub_pid, timeout=30)
    homes = folder / "homes"
    if homes.is_dir():
        for home in sorted(homes.iterdir()):
            state = home / LEARNER_STATE
            if state.is_dir():
                with contextlib.suppress(Exception):
                    stack.down(StateDir(state))
    # Whatever is left (a proxy or kernel a crash orphaned) works inside the classroom directory.
    stray = _processes_in(folder)
    for pid in stray:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(services.pid_alive(p) for p in stray):
        time.sleep(0.1)
    for pid in stray:
        if services.pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return len(stray)


def _processes_in(folder: Path) -> list[int]:
    """Processes of this user whose working directory is inside ``folder``."""
    found = []
    root = str(folder.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cwd = os.readlink(entry / "cwd")
            if cwd == root or cwd.startswith(root + os.sep):
                found.append(int(entry.name))
    return found
