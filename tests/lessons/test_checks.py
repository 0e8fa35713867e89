"""Each exercise check with a right and a wrong answer, against the real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from wif_notebook import checks, lessons, stack, tokens
from wif_notebook.checks import CheckResult, check, expected_error
from wif_notebook.connect import KitCallback, authorize, close_all
from wif_notebook.errors import ConfigError, TokenError
from wif_notebook.state import StateDir


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    state = StateDir(tmp_path_factory.mktemp("checks") / "state")
    stack.up(state, idp_port=0, port=0)
    try:
        yield state
    finally:
        close_all()
        stack.down(state)


def _run(kit: StateDir, lesson: str, exercise: str, answer: Any) -> CheckResult:
    return check(lesson, exercise, answer, state=kit)


def _assert_right(result: CheckResult) -> None:
    assert result.passed is True, str(result)
    assert result.hint is None
    assert str(result).startswith("✔ Correct!")


def _assert_wrong(result: CheckResult, kit: StateDir, *, mentions: str = "") -> None:
    assert result.passed is False, str(result)
    assert result.hint, "a wrong answer comes with a hint"
    assert "hint:" in str(result) and "Hint:" in result._repr_html_()
    assert mentions.lower() in result.message.lower(), result.message
    record = lessons.progress(kit)[result.lesson][result.exercise]
    assert record["last"] is False and record["attempts"] >= 1


def _gcp_audience(kit: StateDir) -> str:
    return str(stack.status(kit)["idp"]["issuers"]["gcp"]["audience"])


def test_kit_issuer_right_and_wrong(kit: StateDir) -> None:
    issuer = stack.status(kit)["issuer"]
    _assert_wrong(
        _run(kit, "00-preflight", "kit-issuer", issuer.replace("localhost", "127.0.0.1")),
        kit,
        mentions="localhost",
    )
    _assert_right(_run(kit, "00-preflight", "kit-issuer", issuer))


def test_who_vouches_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "01-what-is-wif", "who-vouches", "a"), kit, mentions="someone else")
    _assert_right(_run(kit, "01-what-is-wif", "who-vouches", "b"))


def test_user_name_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "01-what-is-wif", "user-name", "billing-api"), kit, mentions="authNamePrefix")
    _assert_right(_run(kit, "01-what-is-wif", "user-name", "kit/billing-api"))


def test_gcp_token_right_and_wrong(kit: StateDir) -> None:
    wrong = tokens.gcp_metadata("api://not-the-server", principal="gce-worker", state=kit)
    _assert_wrong(_run(kit, "02-obtaining-a-token", "gcp-token", wrong), kit, mentions="expects")
    other_way = tokens.client_credentials("billing-api", state=kit)
    _assert_wrong(_run(kit, "02-obtaining-a-token", "gcp-token", other_way), kit, mentions="metadata server")
    right = tokens.gcp_metadata(_gcp_audience(kit), principal="gce-worker", state=kit)
    _assert_right(_run(kit, "02-obtaining-a-token", "gcp-token", right))


def test_roles_from_groups_right_and_wrong(kit: StateDir) -> None:
    lesson = "03-inspecting-claims"
    _assert_wrong(
        _run(kit, lesson, "roles-from-groups", ["billing-writers", "reports-readers"]), kit, mentions="groups"
    )
    _assert_right(_run(kit, lesson, "roles-from-groups", ["kit/reports-readers", "kit/billing-writers"]))


def test_fix_the_entry_right_and_wrong(kit: StateDir) -> None:
    issuer = stack.status(kit)["issuer"]
    broken = {"issuer": issuer, "audiance": "api://mongodb-kit", "authNamePrefix": "kit-workloads"}
    result = _run(kit, "04-configuring-mongod", "fix-the-entry", broken)
    _assert_wrong(result, kit, mentions="mongod would still refuse it")
    assert result.hint and "audience" in result.hint  # the validator's own next step
    fixed = {
        "issuer": issuer,
        "audience": "api://mongodb-kit",
        "authNamePrefix": "kit-workloads",
        "authorizationClaim": "groups",
        "supportsHumanFlows": False,
    }
    _assert_right(_run(kit, "04-configuring-mongod", "fix-the-entry", fixed))


def test_least_privilege_is_checked_by_logging_in_as_billing_api(kit: StateDir) -> None:
    lesson = "05-authorizing"
    _assert_wrong(_run(kit, lesson, "least-privilege", "billing-api"), kit, mentions="cannot insert")
    authorize(kit, group="billing-writers", roles=["readWrite@shop"])
    _assert_wrong(_run(kit, lesson, "least-privilege", "billing-api"), kit, mentions="shop.payments")
    authorize(kit, group="billing-writers", privileges=["shop.orders:insert"])
    _assert_right(_run(kit, lesson, "least-privilege", "billing-api"))


def test_my_callback_right_and_wrong(kit: StateDir) -> None:
    uri = stack.status(kit)["mongodb_uri"].split("?")[0] + "?directConnection=true"
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as anonymous:
        _assert_wrong(_run(kit, "06-connecting", "my-callback", anonymous), kit, mentions="not authenticated")
    with MongoClient(
        uri,
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": KitCallback(kit, "lesson-app")},
    ) as someone_else:
        _assert_wrong(_run(kit, "06-connecting", "my-callback", someone_else), kit, mentions="kit/lesson-app")
    with MongoClient(
        uri,
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": KitCallback(kit, "billing-api")},
    ) as right:
        _assert_right(_run(kit, "06-connecting", "my-callback", right))


def test_reauth_code_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "07-token-lifecycle", "reauth-code", 18), kit, mentions="AuthenticationFailed")
    _assert_right(_run(kit, "07-token-lifecycle", "reauth-code", "391"))


def test_mystery_rule_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "08-troubleshooting", "mystery-rule", "signature"), kit, mentions="signature")
    result = _run(kit, "08-troubleshooting", "mystery-rule", "no such rule")
    _assert_wrong(result, kit, mentions="not a rule id")
    _assert_right(_run(kit, "08-troubleshooting", "mystery-rule", "audience"))


def test_environments_right_and_wrong(kit: StateDir) -> None:
    lesson = "09-workshop-to-production"
    wrong = {"Cloud Run": "gcp", "Azure VM": "gcp", "AKS pod": "k8s"}
    _assert_wrong(_run(kit, lesson, "environments", wrong), kit, mentions="Azure VM")
    _assert_right(
        _run(kit, lesson, "environments", {"Cloud Run": "gcp", "Azure VM": "azure", "AKS pod": "k8s"})
    )


def test_a_right_answer_is_recorded_and_stays_passed(kit: StateDir) -> None:
    _run(kit, "07-token-lifecycle", "reauth-code", 391)
    _run(kit, "07-token-lifecycle", "reauth-code", 13)
    record = lessons.progress(kit)["07-token-lifecycle"]["reauth-code"]
    assert record["passed"] is True and record["last"] is False


@pytest.mark.parametrize("answer", [..., {"Cloud Run": ..., "Azure VM": "azure", "AKS pod": "k8s"}])
def test_an_unanswered_exercise_shows_the_hint_and_records_nothing(tmp_path: Path, answer: Any) -> None:
    state = StateDir(tmp_path / "state")
    result = check("09-workshop-to-production", "environments", answer, state=state)
    assert result.passed is None and not result.recorded
    assert str(result).startswith("… Not answered yet") and "hint:" in str(result)
    assert lessons.progress(state) == {}


def test_a_solution_run_is_shown_but_not_recorded(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    result = check("01-what-is-wif", "who-vouches", "b", solution=True, state=state)
    assert result.passed is True and not result.recorded
    assert str(result).startswith("✔ Reference solution: passes")
    assert lessons.progress(state) == {}


def test_a_check_that_cannot_reach_the_services_fails_with_the_next_step(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")  # nothing running here
    result = check("00-preflight", "kit-issuer", "http://localhost:8123/kit", state=state)
    assert result.passed is False
    assert result.hint == "run %wif_up"


def test_an_unknown_exercise_names_the_lesson_s_exercises() -> None:
    with pytest.raises(ConfigError) as caught:
        check("01-what-is-wif", "no-such-exercise", "b")
    assert caught.value.hint is not None and "who-vouches" in caught.value.hint


def test_expected_error_shows_a_kit_error_with_its_next_step() -> None:
    with expected_error("on purpose", show=False) as caught:
        raise TokenError("the token expired", hint="get a fresh one")
    assert str(caught).splitlines() == [
        "✘ As expected, this fails: the token expired",
        "  next step: get a fresh one",
        "  on purpose",
    ]


def test_expected_error_warns_when_nothing_failed() -> None:
    with expected_error(show=False) as caught:
        pass
    assert caught.error is None
    assert "expected to fail, but nothing went wrong" in str(caught)


def test_expected_error_does_not_hide_a_bug_in_the_lesson() -> None:
    with pytest.raises(NameError), expected_error(show=False):
        raise NameError("undefined_variable")


def test_every_exercise_belongs_to_a_known_lesson() -> None:
    assert {lesson for lesson, _ in checks.EXERCISES} == set(checks._LESSON.values())


def test_resetting_a_students_kit_keeps_the_progress_recorded_so_far(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    lessons.record_check("00-preflight", "kit-issuer", True, state=state)
    stack.reset(state)
    assert lessons.progress(state)["00-preflight"]["kit-issuer"]["passed"] is True
