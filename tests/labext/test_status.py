"""The application/vnd.wif.status+json payload against real services (docs/ARCHITECTURE.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wif_notebook import lessons, stack
from wif_notebook.state import StateDir
from wif_notebook.status import status_payload

from .conftest import BOTH_DOWN, LESSON_01_HALF_DONE, write_lesson


def assert_contract_shape(payload: dict[str, Any]) -> None:
    assert set(payload) == {"version", "state_dir", "services", "lessons"}
    assert payload["version"] == 1
    assert set(payload["services"]) == {"idp", "mongod"}
    idp, mongod = payload["services"]["idp"], payload["services"]["mongod"]
    if idp["running"]:
        assert set(idp) == {"running", "pid", "port", "base_url", "issuers"}
        for info in idp["issuers"].values():
            assert set(info) == {"issuer", "audience"}
    else:
        assert idp == {"running": False}
    if mongod["running"]:
        assert set(mongod) == {"running", "kind", "pid", "port", "mongodb_uri"}
    else:
        assert mongod == {"running": False}
    for lesson in payload["lessons"]:
        assert set(lesson) == {"id", "title", "path", "done", "total"}


def test_status_of_a_fresh_state_dir_shows_both_services_down(state: StateDir, lessons_dir: Path) -> None:
    payload = status_payload(state)
    assert_contract_shape(payload)
    assert payload["state_dir"] == str(state.path)
    assert payload["services"] == BOTH_DOWN
    assert payload["lessons"] == []


def test_status_after_wif_up_shows_ports_issuers_and_which_mongod(
    stopped_after: StateDir, lessons_dir: Path
) -> None:
    state = stopped_after
    write_lesson(
        lessons_dir, "01-what-is-wif.ipynb", lesson={"title": "What is WIF?", "exercises": ["a", "b"]}
    )
    lessons.record_check("01-what-is-wif", "a", True, state=state)
    up = stack.up(state, idp_port=0, port=0)
    payload = status_payload(state)
    assert_contract_shape(payload)
    idp, mongod = payload["services"]["idp"], payload["services"]["mongod"]
    assert idp["running"] is True and idp["port"] == up["idp"]["port"]
    assert idp["base_url"] == f"http://localhost:{idp['port']}"
    assert idp["issuers"]["kit"] == {
        "issuer": f"https://localhost:{idp['port']}/kit",
        "audience": "api://mongodb-kit",
    }
    assert mongod["running"] is True and mongod["kind"] == "test-server"
    assert mongod["port"] == up["mongod"]["port"]
    assert mongod["mongodb_uri"] == up["mongodb_uri"]
    assert payload["lessons"] == [LESSON_01_HALF_DONE]


def test_status_payload_never_carries_the_admin_password(stopped_after: StateDir, lessons_dir: Path) -> None:
    up = stack.up(stopped_after, idp_port=0, port=0)
    password = json.loads((stopped_after.path / "admin.json").read_text()).get("password")
    text = json.dumps(status_payload(stopped_after))
    assert password and password not in json.dumps(up)
    assert password not in text
    assert "admin_uri" not in text


def test_status_after_wif_down_shows_both_down_again(stopped_after: StateDir, lessons_dir: Path) -> None:
    stack.up(stopped_after, idp_port=0, port=0)
    stack.down(stopped_after)
    payload = status_payload(stopped_after)
    assert payload["services"] == BOTH_DOWN
