"""The jupyter-server extension behind the JupyterLab panel: the kit's state over HTTP.

Routes, under the server's base URL (authenticated; POSTs need the XSRF token or a token header,
as every jupyter-server API does):

- ``GET  /wif/api/status``            the ``application/vnd.wif.status+json`` payload (status.py)
- ``GET  /wif/api/lessons``           ``{"lessons_dir": ..., "lessons": [...]}``
- ``POST /wif/api/lessons/open``      ``{"id": lesson}`` → ``{"path": ...}`` relative to the server's
  root, copying a lesson installed outside it into ``wif-lessons/`` (lessons.open_in_workspace)
- ``GET  /wif/api/room``              this kit for the instructor's room view (classroom/room.py)
- ``POST /wif/api/services/start``    ``wif up``; JSON body ``{"idp_port": n, "port": n}`` optional:
  without them (the panel's Start button) the server chooses, as ``wif up`` does: the ports kept for
  the state directory, else the defaults if free, else free ones (ports.py)
- ``POST /wif/api/services/stop``     ``wif down``
- ``POST /wif/api/services/reset``    ``wif reset``

Each POST answers with the new status payload. Starting and stopping run in a worker thread (they
wait for processes and sockets) and one at a time. A kit failure answers
``{"message": what, "hint": next step}`` with status 400 (configuration), 409 (state directory) or
500 (a service). The state directory is ``WIF_STATE_DIR`` or the default, read at each request, as
the ``wif`` command does; the lessons folder is ``WIF_LESSONS_DIR`` or the kit's ``notebooks/``.

Enabled on install by ``jupyter-config/server-config/wif_notebook.json``
(``etc/jupyter/jupyter_server_config.d/``), or by hand with
``jupyter server extension enable wif_notebook.jupyter_server_ext``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import lessons, stack
from .errors import ConfigError, StateError, WifError
from .state import StateDir, default_state_path
from .status import status_payload

ROUTE = "wif/api"
_LOCK_KEY = "wif_notebook_lock"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "wif_notebook.jupyter_server_ext"}]


class _WifHandler(APIHandler):
    auth_resource = "wif"

    def root_dir(self) -> Path | None:
        root = getattr(self.settings.get("serverapp"), "root_dir", None) or self.settings.get(
            "server_root_dir"
        )
        return Path(root).expanduser() if root else None

    def payload(self, state: StateDir) -> dict[str, Any]:
        return status_payload(state, relative_to=self.root_dir())

    def fail(self, exc: WifError) -> None:
        code = 400 if isinstance(exc, ConfigError) else 409 if isinstance(exc, StateError) else 500
        self.set_status(code)
        self.finish(json.dumps({"message": exc.what, "hint": exc.hint or ""}))

    async def respond(self, work: Callable[[], Any]) -> None:
        """Answer with ``work()`` as JSON, or with its WifError; it runs off the event loop because the
        kit's work probes ports and pids and reads files."""
        try:
            body = await asyncio.to_thread(work)
        except WifError as exc:
            self.fail(exc)
            return
        self.finish(json.dumps(body))


class StatusHandler(_WifHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.respond(lambda: self.payload(StateDir()))


class LessonsHandler(_WifHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        root = self.root_dir()
        await self.respond(
            lambda: {
                "lessons_dir": str(lessons.default_lessons_dir()),
                "lessons": lessons.lessons_with_progress(StateDir(), None, relative_to=root),
            }
        )


class OpenLessonHandler(_WifHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        lesson_id = body.get("id") if isinstance(body, dict) else None
        root = self.root_dir()

        def open_lesson() -> dict[str, str]:
            if not isinstance(lesson_id, str) or not lesson_id:
                raise ConfigError("the request names no lesson", hint='send {"id": "01-what-is-wif"}')
            if root is None:
                raise StateError(
                    "the Jupyter server has no root folder to open lessons in",
                    hint="start JupyterLab with --ServerApp.root_dir=<a folder you can write to>",
                )
            return {"path": lessons.open_in_workspace(lesson_id, root).as_posix()}

        await self.respond(open_lesson)


def _port(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(
            f"{name} must be a port number (0-65535) or null, not {value!r}",
            hint="leave it out and the kit chooses (and keeps) a port for you; 0 picks a free one",
        )
    return value


class ServicesHandler(_WifHandler):
    @web.authenticated
    @authorized
    async def post(self, action: str) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.fail(ConfigError("the request body is not a JSON object", hint='send {} or {"port": 0}'))
            return

        def run() -> dict[str, Any]:
            state = StateDir()
            if action == "start":
                stack.up(state, idp_port=_port(body, "idp_port"), port=_port(body, "port"))
            elif action == "stop":
                stack.down(state)
            else:
                stack.reset(state)
            return self.payload(state)

        lock: asyncio.Lock = self.settings[_LOCK_KEY]
        async with lock:
            await self.respond(run)


class RoomHandler(_WifHandler):
    """This learner's kit as the instructor's room view shows it (classroom/room.py), for a room
    that cannot read learners' state directories itself (Zero to JupyterHub: a pod per learner)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .classroom.room import kit_report

        await self.respond(lambda: kit_report(StateDir()))


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.settings[_LOCK_KEY] = asyncio.Lock()
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "status"), StatusHandler),
            (url_path_join(base, "lessons"), LessonsHandler),
            (url_path_join(base, "lessons/open"), OpenLessonHandler),
            (url_path_join(base, "room"), RoomHandler),
            (url_path_join(base, r"services/(start|stop|reset)"), ServicesHandler),
        ],
    )
    serverapp.log.info("wif_notebook: /%s enabled (state directory %s)", ROUTE, default_state_path())
