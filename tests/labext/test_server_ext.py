"""The server extension's endpoints under /wif/api/, on a real jupyter-server (pytest-jupyter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from wif_notebook import lessons
from wif_notebook.jupyter_server_ext import _jupyter_server_extension_points
from wif_notebook.state import StateDir

from .conftest import BOTH_DOWN, LESSON_01_HALF_DONE, write_lesson

pytestmark = pytest.mark.timeout(60)


async def get_json(jp_fetch: Any, *path: str) -> Any:
    response = await jp_fetch("wif", "api", *path, method="GET")
    assert response.code == 200
    return json.loads(response.body)


async def post_json(jp_fetch: Any, *path: str, body: dict[str, Any] | None = None) -> Any:
    response = await jp_fetch("wif", "api", *path, method="POST", body=json.dumps(body or {}))
    assert response.code == 200
    return json.loads(response.body)


def test_the_package_names_its_server_extension() -> None:
    assert _jupyter_server_extension_points() == [{"module": "wif_notebook.jupyter_server_ext"}]


def test_the_install_config_enables_the_server_extension() -> None:
    config = Path(__file__).resolve().parents[2] / "jupyter-config" / "server-config" / "wif_notebook.json"
    doc = json.loads(config.read_text())
    assert doc["ServerApp"]["jpserver_extensions"] == {"wif_notebook.jupyter_server_ext": True}


async def test_status_endpoint_serves_the_status_payload(
    jp_fetch: Any, state: StateDir, lessons_dir: Path
) -> None:
    write_lesson(lessons_dir, "01-what-is-wif.ipynb", heading="What is WIF?", cell_exercises=["a", "b"])
    lessons.record_check("01-what-is-wif", "b", True, state=state)
    payload = await get_json(jp_fetch, "status")
    assert payload["version"] == 1
    assert payload["state_dir"] == str(state.path)
    assert payload["services"] == BOTH_DOWN
    # Relative to the Jupyter root, so the panel can open it with docmanager:open.
    assert payload["lessons"] == [LESSON_01_HALF_DONE]


async def test_lessons_endpoint_lists_the_catalog(jp_fetch: Any, state: StateDir, lessons_dir: Path) -> None:
    write_lesson(lessons_dir, "02-b.ipynb", heading="Second")
    write_lesson(lessons_dir, "01-a.ipynb", heading="First")
    doc = await get_json(jp_fetch, "lessons")
    assert doc["lessons_dir"] == str(lessons_dir)
    assert [item["title"] for item in doc["lessons"]] == ["First", "Second"]


async def test_start_and_stop_change_what_status_reports(
    jp_fetch: Any, stopped_after: StateDir, lessons_dir: Path
) -> None:
    started = await post_json(jp_fetch, "services", "start", body={"idp_port": 0, "port": 0})
    idp, mongod = started["services"]["idp"], started["services"]["mongod"]
    assert idp["running"] is True and mongod["running"] is True
    assert idp["port"] == stopped_after.read_record("idp").port  # type: ignore[union-attr]
    assert mongod["kind"] == "test-server"
    assert (await get_json(jp_fetch, "status"))["services"] == started["services"]

    stopped = await post_json(jp_fetch, "services", "stop")
    assert stopped["services"] == BOTH_DOWN
    assert stopped_after.read_record("idp") is None


async def test_reset_stops_the_services_and_wipes_the_state_dir(
    jp_fetch: Any, stopped_after: StateDir, lessons_dir: Path
) -> None:
    await post_json(jp_fetch, "services", "start", body={"idp_port": 0, "port": 0})
    assert (stopped_after.path / "mongod.conf").exists()
    reset = await post_json(jp_fetch, "services", "reset")
    assert reset["services"] == BOTH_DOWN
    assert not (stopped_after.path / "mongod.conf").exists()
    assert not (stopped_after.path / "keys").exists()


async def test_a_bad_port_is_refused_with_what_and_next_step(
    jp_fetch: Any, state: StateDir, lessons_dir: Path
) -> None:
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("wif", "api", "services", "start", method="POST", body=json.dumps({"port": "x"}))
    assert err.value.code == 400
    doc = json.loads(err.value.response.body)  # type: ignore[union-attr]
    assert doc["message"] == "port must be a port number (0-65535) or null, not 'x'"
    assert "0 picks a free one" in doc["hint"]
    assert state.read_record("idp") is None


async def test_a_foreign_state_dir_is_not_wiped_and_the_answer_says_why(
    jp_fetch: Any, state: StateDir, lessons_dir: Path
) -> None:
    (state.path / "my-notes.txt").write_text("mine")
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("wif", "api", "services", "reset", method="POST", body="{}")
    assert err.value.code == 409
    doc = json.loads(err.value.response.body)  # type: ignore[union-attr]
    assert "my-notes.txt" in doc["message"] and doc["hint"]
    assert (state.path / "my-notes.txt").exists()


async def test_requests_without_credentials_are_refused(
    jp_fetch: Any, state: StateDir, lessons_dir: Path
) -> None:
    for method, body in (("GET", None), ("POST", "{}")):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch(
                "wif",
                "api",
                "status" if method == "GET" else "services/stop",
                method=method,
                body=body,
                headers={"Authorization": ""},
            )
        assert err.value.code == 403


async def test_a_lesson_inside_the_root_opens_where_it_is(jp_fetch: Any, lessons_dir: Path) -> None:
    write_lesson(lessons_dir, "01-what-is-wif.ipynb", heading="What is WIF?")
    opened = await post_json(jp_fetch, "lessons", "open", body={"id": "01-what-is-wif"})
    assert opened == {"path": "lessons/01-what-is-wif.ipynb"}


async def test_a_lesson_installed_outside_the_root_is_copied_into_the_workspace_once(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a wheel installs them: <prefix>/share/wif-notebook/notebooks, outside the Jupyter root.
    shared = tmp_path / "prefix" / "share" / "wif-notebook" / "notebooks"
    write_lesson(shared, "02-tokens.ipynb", heading="Tokens")
    monkeypatch.setenv("WIF_LESSONS_DIR", str(shared))
    opened = await post_json(jp_fetch, "lessons", "open", body={"id": "02-tokens"})
    assert opened == {"path": "wif-lessons/02-tokens.ipynb"}
    copy = jp_root_dir / "wif-lessons" / "02-tokens.ipynb"
    assert copy.read_text() == (shared / "02-tokens.ipynb").read_text()
    # The learner's copy is their work: opening again keeps it.
    copy.write_text(copy.read_text().replace("Tokens", "Tokens (my notes)"))
    assert await post_json(jp_fetch, "lessons", "open", body={"id": "02-tokens"}) == opened
    assert "my notes" in copy.read_text()
    # And the contents API (what the panel's docmanager:open uses) serves it.
    response = await jp_fetch("api", "contents", "wif-lessons", "02-tokens.ipynb", method="GET")
    assert json.loads(response.body)["type"] == "notebook"


async def test_an_unknown_lesson_answers_what_failed_and_the_next_step(
    jp_fetch: Any, lessons_dir: Path
) -> None:
    with pytest.raises(HTTPClientError) as failed:
        await jp_fetch("wif", "api", "lessons", "open", method="POST", body=json.dumps({"id": "99-nope"}))
    assert failed.value.code == 400
    body = json.loads(failed.value.response.body)  # type: ignore[union-attr]
    assert "there is no lesson '99-nope'" in body["message"] and body["hint"]


async def test_room_endpoint_reports_this_kit_as_the_instructors_room_view_shows_it(
    jp_fetch: Any, state: StateDir, lessons_dir: Path
) -> None:
    write_lesson(lessons_dir, "01-a.ipynb", heading="First", lesson={"exercises": ["e1", "e2", "e3"]})
    lessons.record_check("01-a", "e1", True, state=state)
    lessons.record_check("01-a", "e2", False, state=state)
    doc = await get_json(jp_fetch, "room")
    assert doc["services"]["idp"]["running"] is False and doc["services"]["mongod"]["running"] is False
    assert doc["progress"] == [
        {"lesson": "01-a", "title": "First", "checks": {"e1": "passed", "e2": "failed", "e3": "not tried"}}
    ]
    assert (doc["done"], doc["total"], doc["last_failure"]) == (1, 3, None)


async def test_the_panels_start_with_the_default_ports_taken_lets_the_server_choose_and_keep_ports(
    jp_fetch: Any, stopped_after: StateDir, lessons_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    # The Start button sends {}: the server picks the ports, as `wif up` does, here with both
    # defaults held by "another learner's kit".
    with socket.socket() as idp_default, socket.socket() as mongod_default:
        for sock in (idp_default, mongod_default):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        monkeypatch.setenv("WIF_IDP_DEFAULT_PORT", str(idp_default.getsockname()[1]))
        monkeypatch.setenv("WIF_MONGOD_DEFAULT_PORT", str(mongod_default.getsockname()[1]))
        started = await post_json(jp_fetch, "services", "start")
        idp, mongod = started["services"]["idp"], started["services"]["mongod"]
        assert idp["running"] and mongod["running"]
        assert idp["port"] != idp_default.getsockname()[1]
        assert mongod["port"] != mongod_default.getsockname()[1]
    kept = json.loads((stopped_after.path / "ports.json").read_text())
    assert (kept["idp"], kept["mongod"]) == (idp["port"], mongod["port"])
