"""Each exercise check with a right and a wrong answer, against the real services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support.kit import running_kit
from pymongo import MongoClient
from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult

from wif_notebook import checks, lessons, scenarios, stack, tokens
from wif_notebook.authorization import admin_client, authorize
from wif_notebook.checks import CheckResult, check, expected_error
from wif_notebook.connect import KitCallback
from wif_notebook.errors import ConfigError, TokenError
from wif_notebook.idp.issuers import AZURE_GROUPS, AZURE_RESOURCE_APP_ID, AZURE_TENANT_ID
from wif_notebook.idp.principals import find
from wif_notebook.idp.tokenfiles import token_file_path
from wif_notebook.providers import add_provider, providers_view, restore_default_config, set_provider
from wif_notebook.state import StateDir


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StateDir]:
    with running_kit(tmp_path_factory.mktemp("checks") / "state") as state:
        yield state


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


def test_kit_issuer_right_and_wrong(kit: StateDir) -> None:
    issuer = stack.status(kit)["issuer"]
    _assert_wrong(
        _run(kit, "00-preflight", "kit-issuer", issuer.replace("localhost", "127.0.0.1")),
        kit,
        mentions="localhost",
    )
    plain = issuer.replace("https://", "http://", 1)
    _assert_wrong(_run(kit, "00-preflight", "kit-issuer", plain), kit, mentions="https")
    _assert_wrong(
        _run(kit, "00-preflight", "kit-issuer", issuer + "/"), kit, mentions="character for character"
    )
    _assert_right(_run(kit, "00-preflight", "kit-issuer", issuer))


def test_who_vouches_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "01-what-is-wif", "who-vouches", "a"), kit, mentions="someone else")
    _assert_wrong(_run(kit, "01-what-is-wif", "who-vouches", "c"), kit, mentions="driver")
    _assert_right(_run(kit, "01-what-is-wif", "who-vouches", "b"))


def test_user_name_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "01-what-is-wif", "user-name", "billing-api"), kit, mentions="authNamePrefix")
    _assert_wrong(
        _run(kit, "01-what-is-wif", "user-name", "kit/billing-api@$external"), kit, mentions="database"
    )
    _assert_right(_run(kit, "01-what-is-wif", "user-name", "kit/billing-api"))


def test_gcp_token_needs_the_audience_the_server_was_given_not_the_kit_default(kit: StateDir) -> None:
    lesson = "02-obtaining-a-token"
    scenarios.stage(lesson, "gcp-token", state=kit)
    default = tokens.obtain("gce-worker", via="gcp", state=kit)  # what %wif_token asks for by default
    result = _run(kit, lesson, "gcp-token", default)
    _assert_wrong(result, kit, mentions="kit's default")
    assert scenarios.SHOP_GCP_AUDIENCE not in str(result), "the check must not give the audience away"
    wrong = tokens.gcp_metadata("api://not-the-server", principal="gce-worker", state=kit)
    _assert_wrong(_run(kit, lesson, "gcp-token", wrong), kit, mentions="expects")
    other_way = tokens.client_credentials("billing-api", state=kit)
    _assert_wrong(_run(kit, lesson, "gcp-token", other_way), kit, mentions="metadata server")
    right = tokens.gcp_metadata(scenarios.SHOP_GCP_AUDIENCE, principal="gce-worker", state=kit)
    _assert_right(_run(kit, lesson, "gcp-token", right))


def test_roles_from_groups_right_and_wrong(kit: StateDir) -> None:
    lesson = "03-inspecting-claims"
    _assert_wrong(
        _run(kit, lesson, "roles-from-groups", ["billing-writers", "reports-readers"]), kit, mentions="groups"
    )
    _assert_wrong(_run(kit, lesson, "roles-from-groups", ["kit/billing-writers"]), kit, mentions="missing")
    _assert_right(_run(kit, lesson, "roles-from-groups", ["kit/reports-readers", "kit/billing-writers"]))


def test_fix_the_entry_right_and_wrong(kit: StateDir) -> None:
    issuer = stack.status(kit)["issuer"]
    broken = {"issuer": issuer, "audiance": "api://mongodb-kit", "authNamePrefix": "kit-workloads"}
    result = _run(kit, "04-configuring-mongod", "fix-the-entry", broken)
    _assert_wrong(result, kit, mentions="mongod would still refuse it")
    assert result.hint and "audience" in result.hint  # the validator's own next step
    with_slash = {
        "issuer": issuer + "/",  # valid for mongod, but no kit token has this iss
        "audience": "api://mongodb-kit",
        "authNamePrefix": "kit-workloads",
        "authorizationClaim": "groups",
        "supportsHumanFlows": False,
    }
    _assert_wrong(_run(kit, "04-configuring-mongod", "fix-the-entry", with_slash), kit, mentions="kit issuer")
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


def _logged_in_as(kit: StateDir, uri: str, principal: str) -> MongoClient[dict[str, Any]]:
    """A learner's client whose OIDC callback fetches ``principal``'s token from the kit."""
    callback = KitCallback(kit, principal)
    return MongoClient(uri, authMechanism="MONGODB-OIDC", authMechanismProperties={"OIDC_CALLBACK": callback})


def test_my_callback_right_and_wrong(kit: StateDir) -> None:
    uri = stack.status(kit)["mongodb_uri"].split("?")[0] + "?directConnection=true"
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as anonymous:
        _assert_wrong(_run(kit, "06-connecting", "my-callback", anonymous), kit, mentions="not authenticated")
    with _logged_in_as(kit, uri, "lesson-app") as someone_else:
        _assert_wrong(_run(kit, "06-connecting", "my-callback", someone_else), kit, mentions="kit/lesson-app")
    with _logged_in_as(kit, uri, "billing-api") as right:
        _assert_right(_run(kit, "06-connecting", "my-callback", right))


def test_reauth_code_right_and_wrong(kit: StateDir) -> None:
    _assert_wrong(_run(kit, "07-token-lifecycle", "reauth-code", 18), kit, mentions="AuthenticationFailed")
    _assert_wrong(_run(kit, "07-token-lifecycle", "reauth-code", 13), kit, mentions="Unauthorized")
    _assert_wrong(_run(kit, "07-token-lifecycle", "reauth-code", "soon"), kit, mentions="not a number")
    _assert_right(_run(kit, "07-token-lifecycle", "reauth-code", "391"))


def test_mystery_issuer_needs_the_rule_and_the_fix(kit: StateDir) -> None:
    lesson = "08-troubleshooting"
    scenarios.stage(lesson, "mystery-issuer", state=kit)
    issuer = stack.status(kit)["idp"]["issuers"]["azure"]["issuer"]
    assert providers_view(kit).entries[1]["issuer"] == issuer + "/"  # the staged mistake
    _assert_wrong(_run(kit, lesson, "mystery-issuer", "audience"), kit, mentions="did not fail at audience")
    _assert_wrong(_run(kit, lesson, "mystery-issuer", "issuer"), kit, mentions="another rule")
    unfixed = _run(kit, lesson, "mystery-issuer", "provider")
    _assert_wrong(unfixed, kit, mentions="Right rule")
    assert unfixed.hint and "%wif_mongod set azure issuer" in unfixed.hint
    set_provider(kit, "azure", {"issuer": issuer})
    _assert_right(_run(kit, lesson, "mystery-issuer", "provider"))


def test_mystery_groups_needs_code_13_and_the_role_named_by_object_id(kit: StateDir) -> None:
    lesson = "08-troubleshooting"
    scenarios.stage(lesson, "mystery-groups", state=kit)
    _assert_wrong(_run(kit, lesson, "mystery-groups", 18), kit, mentions="login failed")
    not_fixed = _run(kit, lesson, "mystery-groups", 13)
    _assert_wrong(not_fixed, kit, mentions="still cannot read")
    assert not_fixed.hint and "groups claim" in not_fixed.hint
    authorize(kit, group="inventory-readers", prefix="azure", roles=["read@inventory"])  # object id role
    _assert_right(_run(kit, lesson, "mystery-groups", "13"))
    scenarios.stage(lesson, "mystery-groups", state=kit)  # staging again brings the mystery back
    _assert_wrong(_run(kit, lesson, "mystery-groups", 13), kit, mentions="still cannot read")


def _atlas(user: str, props: str) -> str:
    return f"mongodb+srv://{user}cluster0.abcde.mongodb.net/?authMechanism=MONGODB-OIDC&authMechanismProperties={props}"


def _right_connection_strings(kit: StateDir) -> dict[str, str]:
    audience = {e["authNamePrefix"]: e["audience"] for e in providers_view(kit).entries}
    client_id = find(kit, "inventory-vm").client_id
    return {
        "Azure VM": _atlas(f"{client_id}@", f"ENVIRONMENT:azure,TOKEN_RESOURCE:{audience['azure']}"),
        "Cloud Run": _atlas("", f"ENVIRONMENT:gcp,TOKEN_RESOURCE:{audience['gcp']}"),
        "AKS pod": _atlas("", "ENVIRONMENT:k8s"),
    }


def test_connection_strings_right_and_wrong(kit: StateDir) -> None:
    lesson = "09-workshop-to-production"
    right = _right_connection_strings(kit)
    swapped = {**right, "Cloud Run": right["Cloud Run"].replace("ENVIRONMENT:gcp", "ENVIRONMENT:azure")}
    _assert_wrong(_run(kit, lesson, "connection-strings", swapped), kit, mentions="Cloud Run: ENVIRONMENT")
    no_identity = {
        **right,
        "Azure VM": right["Azure VM"].replace(right["Azure VM"].split("//")[1].split("@")[0] + "@", ""),
    }
    _assert_wrong(_run(kit, lesson, "connection-strings", no_identity), kit, mentions="client id")
    k8s_resource = {**right, "AKS pod": right["AKS pod"] + ",TOKEN_RESOURCE:api://x"}
    _assert_wrong(_run(kit, lesson, "connection-strings", k8s_resource), kit, mentions="no TOKEN_RESOURCE")
    default_gcp = {**right, "Cloud Run": _atlas("", "ENVIRONMENT:gcp,TOKEN_RESOURCE:api://not-the-server")}
    _assert_wrong(_run(kit, lesson, "connection-strings", default_gcp), kit, mentions="audience")
    _assert_right(_run(kit, lesson, "connection-strings", right))


def _pod_uri(kit: StateDir) -> str:
    host = stack.status(kit)["mongodb_uri"].split("/")[2]
    return f"mongodb://{host}/?directConnection=true&authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s"


def test_capstone_verifies_trust_privileges_and_connection_on_the_live_server(kit: StateDir) -> None:
    lesson = "10-capstone"
    scenarios.stage(lesson, "capstone", state=kit)
    app_uri = _pod_uri(kit)
    try:
        _assert_wrong(_run(kit, lesson, "capstone", app_uri), kit, mentions="1/3")
        pod = tokens.token_file(token_file_path(kit, "aks"))
        add_provider(
            kit,
            {
                "issuer": pod.issuer,
                "audience": pod.claims["aud"][0],  # a Kubernetes token's aud is a one-element list
                "authNamePrefix": "aks",
                "useAuthorizationClaim": False,
                "supportsHumanFlows": False,
            },
        )
        _assert_wrong(_run(kit, lesson, "capstone", app_uri), kit, mentions="2/3: the pod's login fails (18)")
        admin = admin_client(kit)
        try:
            admin.admin.command(
                "createRole", "shop-orders-reader", privileges=[], roles=[{"role": "readWrite", "db": "shop"}]
            )
            user = f"aks/{pod.claims['sub']}"
            admin["$external"].command(
                "createUser", user, roles=[{"role": "shop-orders-reader", "db": "admin"}]
            )
            _assert_wrong(_run(kit, lesson, "capstone", app_uri), kit, mentions="insert into shop.orders")
            orders_find = [{"resource": {"db": "shop", "collection": "orders"}, "actions": ["find"]}]
            admin.admin.command("updateRole", "shop-orders-reader", privileges=orders_find, roles=[])
        finally:
            admin.close()
        app_uri = _pod_uri(kit)  # a restarted test mongod may listen on another free port
        host = stack.status(kit)["mongodb_uri"].split("/")[2]
        _assert_wrong(
            _run(kit, lesson, "capstone", app_uri.replace("ENVIRONMENT:k8s", "ENVIRONMENT:test")),
            kit,
            mentions="3/3",
        )
        _assert_wrong(
            _run(kit, lesson, "capstone", app_uri.replace(host, "127.0.0.1:1")), kit, mentions="3/3"
        )
        _assert_right(_run(kit, lesson, "capstone", app_uri))
        # Staging again starts over: no trust, no user, no leftover role.
        scenarios.stage(lesson, "capstone", state=kit)
        _assert_wrong(_run(kit, lesson, "capstone", app_uri), kit, mentions="1/3")
    finally:
        restore_default_config(kit)


def _caching_callback(kit: StateDir, lifetime: int) -> OIDCCallback:
    class Caching(OIDCCallback):
        def __init__(self) -> None:
            self.cached: tokens.IssuedToken | None = None

        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            if self.cached is None:
                self.cached = tokens.mint("lesson-app", lifetime=lifetime, state=kit)
            return OIDCCallbackResult(access_token=self.cached.token)

    return Caching()


def test_fresh_callback_right_and_wrong(kit: StateDir) -> None:
    lesson = "07-token-lifecycle"
    authorize(kit, group="lesson-readers", roles=["read@shop"])
    stale = _run(kit, lesson, "fresh-callback", _caching_callback(kit, 2))
    _assert_wrong(stale, kit, mentions="expired token back")
    _assert_wrong(_run(kit, lesson, "fresh-callback", _caching_callback(kit, 3600)), kit, mentions="too long")
    _assert_wrong(_run(kit, lesson, "fresh-callback", OIDCCallback), kit, mentions="class itself")
    _assert_wrong(_run(kit, lesson, "fresh-callback", "not a callback"), kit, mentions="OIDCCallback")

    class Fresh(OIDCCallback):
        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            return OIDCCallbackResult(access_token=tokens.mint("lesson-app", lifetime=2, state=kit).token)

    result = _run(kit, lesson, "fresh-callback", Fresh())
    _assert_right(result)
    assert "391" in result.message


def test_a_right_answer_is_recorded_and_stays_passed(kit: StateDir) -> None:
    _run(kit, "07-token-lifecycle", "reauth-code", 391)
    _run(kit, "07-token-lifecycle", "reauth-code", 13)
    record = lessons.progress(kit)["07-token-lifecycle"]["reauth-code"]
    assert record["passed"] is True and record["last"] is False


@pytest.mark.parametrize(
    "answer", [..., {"Cloud Run": ..., "Azure VM": "mongodb://x", "AKS pod": "mongodb://y"}]
)
def test_an_unanswered_exercise_shows_the_hint_and_records_nothing(tmp_path: Path, answer: Any) -> None:
    state = StateDir(tmp_path / "state")
    result = check("09-workshop-to-production", "connection-strings", answer, state=state)
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


def _v1_entry(**changes: Any) -> dict[str, Any]:
    entry = {
        "issuer": f"https://sts.windows.net/{AZURE_TENANT_ID}/",
        "audience": f"api://{AZURE_RESOURCE_APP_ID}",
        "authNamePrefix": "azure",
        "authorizationClaim": "groups",
        "supportsHumanFlows": False,
    }
    entry.update(changes)
    return entry


def test_entra_v1_entry_keeps_the_trailing_slash_and_the_requested_audience(kit: StateDir) -> None:
    lesson = "11-azure"
    no_slash = _v1_entry(issuer=f"https://sts.windows.net/{AZURE_TENANT_ID}")
    _assert_wrong(_run(kit, lesson, "entra-v1-entry", no_slash), kit, mentions="trailing slash")
    v2 = _v1_entry(issuer=f"https://login.microsoftonline.com/{AZURE_TENANT_ID}/v2.0")
    _assert_wrong(_run(kit, lesson, "entra-v1-entry", v2), kit, mentions="v2.0 issuer")
    guid = _v1_entry(audience=AZURE_RESOURCE_APP_ID)
    _assert_wrong(_run(kit, lesson, "entra-v1-entry", guid), kit, mentions="Application ID URI")
    plain_http = _v1_entry(issuer=f"http://sts.windows.net/{AZURE_TENANT_ID}/")
    _assert_wrong(
        _run(kit, lesson, "entra-v1-entry", plain_http), kit, mentions="production mongod would refuse"
    )
    _assert_right(_run(kit, lesson, "entra-v1-entry", _v1_entry()))
    _assert_right(_run(kit, lesson, "entra-v1-entry", _v1_entry(authorizationClaim="roles")))


def test_google_user_is_named_after_the_unique_id(kit: StateDir) -> None:
    lesson = "12-google-cloud"
    who = find(kit, "run-checkout")
    _assert_wrong(
        _run(kit, lesson, "google-user", f"gcp/{who.claims['email']}"), kit, mentions="principalName"
    )
    _assert_wrong(_run(kit, lesson, "google-user", who.subject), kit, mentions="authNamePrefix")
    _assert_wrong(_run(kit, lesson, "google-user", "gcp/run-checkout"), kit, mentions="not the user")
    _assert_right(_run(kit, lesson, "google-user", f"gcp/{who.subject}"))


# The right answer to the EKS exercise: the cluster's issuer, the token file's aud, $external users.
EKS_ENTRY = {
    "issuer": checks.EKS_ISSUER,
    "audience": "sts.amazonaws.com",
    "authNamePrefix": "eks",
    "useAuthorizationClaim": False,
    "supportsHumanFlows": False,
}


def test_eks_entry_takes_the_token_files_audience(kit: StateDir) -> None:
    lesson = "13-kubernetes"
    right = dict(EKS_ENTRY)
    _assert_wrong(_run(kit, lesson, "eks-entry", {**right, "audience": "api://mongodb"}), kit, mentions="aud")
    groups = {**right, "useAuthorizationClaim": True, "authorizationClaim": "groups"}
    _assert_wrong(_run(kit, lesson, "eks-entry", groups), kit, mentions="no groups")
    people = {**right, "supportsHumanFlows": True, "clientId": "x"}
    _assert_wrong(_run(kit, lesson, "eks-entry", people), kit, mentions="people")
    _assert_right(_run(kit, lesson, "eks-entry", right))


def test_google_user_refused_by_mongod_says_so_with_the_servers_reason(kit: StateDir) -> None:
    # principalName names a claim Google's tokens do not carry: mongod refuses run-checkout's token,
    # so no user name is right; the check says why instead of naming a user.
    set_provider(kit, "gcp", {"principalName": "preferred_username"})
    try:
        result = _run(kit, "12-google-cloud", "google-user", "gcp/run-checkout")
    finally:
        restore_default_config(kit)
    assert result.passed is False
    assert "mongod refuses run-checkout's token for the 'gcp' provider" in result.message
    assert "Unable to find principal claim 'preferred_username' in token body" in result.message
    assert result.hint is not None and "principalName" in result.hint


def test_eks_entry_refused_for_its_principal_claim_quotes_the_server(kit: StateDir) -> None:
    result = _run(kit, "13-kubernetes", "eks-entry", {**EKS_ENTRY, "principalName": "email"})
    assert result.passed is False
    assert "Unable to find principal claim 'email' in token body" in result.message


def test_eks_entry_without_the_token_file_says_the_file_is_missing_and_how_to_get_it(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")  # no IdP has written token files here
    result = check("13-kubernetes", "eks-entry", EKS_ENTRY, state=state)
    assert result.passed is False
    assert f"token file {token_file_path(state, 'eks')} does not exist" in result.message
    assert result.hint is not None and "wif idp start" in result.hint


CREATE = "atlas dbusers create"


def test_atlas_users_are_a_group_by_object_id_and_a_user_by_sub(kit: StateDir) -> None:
    lesson = "14-atlas-and-enterprise"
    group = f"{checks.ATLAS_IDP_IDS['azure']}/{AZURE_GROUPS['inventory-readers']}"
    user = f"{checks.ATLAS_IDP_IDS['gcp']}/{find(kit, 'gce-worker').subject}"
    right = {
        "inventory-readers": f"{CREATE} --username {group} --oidcType IDP_GROUP --role read@inventory",
        "gce-worker": f"{CREATE} --username {user} --oidcType USER --role read@shop",
    }
    by_name = {
        **right,
        "inventory-readers": right["inventory-readers"].replace(
            group, "66b0c1e2d3f4a5b6c7d8e9f0/inventory-readers"
        ),
    }
    _assert_wrong(_run(kit, lesson, "atlas-users", by_name), kit, mentions="user name")
    swapped = {**right, "gce-worker": right["gce-worker"].replace("USER", "IDP_GROUP")}
    _assert_wrong(
        _run(kit, lesson, "atlas-users", swapped), kit, mentions="oidcType should be USER, not IDP_GROUP"
    )
    no_role = {**right, "gce-worker": right["gce-worker"].replace(" --role read@shop", "")}
    _assert_wrong(_run(kit, lesson, "atlas-users", no_role), kit, mentions="role read@shop")
    _assert_right(_run(kit, lesson, "atlas-users", right))


def test_every_exercise_is_tested_here_with_right_and_wrong_answers() -> None:
    import ast

    tree = ast.parse(Path(__file__).read_text())
    bodies = [
        ast.unparse(f) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name.startswith("test_")
    ]
    for _, exercise in checks.EXERCISES:
        tested = [b for b in bodies if f"'{exercise}'" in b]
        assert tested, f"no test runs the check of exercise {exercise!r}"
        text = "\n".join(tested)
        assert "_assert_right(" in text and text.count("_assert_wrong(") >= 2, exercise
