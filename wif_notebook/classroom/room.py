"""The instructor's room view: a JupyterHub service at ``/services/wif-room/`` (hub-managed).

- ``GET  <room_url>``                         the page: one row per learner, sortable, refreshing itself
- ``GET  <room_url>api/learners``             the same as JSON, for scripts
- ``POST <room_url>api/learners/<name>/reset``  reset that learner's kit, keeping their progress

Who may open it: users with ``access:services!service=wif-room`` (the hub's ``instructors`` group and
admins), checked by JupyterHub OAuth (``HubOAuthenticated``); learners get 403. POSTs also need the
hub's XSRF token (the page sends it).

How learners' data is collected (``kit_report``, one function for both ways):

- ``files`` (``wif classroom``, the default): the room runs as the classroom's OS user and reads each
  learner's kit state directory (``homes/<learner>/.wif-state``) as the ``wif`` command would:
  service records and a port probe (``stack.status``), ``progress/progress.json``
  (``lessons.progress``), and the newest MONGODB-OIDC failure in mongod's log with its rule-book
  rule, exactly what the doctor reads (``doctor.find_logged_failure``).
- ``servers`` (``WIF_ROOM_COLLECT=servers``; Zero to JupyterHub, where each learner's files live in
  their own pod): the room asks each running learner server for ``/wif/api/room`` (the same
  ``kit_report``, computed there) and resets a kit through ``/wif/api/services/reset`` + ``start``;
  this needs the ``access:servers`` scope as well.

From the hub's REST API (scopes in hub.ROOM_SCOPES) it takes the learner list, each server's state
and the last activity. Nothing runs inside learners' kernels and nothing is copied: every refresh
reads the kits as they are now.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import WifError
from ..state import StateDir
from . import hub

REFRESH_SECONDS = 5
COLLECT_ENV = "WIF_ROOM_COLLECT"  # files (default) | servers
SERVERS_URL_ENV = "WIF_ROOM_SERVERS_URL"  # where learners' servers are reached (the proxy)
STAFF_ENV = "WIF_ROOM_STAFF"  # comma-separated users who are not learners (default: instructor)


def kit_report(state: StateDir, lessons_dir: Path | None = None) -> dict[str, Any]:
    """One learner's kit as the room shows it: services, progress per check, the doctor's last
    failing rule. Read from the learner's state directory; also served by the learner's own
    Jupyter server (``/wif/api/room``) when the room cannot read the files (one pod per learner)."""
    from .. import lessons, stack
    from ..doctor import find_logged_failure, rule_for_reason

    report: dict[str, Any] = {
        "services": {"idp": {"running": False}, "mongod": {"running": False}},
        "progress": [],
        "done": 0,
        "total": 0,
        "last_failure": None,
    }
    try:
        now = stack.status(state)
        report["services"] = {
            "idp": {"running": now["idp"]["running"], "port": now["idp"].get("port")},
            "mongod": {"running": now["mongod"]["running"], "port": now["mongod"].get("port")},
        }
        recorded = lessons.progress(state)
        for lesson in lessons.catalog(lessons_dir):
            mine = recorded.get(lesson.id, {})
            checks = {
                ex: ("passed" if mine.get(ex, {}).get("passed") else "failed" if ex in mine else "not tried")
                for ex in lesson.exercises
            }
            done, total = lessons.lesson_progress(lesson, recorded)
            report["progress"].append({"lesson": lesson.id, "title": lesson.title, "checks": checks})
            report["done"] += done
            report["total"] += total
        failure = find_logged_failure(state)
        if failure is not None:
            report["last_failure"] = {
                "rule": rule_for_reason(failure.reason),
                "reason": failure.reason,
                "principal": failure.principal,
                "at": failure.at,
            }
    except WifError as exc:
        report["problem"] = str(exc)
    return report


def learner_row(folder: Path, name: str, user: dict[str, Any], now: float) -> dict[str, Any]:
    """One learner: the hub's view (server, activity) and their kit read from their state directory."""
    row = hub_row(name, user, now)
    state = hub.learner_state_dir(folder, name)
    if state.is_dir():  # never created here: StateDir() would make it
        home_lessons = folder / "homes" / name / "notebooks"
        row.update(kit_report(StateDir(state), home_lessons if home_lessons.is_dir() else None))
    return row


def hub_row(name: str, user: dict[str, Any], now: float) -> dict[str, Any]:
    """What the hub's REST API says about a learner, with an empty kit (filled by kit_report)."""
    server = (user.get("servers") or {}).get("", {})
    return {
        "name": name,
        "server": "ready" if server.get("ready") else ("starting" if server else "stopped"),
        "last_activity": user.get("last_activity"),
        "idle_seconds": _seconds_since(user.get("last_activity"), now),
        "services": {"idp": {"running": False}, "mongod": {"running": False}},
        "progress": [],
        "done": 0,
        "total": 0,
        "last_failure": None,
    }


