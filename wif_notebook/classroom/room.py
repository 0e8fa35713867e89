"""The instructor's room view: a JupyterHub service at ``/services/wif-room/`` (hub-managed).

- ``GET  <room_url>``                         the page: one row per learner, sortable, refreshing itself
- ``GET  <room_url>api/learners``             the same as JSON, for scripts
- ``POST <room_url>api/learners/<name>/reset``  reset that learner's kit, keeping their progress

Who may open it: users with ``access:services!service=wif-room`` (the hub's ``instructors`` group and
admins), checked by JupyterHub OAuth (``HubOAuthenticated``); learners get 403. POSTs also need the
hub's XSRF token (the page sends it).

How learners' data is collected: the room runs as the classroom's OS user and reads each learner's
kit state directory (``homes/<learner>/.wif-state``) directly, as the ``wif`` command would: service
records and a port probe (``stack.status``), ``progress/progress.json`` (``lessons.progress``), and
the newest MONGODB-OIDC failure in mongod's log with its rule-book rule, which is exactly what the
doctor reads (``doctor.find_logged_failure``). From the hub's REST API (scopes in hub.ROOM_SCOPES) it
takes the learner list, each server's state and the last activity. Nothing runs inside learners'
kernels and nothing is copied: every refresh reads the files as they are now.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import WifError
from ..state import StateDir
from . import hub

REFRESH_SECONDS = 5


def learner_row(folder: Path, name: str, user: dict[str, Any], now: float) -> dict[str, Any]:
    """One learner as the room shows it."""
    from .. import lessons, stack
    from ..doctor import find_logged_failure, rule_for_reason

    state_path = hub.learner_state_dir(folder, name)
    server = (user.get("servers") or {}).get("", {})
    row: dict[str, Any] = {
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
    if not state_path.is_dir():
        return row
    state = StateDir(state_path)
    try:
        now_status = stack.status(state)
        row["services"] = {
            "idp": {"running": now_status["idp"]["running"], "port": now_status["idp"].get("port")},
            "mongod": {"running": now_status["mongod"]["running"], "port": now_status["mongod"].get("port")},
        }
        home_lessons = folder / "homes" / name / "notebooks"
        recorded = lessons.progress(state)
        for lesson in lessons.catalog(home_lessons if home_lessons.is_dir() else None):
            mine = recorded.get(lesson.id, {})
            checks = {
                ex: ("passed" if mine.get(ex, {}).get("passed") else "failed" if ex in mine else "not tried")
                for ex in lesson.exercises
            }
            done, total = lessons.lesson_progress(lesson, recorded)
            row["progress"].append({"lesson": lesson.id, "title": lesson.title, "checks": checks})
            row["done"] += done
            row["total"] += total
        failure = find_logged_failure(state)
        if failure is not None:
            row["last_failure"] = {
                "rule": rule_for_reason(failure.reason),
                "reason": failure.reason,
                "principal": failure.principal,
                "at": failure.at,
            }
    except WifError as exc:
        row["problem"] = str(exc)
    return row


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

    settings = json.loads((folder / hub.SETTINGS).read_text())
    learners: list[str] = settings["learners"]
    prefix = os.environ["JUPYTERHUB_SERVICE_PREFIX"]

    class Base(HubOAuthenticated, web.RequestHandler):
        async def hub_users(self) -> list[dict[str, Any]]:
            from tornado.httpclient import AsyncHTTPClient

            response = await AsyncHTTPClient().fetch(
                self.hub_auth.api_url + "/users",
                headers={"Authorization": f"token {self.hub_auth.api_token}"},
            )
            users: list[dict[str, Any]] = json.loads(response.body)
            return users

        async def rows(self) -> list[dict[str, Any]]:
            users = await self.hub_users()
            # Reading state directories and probing ports blocks: keep it off the event loop.
            return await asyncio.to_thread(collect, folder, users, learners)

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
            if name not in learners:
                raise web.HTTPError(404, f"no learner {name!r} in this classroom")
            users = {u.get("name"): u for u in await self.hub_users()}
            server = (users.get(name, {}).get("servers") or {}).get("", {})
            try:
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
    from tornado.ioloop import IOLoop

    folder = Path(os.environ[hub.ENV_VAR])
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = make_app(folder)
    app.listen(url.port or 80, address="127.0.0.1")
    print(f"wif room: serving {os.environ['JUPYTERHUB_SERVICE_PREFIX']} on 127.0.0.1:{url.port}", flush=True)
    IOLoop.current().start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
