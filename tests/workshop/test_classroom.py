"""A workshop on one machine: `wif classroom up` starts a real JupyterHub (and its npm proxy); every
learner's server is spawned through the hub's REST API, runs lesson 00's connect cell in its own
kernel against its own kit; the instructor's room view (JSON and page, in Debian's Chromium) shows
each learner; `wif classroom down` leaves no process behind.

The kit's default ports are moved to ports this test holds, so the learners' kits take the
"default is taken" path (as on a real shared host) and never touch the real defaults.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _support.chromium import CHROMIUM, CHROMIUM_ARGS, require_chromium

from wif_notebook import ports

from .kernel_client import run_cells
from .shared_host import REPO, defaults_taken

pytestmark = pytest.mark.slow

LEARNERS = 5


def lesson_cell(startswith: str) -> str:
    """A code cell of lesson 00, as the learner runs it."""
    nb = json.loads((REPO / "notebooks" / "00-preflight.ipynb").read_text())
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith(startswith):
            return source
    raise AssertionError(f"lesson 00 has no cell starting with {startswith!r}")


@dataclass
class Room:
    folder: Path
    up: dict[str, Any]
    token: str
    env: dict[str, str]

    @property
    def hub(self) -> str:
        return str(self.up["hub_url"])

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.hub}hub/api/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None


def wif(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook", *args], capture_output=True, text=True, env=env, timeout=180
    )


def _processes_of(folder: Path) -> list[str]:
    """Processes that run from the classroom or name it on their command line."""
    root = str(folder.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if root in cmdline or cwd == root or cwd.startswith(root + os.sep):
            found.append(f"{entry.name}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    require_chromium()
    folder = tmp_path_factory.mktemp("classroom") / "room"
    with defaults_taken() as env:
        env.pop("WIF_MONGOD", None)  # the kit's own test mongod, not a real one the caller may name
        result = wif(
            "classroom",
            "up",
            "--learners",
            str(LEARNERS),
            "--port",
            "0",
            "--dir",
            str(folder),
            "--json",
            env=env,
        )
        assert result.returncode == 0, result.stderr
        up = json.loads(result.stdout)
        try:
            yield Room(folder, up, (folder / "api-token").read_text().strip(), env)
        finally:
            down = wif("classroom", "down", "--dir", str(folder), env=env)
            assert down.returncode == 0, down.stderr
            deadline = time.monotonic() + 10
            while _processes_of(folder) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _processes_of(folder) == [], "wif classroom down left processes behind"


def test_up_names_the_hub_the_room_and_how_everyone_logs_in_without_printing_secrets(room: Room) -> None:
    up = room.up
    assert up["hub_url"].startswith("http://127.0.0.1:")
    assert up["room_url"] == up["hub_url"] + "services/wif-room/"
    assert up["learners"] == [f"learner{i}" for i in range(1, LEARNERS + 1)]
    learners, instructor = up["login"]["learners"], up["login"]["instructor"]
    assert instructor["username"] == "instructor"
    for login in (learners, instructor):
        secret = Path(login["password_file"])
        assert oct(secret.stat().st_mode & 0o777) == "0o600"
        assert "password" not in login
        assert secret.read_text().strip() not in json.dumps(up)
    assert up["isolation"]["spawner"] == "SimpleLocalProcessSpawner"
    assert oct(room.folder.stat().st_mode & 0o777) == "0o700"


@pytest.fixture(scope="module")
def learners_ran_lesson_00(room: Room) -> dict[str, list[dict[str, Any]]]:
    # Every learner's server, spawned at once through the hub's REST API.
    for name in room.up["learners"]:
        room.api(f"users/{name}/server", method="POST")
    deadline = time.monotonic() + 150
    while True:
        users = {u["name"]: u for u in room.api("users")}
        ready = [n for n in room.up["learners"] if (users[n].get("servers") or {}).get("", {}).get("ready")]
        if len(ready) == LEARNERS:
            break
        assert time.monotonic() < deadline, f"only {ready} of the learners' servers became ready"
        time.sleep(0.5)
    connect_cell = lesson_cell("%wif_connect")
    cells = [
        lesson_cell("%load_ext wif_notebook"),
        connect_cell,
        "from wif_notebook import stack\nfrom wif_notebook.checks import check\n"
        "from wif_notebook.state import StateDir\n"
        'check("00-preflight", "kit-issuer", stack.status(StateDir())["issuer"])',
        "import os; print('STATE', os.environ['WIF_STATE_DIR'])",
    ]

    async def everyone() -> list[list[dict[str, Any]]]:
        base = room.hub
        jobs = []
        for name in room.up["learners"]:
            http = f"{base}user/{name}/"
            ws = "ws" + http[len("http") :]
            extra = ["%wif_connect --fault expired"] if name == "learner3" else []
            jobs.append(run_cells(http, ws, room.token, cells + extra))
        return await asyncio.gather(*jobs)

    # In a thread of its own: a test that ran before in this process (an IPython test shell, a
    # pytest-jupyter fixture) may have left an event loop marked running in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outputs = pool.submit(asyncio.run, everyone()).result()
    return dict(zip(room.up["learners"], outputs, strict=True))


def test_every_learner_runs_the_lesson_connect_cell_against_their_own_kit(
    room: Room, learners_ran_lesson_00: dict[str, list[dict[str, Any]]]
) -> None:
    mongod_ports = set()
    for name, outputs in learners_ran_lesson_00.items():
        first, connect, check, where = outputs[:4]
        assert first["error"] is None and connect["error"] is None, (name, first, connect)
        assert "'ok': 1.0" in connect["text"], (name, connect)
        assert check["error"] is None, (name, check)
        state_dir = room.folder / "homes" / name / ".wif-state"
        assert f"STATE {state_dir}" in where["text"]
        mongod_ports.add(json.loads((state_dir / "ports.json").read_text())["mongod"])
        # The lessons were copied into the learner's home.
        assert (room.folder / "homes" / name / "notebooks" / "00-preflight.ipynb").exists()
        assert oct((room.folder / "homes" / name).stat().st_mode & 0o777) == "0o700"
    # Five kits on one machine, none on the (taken) default port, no two on the same port.
    assert len(mongod_ports) == LEARNERS
    assert int(room.env["WIF_MONGOD_DEFAULT_PORT"]) not in mongod_ports
    refused = learners_ran_lesson_00["learner3"][-1]  # the expired token
    assert refused["status"] == "error" and "authentication failed" in refused["text"], refused


def test_classroom_status_shows_every_learner_server_and_kit(
    room: Room, learners_ran_lesson_00: dict[str, list[dict[str, Any]]]
) -> None:
    result = wif("classroom", "status", "--dir", str(room.folder), "--json", env=room.env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(s["name"], s["server"], s["kit"]["idp"], s["kit"]["mongod"]) for s in doc["learner_status"]] == [
        (name, "ready", True, True) for name in room.up["learners"]
    ]


def _login(page: Any, hub: str, user: str, password: str, next_url: str = "") -> Any:
    page.goto(f"{hub}hub/login" + (f"?next={urllib.parse.quote(next_url)}" if next_url else ""))
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    with page.expect_navigation() as navigation:
        page.click("#login_submit")
    return navigation.value


def test_the_room_view_shows_every_learner_and_resets_a_kit_keeping_progress(
    room: Room, learners_ran_lesson_00: dict[str, list[dict[str, Any]]]
) -> None:
    # Playwright's sync API refuses a thread whose event loop is marked running (an earlier test in
    # this process may leave the main thread's that way): drive the browser from a thread of its own.
    def in_browser() -> None:
        from playwright.sync_api import sync_playwright

        instructor = room.up["login"]["instructor"]
        learner = room.up["login"]["learners"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # A learner is not let in.
                context = browser.new_context()
                page = context.new_page()
                password = Path(learner["password_file"]).read_text().strip()
                _login(page, room.hub, "learner1", password, next_url="/hub/home")  # not their JupyterLab
                response = page.goto(room.up["room_url"])
                assert response is not None and response.status == 403
                context.close()

                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                _login(page, room.hub, "instructor", Path(instructor["password_file"]).read_text().strip())
                page.goto(room.up["room_url"])
                page.wait_for_selector(f"tr[data-learner=learner{LEARNERS}]", timeout=30_000)

                # The JSON for scripts, with the instructor's session.
                api = context.request.get(room.up["room_url"] + "api/learners")
                assert api.status == 200
                rows = {r["name"]: r for r in api.json()["learners"]}
                assert sorted(rows) == sorted(room.up["learners"])
                for name, row in rows.items():
                    assert row["server"] == "ready"
                    assert row["services"]["idp"]["running"] and row["services"]["mongod"]["running"]
                    checks = {p["lesson"]: p["checks"] for p in row["progress"]}
                    assert checks["00-preflight"]["kit-issuer"] == "passed", name
                    assert row["idle_seconds"] is not None
                assert rows["learner3"]["last_failure"]["rule"] == "time.exp"
                assert rows["learner1"]["last_failure"] is None

                # Sortable: the last failing rule, descending, puts learner3 first.
                page.click("th button[data-key=rule]")
                page.click("th button[data-key=rule]")
                first = page.locator("#room tbody tr").first
                assert first.get_attribute("data-learner") == "learner3"
                assert page.get_attribute("th:has(button[data-key=rule])", "aria-sort") == "descending"
                assert "time.exp" in first.locator("td[data-col=rule]").inner_text()
                page.screenshot(path=str(room.folder.parent / "room.png"))

                # Reset learner2's kit from the page: fresh keys, progress kept, services back up.
                state = room.folder / "homes" / "learner2" / ".wif-state"
                old_key_files = sorted(p.name for p in (state / "keys").rglob("*") if p.is_file())
                page.once("dialog", lambda dialog: dialog.accept())
                page.click("tr[data-learner=learner2] button")
                page.wait_for_selector(
                    "#action:has-text('Kit of learner2 reset; progress kept.')", timeout=60_000
                )
                after = {
                    r["name"]: r
                    for r in context.request.get(room.up["room_url"] + "api/learners").json()["learners"]
                }
                learner2 = after["learner2"]
                assert learner2["services"]["idp"]["running"] and learner2["services"]["mongod"]["running"]
                assert {p["lesson"]: p["checks"] for p in learner2["progress"]}["00-preflight"][
                    "kit-issuer"
                ] == "passed"
                assert sorted(p.name for p in (state / "keys").rglob("*") if p.is_file()) != old_key_files
                context.close()
            finally:
                browser.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(in_browser).result()


def test_room_api_refuses_a_request_without_the_instructors_session(room: Room) -> None:
    req = urllib.request.Request(room.up["room_url"] + "api/learners", headers={"Accept": "application/json"})
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(req, timeout=10)
    assert info.value.code in (302, 403)  # off to the hub's OAuth login, never the data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_up_again_in_the_same_folder_is_the_same_room(room: Room) -> None:
    again = wif(
        "classroom", "up", "--learners", str(LEARNERS), "--dir", str(room.folder), "--json", env=room.env
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["hub_url"] == room.up["hub_url"]
    assert not ports.is_free(int(room.up["hub_url"].rsplit(":", 1)[1].strip("/")))