def _seconds_since(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    try:
        return max(0.0, now - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def collect(folder: Path, users: list[dict[str, Any]], learners: list[str]) -> list[dict[str, Any]]:
    by_name = {u.get("name"): u for u in users}
    now = time.time()
    return [learner_row(folder, name, by_name.get(name, {}), now) for name in learners]


def reset_learner_kit(folder: Path, name: str, *, start: bool) -> dict[str, Any]:
    """`wif reset` for one learner (their progress stays), then `wif up` if their server runs."""
    from .. import stack

    state = StateDir(hub.learner_state_dir(folder, name))
    done = stack.reset(state)
    if start:
        stack.up(state)
    return {"learner": name, "removed": len(done["removed"]), "kept": done["kept"], "started": start}


# -- the web service ---------------------------------------------------------------------------------
def make_app(folder: Path) -> Any:
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
    from tornado import web

    # A classroom's settings name its learners; without them (a hub the kit did not configure),
    # every user who is not an administrator is a learner.
    settings_path = folder / hub.SETTINGS
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    configured: list[str] | None = settings.get("learners")
    # Who is not a learner, on such a hub (the admin flag is not in the narrow scopes the room has).
    staff = set(os.environ.get(STAFF_ENV, hub.INSTRUCTOR).split(","))

    def names(users: list[dict[str, Any]]) -> list[str]:
        if configured is not None:
            return configured
        return sorted(str(u["name"]) for u in users if u.get("name") not in staff)

    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]
    # WIF_ROOM_COLLECT=servers: ask each learner's server (/wif/api/room) instead of reading files,
    # for hubs where the room cannot see learners' home directories (a pod per learner).
    remote = os.environ.get(COLLECT_ENV, "files") == "servers"
    servers_url = os.environ.get(SERVERS_URL_ENV) or f"http://127.0.0.1:{settings.get('port', 80)}/"

    class Base(HubOAuthenticated, web.RequestHandler):
        async def hub_users(self) -> list[dict[str, Any]]:
            from tornado.httpclient import AsyncHTTPClient

            response = await AsyncHTTPClient().fetch(
                self.hub_auth.api_url + "/users",
                headers={"Authorization": f"token {self.hub_auth.api_token}"},
            )
            users: list[dict[str, Any]] = json.loads(response.body)
            return users

        async def server_call(self, name: str, path: str, method: str = "GET") -> dict[str, Any]:
            """``/wif/api/<path>`` of a learner's own server, through the proxy (access:servers)."""
            from tornado.httpclient import AsyncHTTPClient

            response = await AsyncHTTPClient().fetch(
                f"{servers_url}user/{name}/wif/api/{path}",
                method=method,
                body=b"{}" if method == "POST" else None,
                headers={"Authorization": f"token {self.hub_auth.api_token}"},
                request_timeout=60,
            )
            doc: dict[str, Any] = json.loads(response.body)
            return doc

        async def rows(self) -> list[dict[str, Any]]:
            users = await self.hub_users()
            if not remote:
                # Reading state directories and probing ports blocks: keep it off the event loop.
                return await asyncio.to_thread(collect, folder, users, names(users))
            now = time.time()
            rows = []
            for user in users:
                if user.get("name") not in names(users):
                    continue
                row = hub_row(str(user["name"]), user, now)
                if row["server"] == "ready":
                    try:
                        row.update(await self.server_call(row["name"], "room"))
                    except Exception as exc:  # one unreachable learner must not hide the others
                        row["problem"] = f"the learner's server did not answer: {exc}"
                rows.append(row)
            return rows

    class Page(Base):
        @web.authenticated
        async def get(self) -> None:
            self.set_header(
                "Content-Security-Policy",
                "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
            )
            self.finish(render_page(self.xsrf_token.decode(), self.current_user.get("name", "")))

    class Learners(Base):
        @web.authenticated
        async def get(self) -> None:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"learners": await self.rows(), "refresh_seconds": REFRESH_SECONDS}))

    class Reset(Base):
        @web.authenticated
        async def post(self, name: str) -> None:
            listed = await self.hub_users()
            if name not in names(listed):
                raise web.HTTPError(404, f"no learner {name!r} in this classroom")
            users = {u.get("name"): u for u in listed}
            server = (users.get(name, {}).get("servers") or {}).get("", {})
            try:
                if remote:
                    # The learner's own server resets (progress kept) and restarts its kit.
                    if not server.get("ready"):
                        raise WifError(
                            f"{name}'s server is not running", hint="their kit resets when it starts"
                        )
                    await self.server_call(name, "services/reset", "POST")
                    await self.server_call(name, "services/start", "POST")
                    result = {"learner": name, "kept": ["progress"], "started": True}
                else:
                    result = await asyncio.to_thread(
                        reset_learner_kit, folder, name, start=bool(server.get("ready"))
                    )
            except WifError as exc:
                self.set_status(409)
                result = {"message": exc.what, "hint": exc.hint}
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(result))

    return web.Application(
        [
            (prefix, Page),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (prefix + "api/learners", Learners),
            (prefix + r"api/learners/([A-Za-z0-9_.-]+)/reset", Reset),
        ],
        cookie_secret=os.urandom(32),
    )


PAGE = Path(__file__).with_name("room.html")  # the page, with {{XSRF}}, {{WHO}} and {{REFRESH}}


def render_page(xsrf: str, who: str) -> str:
    return (
        PAGE.read_text()
        .replace("{{XSRF}}", html.escape(xsrf, quote=True))
        .replace("{{WHO}}", html.escape(who))
        .replace("{{REFRESH}}", str(REFRESH_SECONDS * 1000))
    )


def main() -> int:
    folder = Path(os.environ[hub.ENV_VAR])
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])

    async def serve() -> None:
        app = make_app(folder)
        app.listen(url.port or 80, address="127.0.0.1")
        print(
            f"wif room: serving {os.environ['JUPYTERHUB_SERVICE_PREFIX']} on 127.0.0.1:{url.port}", flush=True
        )
        # The hub stops its services with SIGTERM (SIGINT from a terminal): a clean exit, no traceback.
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
