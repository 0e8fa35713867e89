"""What the lessons say is true: wrong claims found in a review stay out, the right ones stay in.

Each test reads the committed notebooks' sources (markdown and code), so a later edit that brings a
wrong statement back fails here with the lesson and the sentence.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import NOTEBOOKS, lesson_paths


def _sources(stem: str) -> list[str]:
    path = next(NOTEBOOKS.glob(f"{stem}*.ipynb"))
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]


def _text(stem: str) -> str:
    return "\n".join(_sources(stem))


def _course() -> str:
    return "\n".join(_text(p.stem) for p in lesson_paths())


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_an_unknown_field_is_not_said_to_be_refused_as_a_real_mongod_does() -> None:
    text = _flat(_text("04-"))
    assert "refused, not ignored" not in text
    assert "gives the message a real mongod gives" not in text
    assert "UNCONFIRMED" in text and "unknown field" in text


def test_enterprise_is_recognised_by_either_modules_string() -> None:
    text = _flat(_course())
    assert "`modules: subscription` or `modules: enterprise`" in text
    assert not re.search(r"shows `modules: enterprise`\)", text)


def test_atlas_takes_federated_users_or_groups_and_needs_no_custom_roles() -> None:
    text = _flat(_text("09-"))
    assert "or custom roles for groups" not in text
    assert "**user or group** of type *Federated Auth*" in text
    assert "custom roles are not required" in text


def test_kubernetes_is_a_driver_built_in_the_manual_table_does_not_list() -> None:
    course = _flat(_course())
    assert "`k8s` is a driver built-in" in course
    assert "the manual's table does not list" in course
    # Never presented as part of the manual's table.
    assert not re.search(r"built-in authentication table[^.]*Kubernetes", course)


def test_aks_is_one_story_the_pod_token_as_is_or_exchanged_for_an_entra_token() -> None:
    for stem in ("02-", "06-", "09-"):
        text = _flat(_text(stem))
        assert "ENVIRONMENT:k8s" in text or '"k8s"' in text, stem
        assert "cluster's issuer" in text, f"{stem}: with k8s the server trusts the cluster's issuer"
        assert "Entra" in text and ("callback" in text or "OIDC_CALLBACK" in text), stem
    assert "MongoDB only ever sees the second one" not in _flat(_text("02-"))


def test_log_ids_are_said_to_differ_between_versions_with_a_search_instead() -> None:
    for stem in ("08-", "09-"):
        text = _flat(_text(stem))
        assert "20249" in text
        assert "differ between server versions" in text, stem
        assert '"msg":"Authentication failed"' in text, stem


def test_readwrite_is_not_said_to_grant_every_action() -> None:
    text = _flat(_text("05-"))
    assert "grant every action on every collection" not in text
    assert "non-system collection" in text


def test_the_entra_v1_issuer_keeps_its_trailing_slash() -> None:
    text = _flat(_text("04-"))
    assert "https://sts.windows.net/<tenant-id>/" in text
    assert "https://login.microsoftonline.com/<tenant-id>/v2.0" in text
    assert "# no trailing slash: it must equal" not in text  # the old comment invited removing it
    assert "**with** the trailing slash" in text


def test_the_preflight_exercise_names_the_issuer_table_row() -> None:
    text = _flat(_text("00-"))
    assert "the line `issuer kit`" not in text
    assert "the row `kit`" in text and "`issuer`, `URL`" in text


@pytest.mark.parametrize(
    "wrong",
    [
        "the line `issuer kit`",
        "refused, not ignored",
        "or custom roles for groups",
        "MongoDB only ever sees the second one",
        "grant every action on every collection",
    ],
)
def test_no_lesson_repeats_a_corrected_statement(wrong: str) -> None:
    assert wrong not in _flat(_course())


def test_mongosh_syntax_is_shown_beside_the_magic_and_typed_in_the_capstone() -> None:
    authorizing = _flat(_text("05-"))
    assert 'db.getSiblingDB("admin").createRole(' in authorizing
    assert 'db.getSiblingDB("$external").createUser(' in authorizing
    capstone = _sources("10-")
    learner_cells = [s for s in capstone if "step 2" in s]
    assert learner_cells and "%wif_authorize" not in "\n".join(learner_cells)
    text = _flat("\n".join(capstone))
    assert "db.createRole(" in text and 'command("createRole"' in text and 'command("createUser"' in text


def test_the_cloud_lessons_use_the_export_of_the_learners_kit() -> None:
    for stem, target in (
        ("11-", "azure"),
        ("12-", "gcp"),
        ("13-", "k8s"),
        ("14-", "atlas"),
        ("14-", "enterprise"),
    ):
        assert f"%wif_export {target}" in _text(stem), (stem, target)
    for stem, tool in (
        ("11-", "az "),
        ("12-", "gcloud "),
        ("13-", "kubectl "),
        ("14-", "atlas "),
        ("14-", "mongod"),
    ):
        assert tool in _text(stem), (stem, tool)


def test_each_lesson_states_the_minutes_the_agenda_measured() -> None:
    measured = json.loads((NOTEBOOKS.parent / "benchmarks" / "results" / "course.json").read_text())
    planned = {entry["lesson"]: entry["planned_min"] for entry in measured["lessons"]}
    assert set(planned) == {p.stem for p in lesson_paths()}, "run benchmarks/course.py after adding a lesson"
    for path in lesson_paths():
        stated = re.search(r"\*\*Time:\*\* (\d+) minutes", _sources(path.stem)[0])
        assert stated, path.name
        assert abs(int(stated.group(1)) - planned[path.stem]) <= 2, (path.name, planned[path.stem])


def test_the_azure_lesson_says_why_a_service_principal_works_with_or_without_disable_instance_discovery() -> (
    None
):
    text = _flat(_text("11-"))
    # MSAL's question to the public cloud, answered by the kit's proxy; or skipped by the argument.
    assert "https://login.microsoftonline.com/common/discovery/instance" in text
    assert "sets `HTTPS_PROXY` to the kit's proxy" in text and "refuses every other host" in text
    assert (
        "Either way works" in text and "`disable_instance_discovery=True`, which skips the question" in text
    )
    # Never presented as something a real Azure host needs.
    assert "On Azure the authority *is* `login.microsoftonline.com`, so it asks nothing" in text
