"""Exercise checks for the lessons: a friendly verdict, a hint when the answer is not right yet.

A check cell of a lesson is one line::

    check("02-obtaining-a-token", "gcp-token", gcp_token)

``check`` looks the exercise up in ``EXERCISES``, evaluates the answer against the running kit (the
checks ask the real IdP and the real test mongod, never a stored answer where a live one exists),
records the result with ``wif_notebook.lessons.record_check`` and returns a ``CheckResult`` that
shows itself as a green (right) or amber (not yet, with a hint) box.

Conventions the lessons follow:

- An answer cell starts as ``answer = ...``: the ``Ellipsis`` means "not answered yet". The check
  then says so and shows the hint, and records nothing (running a whole lesson is not an attempt).
- A wrong answer never raises: "Run all" must get through a lesson, and the learner reads the hint.
- A hidden solution cell calls ``check(..., solution=True)``: it shows that the reference solution
  passes, and records nothing, so peeking at the solution does not count as solving the exercise.

``expected_error()`` is for cells where an error is the point (an invalid ``oidcIdentityProviders``
entry, a refused login): it catches the error and shows it, so the lesson keeps running.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, ServiceError, WifError
from .state import StateDir

NOT_ANSWERED: Any = Ellipsis

_TONE = {True: "ok", False: "warn", None: "info"}
_SYMBOL = {True: "✔", False: "✘", None: "…"}


@dataclass(frozen=True)
class Verdict:
    """What an exercise's evaluation found: right or not, and why in one or two sentences."""

    passed: bool
    message: str
    hint: str | None = None  # overrides the exercise's general hint for this particular mistake


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it lives, how an answer is judged, and what to say."""

    lesson: str
    id: str
    title: str
    hint: str
    evaluate: Callable[[Any, StateDir], Verdict] = field(repr=False)
    success: str = "Well done."


@dataclass(frozen=True)
class CheckResult:
    """The outcome a check cell shows. ``passed`` is None when the exercise was not answered yet."""

    lesson: str
    exercise: str
    title: str
    passed: bool | None
    message: str
    hint: str | None
    recorded: bool
    solution: bool = False

    @property
    def heading(self) -> str:
        if self.solution:
            return "Reference solution: passes" if self.passed else "Reference solution: does NOT pass"
        if self.passed is None:
            return "Not answered yet"
        return "Correct!" if self.passed else "Not quite yet"

    def __str__(self) -> str:
        lines = [f"{_SYMBOL[self.passed]} {self.heading} — {self.title}", f"  {self.message}"]
        if self.hint and not self.passed:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from . import display

        body = f"<div>{html.escape(self.message)}</div>"
        if self.hint and not self.passed:
            body += f'<div style="margin-top:4px"><b>Hint:</b> {html.escape(self.hint)}</div>'
        return display.box(
            f"{_SYMBOL[self.passed]} {self.heading}",
            body,
            tone=_TONE[self.passed],
            subtitle=f"exercise: {self.title}",
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}


# -- helpers the evaluations share -------------------------------------------------------------------
def _norm(text: Any) -> str:
    return " ".join(str(text).strip().strip("'\"").split()).lower()


def _provider(state: StateDir, prefix: str) -> Any:
    """The running configuration's provider entry with ``authNamePrefix`` ``prefix``."""
    from .providers import configured_providers, require_provider

    return require_provider(configured_providers(state), prefix)


def _choice(expected: str, accepted: tuple[str, ...], wrong: Mapping[str, str]) -> Callable[..., Verdict]:
    """An evaluation for a multiple-choice answer (a letter or the option's words)."""

    def evaluate(answer: Any, state: StateDir) -> Verdict:
        given = _norm(answer)
        if given in accepted:
            return Verdict(True, f"Yes: {expected}.")
        for key, why in wrong.items():
            if given == key:
                return Verdict(False, why)
        return Verdict(
            False, f"{answer!r} is not one of the options.", hint="answer with a letter: 'a', 'b' or 'c'"
        )

    return evaluate


# -- the exercises of the course ---------------------------------------------------------------------
def _kit_issuer(answer: Any, state: StateDir) -> Verdict:
    from .stack import status

    issuer = status(state).get("issuer")
    if not issuer:
        return Verdict(
            False, "The kit's IdP is not running, so there is no issuer to compare with.", "run %wif_up"
        )
    given = str(answer).strip()
    if given == issuer:
        return Verdict(True, f"The kit issuer is {issuer}: every token from it carries exactly this 'iss'.")
    if given.rstrip("/") == issuer.rstrip("/"):
        return Verdict(
            False,
            "Almost: the issuer must match character for character, "
            "including the trailing slash (or its absence).",
        )
    if given.startswith(("http://127.0.0.1", "https://127.0.0.1")):
        return Verdict(
            False,
            "The IdP listens on 127.0.0.1, but its issuer name says 'localhost': the name its certificate "
            "carries, and the only host for which mongod accepts plain http.",
        )
    if given.replace("http://", "https://", 1) == issuer:
        return Verdict(
            False,
            "That is the plain-http form of the issuer (accepted only with enableTestCommands); the kit's "
            "issuer is https, as in production.",
        )
    return Verdict(False, f"{given!r} is not the kit issuer.")


def _user_name(answer: Any, state: StateDir) -> Verdict:
    given = str(answer).strip()
    if given == "kit/billing-api":
        return Verdict(
            True, "The user is '<authNamePrefix>/<principal>': kit/billing-api, in the $external database."
        )
    if given.endswith(("@$external", "@admin")):
        return Verdict(False, "Leave out the database: the name alone, as connectionStatus lists it.")
    if given == "billing-api":
        return Verdict(
            False, "That is the principal (the token's sub); mongod puts the authNamePrefix in front."
        )
    return Verdict(False, f"{given!r} is not what mongod would call this workload.")


def _gcp_token(answer: Any, state: StateDir) -> Verdict:
    from .tokens import IssuedToken

    if not isinstance(answer, IssuedToken):
        return Verdict(
            False,
            f"gcp_token holds a {type(answer).__name__}, not an IssuedToken.",
            hint="use %wif_token ... -o gcp_token, or wif_notebook.tokens.gcp_metadata(...)",
        )
    expected = _provider(state, "gcp").audience
    if answer.method != "gcp":
        return Verdict(
            False,
            f"This token came from {answer.method}, not from the GCP metadata server.",
            hint="ask the metadata server: --via gcp (or tokens.gcp_metadata)",
        )
    if answer.audience != expected:
        from .idp.issuers import ISSUERS

        if answer.audience == ISSUERS["gcp"].default_audience:
            return Verdict(
                False,
                f"The token's aud is {answer.audience!r}: the kit's default, which %wif_token asks for when "
                "you give no --audience. This server's gcp provider expects another one.",
                hint="%wif_mongod lists the providers: use the gcp entry's audience with --audience",
            )
        return Verdict(
            False,
            f"The token's aud is {answer.audience!r}, not what the gcp provider in mongod.conf expects.",
            hint="%wif_mongod lists the providers: use the gcp entry's audience with --audience "
            "(pymongo sends it as TOKEN_RESOURCE)",
        )
    if answer.expires_in is not None and answer.expires_in <= 0:
        return Verdict(False, "The token is right but has expired.", hint="get a fresh one")
    return Verdict(
        True, f"A Google ID token for {answer.principal}, audience {expected}: the gcp provider accepts it."
    )


def _roles_from_groups(answer: Any, state: StateDir) -> Verdict:
    from .idp.principals import find
    from .oidc import RuleFailure, role_names
    from .tokens import mint

    if isinstance(answer, str):
        answer = [answer]
    if not isinstance(answer, (list, tuple, set, frozenset)):
        return Verdict(False, f"Expected a list of role names, got {type(answer).__name__}.")
    provider = _provider(state, "kit")
    who = find(state, "billing-api")
    # The roles mongod grants are the rule book's reading of a real token's authorizationClaim.
    claims = mint(who.name, state=state).claims
    try:
        expected = set(role_names(provider, claims))
    except RuleFailure as failure:
        return Verdict(
            False,
            f"mongod refuses billing-api's token under the kit provider: {failure.message}.",
            hint=failure.hint,
        )
    if not provider.use_authorization_claim:
        return Verdict(
            False,
            "The kit provider has useAuthorizationClaim: false: the token grants no roles; they come from "
            "the $external user document.",
        )
    given = {str(a).strip().removesuffix("@admin") for a in answer}
    if given == expected:
        return Verdict(True, f"mongod grants the roles {sorted(expected)} (in the admin database).")
    claim = provider.authorization_claim
    if given == {str(v) for v in claims.get(claim) or []}:
        return Verdict(
            False, f"Those are the '{claim}' values; mongod prefixes each with the provider's authNamePrefix."
        )
    missing, extra = expected - given, given - expected
    parts = []
    if missing:
        parts.append(f"{len(missing)} role(s) missing")
    if extra:
        parts.append(f"{sorted(extra)} would not be granted")
    return Verdict(False, "; ".join(parts) + ".")


def _parsed_entry(answer: Any, name: str, *, enable_test_commands: bool, refused: str) -> Any:
    """The learner's ``name`` as the rule book parses one oidcIdentityProviders entry, or a Verdict
    with mongod's own refusal."""
    import json

    from .oidc import parse_oidc_identity_providers

    if not isinstance(answer, dict):
        return Verdict(
            False, f"{name} should be a dict (one oidcIdentityProviders entry), not {type(answer).__name__}."
        )
    try:
        (entry,) = parse_oidc_identity_providers(
            json.dumps([answer]), enable_test_commands=enable_test_commands
        )
    except ConfigError as exc:
        return Verdict(False, f"{refused}: {exc.what}", hint=exc.hint)
    return entry


def _fix_entry(answer: Any, state: StateDir) -> Verdict:
    entry = _parsed_entry(answer, "fixed", enable_test_commands=True, refused="mongod would still refuse it")
    if isinstance(entry, Verdict):
        return entry
    kit = _provider(state, "kit")
    if entry.issuer != kit.issuer:
        return Verdict(
            False,
            f"Valid, but issuer {entry.issuer!r} is not the kit issuer {kit.issuer!r}: "
            "no token of the lesson would match it.",
        )
    if entry.audience != kit.audience:
        return Verdict(
            False, f"Valid, but the kit's tokens carry aud {kit.audience!r}, not {entry.audience!r}."
        )
    return Verdict(True, "mongod would load this entry, and the kit's tokens match its issuer and audience.")


def _kit_uri(state: StateDir) -> str:
    from .stack import status

    uri = status(state).get("mongodb_uri")
    if not uri:
        raise ServiceError("the test mongod is not running", hint="run %wif_up")
    return str(uri)


def _login_as(
    state: StateDir, principal: str, app: str, *, audience: str | None = None, via: str | None = None
) -> Any:
    """A MongoClient that logs in as a catalog principal, its tokens from the kit IdP."""
    from pymongo import MongoClient

    from .connect import KitCallback

    return MongoClient(
        _kit_uri(state),
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": KitCallback(state, principal, audience=audience, via=via)},
        serverSelectionTimeoutMS=5_000,
        appName=f"wif-check-{app}",
    )


def _allowed(*attempts: tuple[str, Callable[[], object]]) -> list[str]:
    """What of ``attempts`` the server lets the client do: 13 (Unauthorized) is a refusal; any other
    error is not an answer to the question, so it stands."""
    from pymongo.errors import OperationFailure

    allowed = []
    for what, attempt in attempts:
        try:
            attempt()
        except OperationFailure as exc:
            if exc.code != 13:
                raise
        else:
            allowed.append(what)
    return allowed


def _remove_probes(state: StateDir, probe: dict[str, str], *namespaces: tuple[str, str]) -> None:
    """Delete, as the administrator, the probe documents a check wrote; the verdict stands either way."""
    from .authorization import admin_client

    with contextlib.suppress(Exception):
        admin = admin_client(state)
        try:
            for db, collection in namespaces:
                admin[db][collection].delete_many(probe)
        finally:
            admin.close()


def _least_privilege(answer: Any, state: StateDir) -> Verdict:
    """billing-api (groups billing-writers, reports-readers) may insert into shop.orders, nothing more."""
    from pymongo.errors import OperationFailure

    client = _login_as(state, "billing-api", "least-privilege")
    probe = {"_wif_check": "least-privilege"}
    try:
        try:
            client.shop.orders.insert_one(dict(probe))
        except OperationFailure as exc:
            if exc.code == 13:
                return Verdict(False, "billing-api cannot insert into shop.orders yet (13 Unauthorized).")
            raise
        too_much = _allowed(
            ("insert into shop.payments", lambda: client.shop.payments.insert_one(dict(probe))),
            ("delete from shop.orders", lambda: client.shop.orders.delete_many(probe)),
            ("write to another database", lambda: client.billing.ledger.insert_one(dict(probe))),
        )
        if too_much:
            return Verdict(
                False,
                "billing-api can insert into shop.orders, but it can also " + ", ".join(too_much) + ".",
                hint="grant only the privilege shop.orders:insert (no built-in role such as readWrite); "
                "check what kit/reports-readers grants too — billing-api is in both groups",
            )
        return Verdict(True, "billing-api can insert into shop.orders and nothing else it does not need.")
    finally:
        client.close()
        _remove_probes(state, probe, ("shop", "orders"), ("shop", "payments"), ("billing", "ledger"))


def _my_callback_client(answer: Any, state: StateDir) -> Verdict:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    if not isinstance(answer, MongoClient):
        return Verdict(False, f"my_client should be a pymongo MongoClient, not {type(answer).__name__}.")
    try:
        info = answer.admin.command("connectionStatus")["authInfo"]
    except PyMongoError as exc:
        from .driver_errors import explain_error

        err = explain_error(exc)
        return Verdict(False, f"The client cannot run a command: {err.what}", hint=err.hint)
    users = [u.get("user") for u in info.get("authenticatedUsers", [])]
    if users == ["kit/billing-api"]:
        return Verdict(True, "Your callback logged in as kit/billing-api: pymongo called it for the token.")
    if not users:
        return Verdict(
            False,
            "The client is not authenticated.",
            hint='pass authMechanism="MONGODB-OIDC" and authMechanismProperties={"OIDC_CALLBACK": ...}',
        )
    return Verdict(False, f"The client is logged in as {users}, not as kit/billing-api.")


def _number_answer(expected: int, why: str, near: Mapping[int, str]) -> Callable[..., Verdict]:
    def evaluate(answer: Any, state: StateDir) -> Verdict:
        try:
            given = int(str(answer).strip())
        except ValueError:
            return Verdict(False, f"{answer!r} is not a number.", hint="answer with the error code, e.g. 13")
        if given == expected:
            return Verdict(True, why)
        return Verdict(False, near.get(given, f"{given} is not it."))

    return evaluate


# -- 07: a callback that must not cache a token past its expiry ------------------------------------------
# How long the check waits at most for the callback's first token to expire (the lesson's are 2 s).
_EXPIRY_WAIT_LIMIT = 10.0


def _fresh_callback(answer: Any, state: StateDir) -> Verdict:
    """Log in with the learner's callback, wait until its token expires, and run a command again."""
    import time

    from pymongo import MongoClient, monitoring
    from pymongo.auth_oidc import OIDCCallback, OIDCCallbackContext, OIDCCallbackResult
    from pymongo.errors import OperationFailure

    from .tokens import decode

    if isinstance(answer, type):
        return Verdict(
            False, "fixed holds the class itself.", hint="create an instance: fixed = FreshCallback()"
        )
    if not isinstance(answer, OIDCCallback):
        return Verdict(False, f"fixed should be an OIDCCallback, not a {type(answer).__name__}.")
    learner = answer

    class Recording(OIDCCallback):
        """The learner's callback as pymongo sees it, with each token it handed out remembered."""

        def __init__(self) -> None:
            self.tokens: list[str] = []

        def fetch(self, context: OIDCCallbackContext) -> OIDCCallbackResult:
            result = learner.fetch(context)
            self.tokens.append(result.access_token)
            return result

    class Codes(monitoring.CommandListener):
        def __init__(self) -> None:
            self.codes: list[int] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            pass

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            self.codes.append(int(event.failure.get("code", 0) or 0))

    recording, codes = Recording(), Codes()
    client: MongoClient[Any] = MongoClient(
        _kit_uri(state),
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": recording},
        serverSelectionTimeoutMS=5_000,
        appName="wif-check-fresh-callback",
        event_listeners=[codes],
    )
    try:
        try:
            client.shop.orders.count_documents({})
        except OperationFailure as exc:
            if exc.code == 13:
                return Verdict(
                    False,
                    "The login worked, but lesson-app may not read shop.orders (13).",
                    hint="first: %wif_authorize --group lesson-readers --role read@shop",
                )
            return Verdict(False, f"The first login failed ({exc.code}): the first token was not accepted.")
        if not recording.tokens:
            return Verdict(False, "pymongo never called your callback.")
        expires = decode(recording.tokens[0]).claims.get("exp")
        wait = float(expires) - time.time() + 1.0 if isinstance(expires, (int, float)) else None
        if wait is None or wait > _EXPIRY_WAIT_LIMIT:
            return Verdict(
                False,
                "Your callback's first token lives too long for this check to watch it expire.",
                hint="keep the buggy callback's short tokens: tokens.mint('lesson-app', lifetime=LIFETIME)",
            )
        time.sleep(max(wait, 0.0))
        try:
            client.shop.orders.count_documents({})
        except OperationFailure as exc:
            if exc.code == 18:
                return Verdict(
                    False,
                    "The token expired, the server answered 391, pymongo asked your callback again — and got "
                    "the expired token back, so the new login failed with 18.",
                    hint="in fetch, get a new token when there is none yet or the cached one has expired "
                    "(IssuedToken.expires_in <= 0), or simply every time",
                )
            raise
        if 391 not in codes.codes:
            return Verdict(False, "The command after expiry never met 391; run the check again.")
        if len(set(recording.tokens)) < 2:
            return Verdict(False, "pymongo got the same token twice from your callback.")
        return Verdict(
            True,
            "The token expired, the server answered 391, pymongo called your callback, got a fresh token, "
            "logged in again on the same connection and retried the command.",
        )
    finally:
        client.close()


# -- 08: mysteries whose cause is not in the failing command ----------------------------------------------
def _mystery_issuer(answer: Any, state: StateDir) -> Verdict:
    """The rule the doctor names for the staged trailing slash, and the fix applied to mongod.conf."""
    from pymongo.errors import PyMongoError

    from .stack import status

    given = str(answer).strip()
    if given in ("issuer", "body.iss"):
        return Verdict(
            False,
            f"Close, but the doctor names another rule: {given} would need a provider chosen first.",
            hint="copy the id in brackets after FAILED in %wif_doctor's first line",
        )
    if given != "provider":
        return _other_rule(given)
    issuer = status(state)["idp"]["issuers"]["azure"]["issuer"]
    configured = _provider(state, "azure").issuer
    if configured != issuer:
        return Verdict(
            False,
            f"Right rule: no provider has the token's issuer. But the azure entry still says {configured!r}, "
            f"and the tokens say {issuer!r}.",
            hint="make the azure entry's issuer equal the tokens' iss: %wif_mongod set azure issuer=...",
        )
    client = _login_as(state, "inventory-vm", "mystery-issuer")
    try:
        client.admin.command("connectionStatus")  # the login is the point; roles are the next mystery
    except PyMongoError as exc:
        return Verdict(False, f"The issuer matches now, but inventory-vm still cannot log in: {exc}")
    finally:
        client.close()
    return Verdict(
        True,
        "No provider had the token's issuer: mongod compares issuers character for character, so "
        "the colleague's trailing slash made a different issuer. Fixed, the VM logs in again.",
    )


def _other_rule(given: str) -> Verdict:
    from .oidc import RULES

    if given not in [r.id for r in RULES]:
        return Verdict(
            False,
            f"{given!r} is not a rule id of the rule book.",
            hint="copy the id in brackets after FAILED",
        )
    return Verdict(False, f"The login did not fail at {given}.")


def _mystery_groups(answer: Any, state: StateDir) -> Verdict:
    """The code the read failed with (13: logged in, no privilege), and a role that now lets the VM read."""
    from pymongo.errors import OperationFailure

    from .idp.principals import find

    try:
        code = int(str(answer).strip())
    except ValueError:
        return Verdict(False, f"{answer!r} is not an error code.", hint="answer with the code, e.g. 18")
    if code == 18:
        return Verdict(
            False,
            "18 would mean the login failed. Look again: %wif_connect said who the VM is logged in as.",
            hint="which step failed: the login, or the read after it?",
        )
    if code != 13:
        return Verdict(False, f"The read did not fail with {code}.")
    groups = find(state, "inventory-vm").groups
    client = _login_as(state, "inventory-vm", "mystery-groups")
    try:
        client.inventory.items.find_one()
    except OperationFailure as exc:
        if exc.code != 13:
            raise
        return Verdict(
            False,
            "Right: 13, logged in but not allowed. inventory-vm still cannot read inventory.items.",
            hint=f"the role must be named after what the token's groups claim holds ({len(groups)} value(s): "
            "look at %wif_token inventory-vm), with the azure provider's authNamePrefix",
        )
    finally:
        client.close()
    return Verdict(
        True,
        "13: the login worked, the role did not match. Entra puts group object ids in the groups claim, so "
        "the role must be azure/<object id>, not azure/<display name>.",
    )


# -- 09: the three connection strings -------------------------------------------------------------------
ATLAS_HOST = "cluster0.abcde.mongodb.net"
_HOSTS = {"Azure VM": "azure", "Cloud Run": "gcp", "AKS pod": "k8s"}


def _parse_uri(text: str) -> dict[str, Any]:
    """The URI as a driver reads it. SRV is looked up in DNS at connect time only, so it is parsed as
    the mongodb:// form here (same options, no DNS on this machine)."""
    from pymongo.uri_parser import parse_uri

    plain = text.strip()
    if plain.startswith("mongodb+srv://"):
        plain = "mongodb://" + plain.removeprefix("mongodb+srv://")
    parsed: dict[str, Any] = parse_uri(plain)
    return parsed


def _connection_strings(answer: Any, state: StateDir) -> Verdict:
    from pymongo.errors import PyMongoError

    from .idp.principals import find

    if not isinstance(answer, Mapping):
        return Verdict(
            False, f"Expected a dict like {{'Azure VM': 'mongodb+srv://...'}}, got {type(answer).__name__}."
        )
    expected_resource = {"azure": _provider(state, "azure").audience, "gcp": _provider(state, "gcp").audience}
    vm_client_id = find(state, "inventory-vm").client_id
    problems: list[str] = []
    hints: list[str] = []
    for host, env in _HOSTS.items():
        text = answer.get(host)
        if not isinstance(text, str):
            problems.append(f"{host}: missing")
            continue
        try:
            parsed = _parse_uri(text)
        except (PyMongoError, ValueError) as exc:
            problems.append(f"{host}: the driver refuses this URI ({exc})")
            continue
        options = parsed["options"]
        props = dict(options.get("authMechanismProperties") or {})
        if [h for h, _ in parsed["nodelist"]] != [ATLAS_HOST]:
            problems.append(f"{host}: the host is not {ATLAS_HOST}")
        if options.get("authMechanism") != "MONGODB-OIDC":
            problems.append(f"{host}: authMechanism is not MONGODB-OIDC")
            continue
        if parsed.get("password"):
            problems.append(f"{host}: a password has no place in a MONGODB-OIDC URI")
        if props.get("ENVIRONMENT") != env:
            problems.append(f"{host}: ENVIRONMENT should not be {props.get('ENVIRONMENT')!r}")
            hints.append("which metadata service or token file does each host have?")
            continue
        if env in expected_resource and props.get("TOKEN_RESOURCE") != expected_resource[env]:
            problems.append(f"{host}: TOKEN_RESOURCE is not the audience of the server's {env} provider")
            hints.append("TOKEN_RESOURCE = the audience of the matching provider (%wif_mongod)")
        if env == "k8s" and "TOKEN_RESOURCE" in props:
            problems.append(
                f"{host}: ENVIRONMENT:k8s takes no TOKEN_RESOURCE (the token file's audience is fixed)"
            )
        if env == "azure" and parsed.get("username") != vm_client_id:
            problems.append(f"{host}: the user name must be the client id of the VM's user-assigned identity")
            hints.append("inventory-vm's client id: %wif_idp principals")
        if env != "azure" and parsed.get("username"):
            problems.append(f"{host}: ENVIRONMENT:{env} takes no user name")
    if problems:
        return Verdict(False, "; ".join(problems) + ".", hint=hints[0] if hints else None)
    return Verdict(
        True,
        "Three URIs a driver accepts: azure with the identity's client id and the azure audience, gcp with "
        "the gcp audience, k8s with neither.",
    )


# -- 10: the capstone ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _as_the_aks_pod(state: StateDir) -> Iterator[None]:
    """This process's environment as the AKS pod's: AZURE_FEDERATED_TOKEN_FILE names its projected token."""
    from .environ import temporarily
    from .idp.tokenfiles import token_file_path

    pod = {
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file_path(state, "aks")),
        "AWS_WEB_IDENTITY_TOKEN_FILE": None,  # pymongo lets it win over the Azure variable
    }
    with temporarily(pod):
        yield


def _capstone_provider(state: StateDir) -> Any:
    """1/3: the entry that trusts the cluster for the pod's token, or a Verdict saying what is missing."""
    from .oidc import RuleFailure, select_provider_for_token
    from .providers import configured_providers

    try:
        # The entry a one-step login picks for the pod's token (by its iss and single aud).
        provider = select_provider_for_token(configured_providers(state), _token_file(state, "aks").token)
    except RuleFailure as failure:
        if failure.rule == "audience":
            return Verdict(
                False,
                "1/3: the entry for the cluster expects another aud than the pod token's "
                f"({failure.message}).",
                hint="use the aud of the token in AZURE_FEDERATED_TOKEN_FILE as the entry's audience",
            )
        return Verdict(
            False,
            "1/3: the server does not trust the cluster yet: no oidcIdentityProviders entry has the pod "
            "token's issuer.",
            hint="decode the pod's token (its iss and aud), then %wif_mongod add issuer=... audience=... "
            "authNamePrefix=... useAuthorizationClaim=false supportsHumanFlows=false",
        )
    if provider.use_authorization_claim:
        return Verdict(
            False,
            "1/3: the entry takes roles from a claim, but Kubernetes service-account tokens carry no groups.",
            hint="useAuthorizationClaim=false: the roles come from a $external user",
        )
    return provider


def _capstone_privileges(state: StateDir, provider: Any, user: str) -> Verdict | None:
    """2/3: logged in as the pod's service account, it may read shop.orders and do nothing else."""
    from pymongo.errors import OperationFailure

    client = _login_as(state, "orders-worker", "capstone", audience=provider.audience, via="mint")
    try:
        try:
            client.shop.orders.find_one()
        except OperationFailure as exc:
            if exc.code == 18:
                return Verdict(
                    False,
                    f"2/3: the pod's login fails (18): is there a $external user {user!r}?",
                    hint="createUser in the $external database, with your role (the mongosh syntax is above)",
                )
            if exc.code == 13:
                return Verdict(False, f"2/3: {user} logs in but may not read shop.orders (13).")
            raise
        too_much = _allowed(
            ("insert into shop.orders", lambda: client.shop.orders.insert_one({"_wif_check": "capstone"})),
            ("read shop.payments", lambda: client.shop.payments.find_one()),
            ("read another database", lambda: client.inventory.items.find_one()),
        )
    finally:
        client.close()
    if too_much:
        _remove_probes(state, {"_wif_check": "capstone"}, ("shop", "orders"))
        return Verdict(
            False,
            "2/3: the workload can read shop.orders, but it can also " + ", ".join(too_much) + ".",
            hint="one privilege: {resource: {db: 'shop', collection: 'orders'}, actions: ['find']}",
        )
    return None


def _capstone(answer: Any, state: StateDir) -> Verdict:
    """An AKS workload in namespace shop must read orders: provider entry, least privilege, connection."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    from .oidc import user_name
    from .scenarios import CAPSTONE_SUBJECT

    provider = _capstone_provider(state)
    if isinstance(provider, Verdict):
        return provider
    user = user_name(provider, CAPSTONE_SUBJECT)
    refused = _capstone_privileges(state, provider, user)
    if refused is not None:
        return refused
    # 3/3: the learner's connection string, used as the pod would use it.
    if not isinstance(answer, str):
        return Verdict(False, f"3/3: app_uri should be a connection string, not {type(answer).__name__}.")
    try:
        parsed = _parse_uri(answer)
    except (PyMongoError, ValueError) as exc:
        return Verdict(False, f"3/3: the driver refuses this URI ({exc}).")
    props = dict(parsed["options"].get("authMechanismProperties") or {})
    if parsed["options"].get("authMechanism") != "MONGODB-OIDC" or props.get("ENVIRONMENT") != "k8s":
        return Verdict(
            False,
            "3/3: the connection string does not use the pod's own token.",
            hint="authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
        )
    kit = _parse_uri(_kit_uri(state))["nodelist"]
    if parsed["nodelist"] != kit:
        return Verdict(False, f"3/3: the URI names {parsed['nodelist']}, but the kit's server is {kit}.")
    try:
        with _as_the_aks_pod(state):
            app: MongoClient[Any] = MongoClient(
                answer, serverSelectionTimeoutMS=5_000, appName="wif-check-capstone"
            )
            try:
                auth = app.admin.command("connectionStatus")["authInfo"]
                app.shop.orders.find_one()
            finally:
                app.close()
    except PyMongoError as exc:
        return Verdict(False, f"3/3: with this URI the pod cannot read shop.orders: {exc}")
    users = [u.get("user") for u in auth.get("authenticatedUsers", [])]
    if users != [user]:
        return Verdict(False, f"3/3: the URI logs the pod in as {users}, not as {user}.")
    return Verdict(
        True,
        f"The server trusts the cluster ({provider.auth_name_prefix}), {user} may read shop.orders and "
        "nothing else, and the pod logs in with its own token.",
    )


# -- 11-14: the real clouds ------------------------------------------------------------------------------
def _production_entry(answer: Any) -> Any:
    """One oidcIdentityProviders entry as a production mongod (no test commands) reads it, or a Verdict."""
    entry = _parsed_entry(
        answer, "entry", enable_test_commands=False, refused="A production mongod would refuse it"
    )
    if isinstance(entry, Verdict):
        return entry
    if entry.supports_human_flows:
        return Verdict(False, "The entry is for people, not workloads.", hint="supportsHumanFlows: false")
    return entry


def _entra_v1_entry(answer: Any, state: StateDir) -> Verdict:
    from .idp.issuers import AZURE_RESOURCE_APP_ID, AZURE_TENANT_ID

    entry = _production_entry(answer)
    if isinstance(entry, Verdict):
        return entry
    v1 = f"https://sts.windows.net/{AZURE_TENANT_ID}/"
    if entry.issuer == v1.rstrip("/"):
        return Verdict(
            False,
            "The issuer lost its trailing slash: v1.0 tokens say iss "
            "https://sts.windows.net/<tenant-id>/ and mongod compares character for character.",
        )
    if entry.issuer == f"https://login.microsoftonline.com/{AZURE_TENANT_ID}/v2.0":
        return Verdict(
            False,
            "That is the v2.0 issuer; this app registration keeps token version 1, whose iss differs.",
            hint="v1.0: https://sts.windows.net/<tenant-id>/ (with the trailing slash)",
        )
    if entry.issuer != v1:
        return Verdict(False, f"{entry.issuer!r} is not the issuer of this tenant's v1.0 tokens.")
    if entry.audience == AZURE_RESOURCE_APP_ID:
        return Verdict(
            False,
            "v1.0 tokens carry the resource the workload asked for as aud — here the Application ID URI, "
            "not the bare client id (that is v2.0's aud).",
            hint="the workloads ask for resource=api://<app id>",
        )
    if entry.audience != f"api://{AZURE_RESOURCE_APP_ID}":
        return Verdict(False, f"{entry.audience!r} is not the resource the workloads ask for.")
    if not entry.use_authorization_claim or entry.authorization_claim not in ("groups", "roles"):
        return Verdict(
            False,
            "Roles should come from the token: the groups claim (group object ids) or the roles claim "
            "(app roles).",
            hint='"authorizationClaim": "groups" (or "roles" with app roles)',
        )
    return Verdict(
        True,
        "A v1.0 entry: the issuer with its trailing slash, aud api://<app id>, roles from "
        f"{entry.authorization_claim}.",
    )


def _google_user(answer: Any, state: StateDir) -> Verdict:
    from .authorization import token_principal
    from .oidc import user_name

    provider = _provider(state, "gcp")
    value, claims = token_principal(state, "run-checkout", provider)
    expected = user_name(provider, value)
    claim = provider.principal_name
    given = str(answer).strip()
    if given == expected:
        return Verdict(
            True, f"{expected} in $external: the gcp provider names users after the token's {claim}."
        )
    email = claims.get("email")
    if email and given.endswith(str(email)):
        return Verdict(
            False,
            f"The email is in the token, but the gcp provider's principalName is {claim!r}.",
            hint="a Google ID token's sub is the service account's unique id (a long number)",
        )
    if given == value:
        return Verdict(False, "Almost: mongod puts the provider's authNamePrefix in front.")
    return Verdict(False, f"{given!r} is not the user mongod looks up for run-checkout.")


EKS_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


def _eks_entry(answer: Any, state: StateDir) -> Verdict:
    from .oidc import RuleFailure, check_audience, check_principal

    entry = _production_entry(answer)
    if isinstance(entry, Verdict):
        return entry
    if entry.issuer != EKS_ISSUER:
        return Verdict(False, "The issuer is not the EKS cluster's OIDC issuer given above.")
    claims = _token_file(state, "eks").claims
    try:
        audience = check_audience(claims, entry)
    except RuleFailure as failure:
        return Verdict(
            False,
            f"mongod would refuse the pods' tokens: {failure.message}",
            hint="decode the EKS token file (AWS_WEB_IDENTITY_TOKEN_FILE) and copy its aud",
        )
    if entry.use_authorization_claim:
        return Verdict(
            False,
            "Service-account tokens carry no groups claim.",
            hint="useAuthorizationClaim: false, and a $external user per service account",
        )
    try:
        check_principal(claims, entry)
    except RuleFailure as failure:
        return Verdict(False, f"mongod would refuse the pods' tokens: {failure.message}", hint=failure.hint)
    return Verdict(True, f"The EKS issuer, aud {audience}, and $external users: the pods' own tokens log in.")


def _token_file(state: StateDir, kind: str) -> Any:
    """The kit's projected token file ``kind`` (aks, eks), read as a pod reads it (an IssuedToken); a
    missing file is a TokenError saying so and how to get it written (the IdP writes them)."""
    from .idp.tokenfiles import token_file_path
    from .tokens import token_file

    return token_file(token_file_path(state, kind))


# Ids Atlas gives the workload identity providers of the lesson (24 hex digits, as Atlas prints them).
ATLAS_IDP_IDS = {"azure": "66b0c1e2d3f4a5b6c7d8e9f0", "gcp": "66b0c1e2d3f4a5b6c7d8e9f1"}


def _atlas_option(words: list[str], *names: str) -> list[str]:
    found = []
    for i, word in enumerate(words):
        for name in names:
            if word == name and i + 1 < len(words):
                found.append(words[i + 1])
            elif word.startswith(name + "="):
                found.append(word.split("=", 1)[1])
    return found


def _atlas_users(answer: Any, state: StateDir) -> Verdict:
    import shlex

    from .idp.issuers import AZURE_GROUPS
    from .idp.principals import find

    if not isinstance(answer, Mapping):
        return Verdict(False, f"Expected a dict of two commands, got {type(answer).__name__}.")
    expected = {
        "inventory-readers": (
            "IDP_GROUP",
            f"{ATLAS_IDP_IDS['azure']}/{AZURE_GROUPS['inventory-readers']}",
            "read@inventory",
        ),
        "gce-worker": ("USER", f"{ATLAS_IDP_IDS['gcp']}/{find(state, 'gce-worker').subject}", "read@shop"),
    }
    problems: list[str] = []
    hint = None
    for who, (oidc_type, username, role) in expected.items():
        text = answer.get(who)
        if not isinstance(text, str):
            problems.append(f"{who}: missing")
            continue
        words = shlex.split(text)
        if words[:3] != ["atlas", "dbusers", "create"]:
            problems.append(f"{who}: not an 'atlas dbusers create' command")
            continue
        types = _atlas_option(words, "--oidcType")
        names = _atlas_option(words, "--username", "-u")
        roles = _atlas_option(words, "--role")
        if types != [oidc_type]:
            given = types[0] if types else "missing"
            problems.append(f"{who}: --oidcType should be {oidc_type}, not {given}")
            hint = "a group of the IdP is IDP_GROUP, one workload identity is USER"
        if names != [username]:
            problems.append(f"{who}: the user name is not what Atlas will look for")
            hint = hint or "<Atlas IdP id>/<groups claim value or sub>: Entra groups are object ids"
        if role not in roles:
            problems.append(f"{who}: --role {role} is missing")
        if "--password" in words:
            problems.append(f"{who}: a Federated Auth user has no password")
    if problems:
        return Verdict(False, "; ".join(problems) + ".", hint=hint)
    return Verdict(
        True, "An IDP_GROUP named after the group's object id, a USER named after the service account's sub."
    )


_LESSON = {
    "00": "00-preflight",
    "01": "01-what-is-wif",
    "02": "02-obtaining-a-token",
    "03": "03-inspecting-claims",
    "04": "04-configuring-mongod",
    "05": "05-authorizing",
    "06": "06-connecting",
    "07": "07-token-lifecycle",
    "08": "08-troubleshooting",
    "09": "09-workshop-to-production",
    "10": "10-capstone",
    "11": "11-azure",
    "12": "12-google-cloud",
    "13": "13-kubernetes",
    "14": "14-atlas-and-enterprise",
}

EXERCISES: dict[tuple[str, str], Exercise] = {
    (e.lesson, e.id): e
    for e in [
        Exercise(
            _LESSON["00"],
            "kit-issuer",
            "the kit issuer",
            "copy the URL in the row 'kit' of the issuers that %wif_up (or %wif_status) shows",
            _kit_issuer,
        ),
        Exercise(
            _LESSON["01"],
            "who-vouches",
            "who vouches for the workload",
            "mongod never sees a password; it checks a signature with keys it fetched from someone",
            _choice(
                "the identity provider signs the token, and mongod checks the signature with the IdP's keys",
                ("b", "the identity provider", "identity provider", "idp"),
                {
                    "a": "The workload presents the token, but anyone could claim to be anyone: "
                    "someone else vouches.",
                    "c": "The driver only carries the token; it cannot make one mongod trusts.",
                },
            ),
        ),
        Exercise(
            _LESSON["01"],
            "user-name",
            "the MongoDB user of a token",
            "user = authNamePrefix + '/' + the principal claim (sub)",
            _user_name,
        ),
        Exercise(
            _LESSON["02"],
            "gcp-token",
            "a token from the GCP metadata server",
            "%wif_token gce-worker --via gcp --audience AUDIENCE -o gcp_token "
            "(AUDIENCE: the gcp provider's audience)",
            _gcp_token,
        ),
        Exercise(
            _LESSON["03"],
            "roles-from-groups",
            "roles from the groups claim",
            "look at billing-api's groups claim (%wif_token billing-api) "
            "and at the kit provider's authNamePrefix",
            _roles_from_groups,
        ),
        Exercise(
            _LESSON["04"],
            "fix-the-entry",
            "repair a broken oidcIdentityProviders entry",
            "run the broken entry through the validator and fix one message at a time",
            _fix_entry,
        ),
        Exercise(
            _LESSON["05"],
            "least-privilege",
            "least privilege for billing-api",
            "give billing-api's group a role with just one privilege: "
            "%wif_authorize --group GROUP --privilege DB.COLLECTION:ACTION",
            _least_privilege,
        ),
        Exercise(
            _LESSON["06"],
            "my-callback",
            "your own OIDC callback",
            "a class with fetch(self, context) returning OIDCCallbackResult(access_token=...), passed as "
            "authMechanismProperties={'OIDC_CALLBACK': ...}",
            _my_callback_client,
        ),
        Exercise(
            _LESSON["07"],
            "reauth-code",
            "the code of an expired session",
            "look at the error arrow in the flow above",
            _number_answer(
                391,
                "391 ReauthenticationRequired: the driver fetches a new token and runs saslStart again.",
                {
                    18: "18 is AuthenticationFailed: a login refused. An expired session gets another code.",
                    13: "13 is Unauthorized: logged in, but no privilege. Not this one.",
                },
            ),
        ),
        Exercise(
            _LESSON["07"],
            "fresh-callback",
            "a callback that hands out fresh tokens",
            "fetch must return a token that is still valid: fetch a new one when the cached one has expired",
            _fresh_callback,
        ),
        Exercise(
            _LESSON["08"],
            "mystery-issuer",
            "the Azure VM that cannot log in",
            "run %wif_doctor right after the failed login; copy the rule id shown after FAILED, "
            "then fix what it points at",
            _mystery_issuer,
        ),
        Exercise(
            _LESSON["08"],
            "mystery-groups",
            "the VM in the right group that cannot read",
            "did the login fail, or the read after it? Then compare the role's name with the token's groups",
            _mystery_groups,
        ),
        Exercise(
            _LESSON["09"],
            "connection-strings",
            "the three connection strings",
            "authMechanism=MONGODB-OIDC and authMechanismProperties=ENVIRONMENT:...[,TOKEN_RESOURCE:...]; "
            "the audiences are in %wif_mongod, the VM identity's client id in %wif_idp principals",
            _connection_strings,
        ),
        Exercise(
            _LESSON["10"],
            "capstone",
            "an AKS workload in namespace shop reads orders",
            "three steps: a provider entry for the cluster, a $external user with a one-privilege role, "
            "and a connection string with ENVIRONMENT:k8s",
            _capstone,
        ),
        Exercise(
            _LESSON["11"],
            "entra-v1-entry",
            "the production entry for Entra v1.0 tokens",
            "v1.0: iss https://sts.windows.net/<tenant-id>/ (trailing slash), aud = the resource requested",
            _entra_v1_entry,
        ),
        Exercise(
            _LESSON["12"],
            "google-user",
            "the $external user of a Cloud Run service",
            "<authNamePrefix>/<the claim named by principalName>: %wif_mongod and %wif_token run-checkout",
            _google_user,
        ),
        Exercise(
            _LESSON["13"],
            "eks-entry",
            "the entry for an EKS cluster",
            "the EKS issuer above, the aud of the EKS token file, roles from $external users",
            _eks_entry,
        ),
        Exercise(
            _LESSON["14"],
            "atlas-users",
            "two Federated Auth users on Atlas",
            "atlas dbusers create --username <IdP id>/<name> --oidcType IDP_GROUP|USER --role ROLE@DB",
            _atlas_users,
        ),
    ]
}


def _unanswered(answer: Any) -> bool:
    """``...`` itself, or a dict/list the learner has not filled in yet (``{"Cloud Run": ...}``)."""
    if answer is NOT_ANSWERED:
        return True
    if isinstance(answer, Mapping):
        return any(v is NOT_ANSWERED for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return any(v is NOT_ANSWERED for v in answer)
    return False


def exercises(lesson: str) -> list[Exercise]:
    """The exercises of one lesson, in course order."""
    return [e for (lid, _), e in EXERCISES.items() if lid == lesson]


def check(
    lesson: str,
    exercise: str,
    answer: Any = NOT_ANSWERED,
    *,
    solution: bool = False,
    state: StateDir | None = None,
    record: bool = True,
) -> CheckResult:
    """Evaluate ``answer`` for one exercise, record it (unless not answered or a solution), and say why.

    Never raises for a wrong answer or a kit problem: both come back as a result with a hint.
    """
    ex = EXERCISES.get((lesson, exercise))
    if ex is None:
        known = ", ".join(e.id for e in exercises(lesson)) or "none"
        raise ConfigError(
            f"no exercise {exercise!r} in lesson {lesson!r}",
            hint=f"this lesson's exercises: {known}",
        )
    state = state if state is not None else StateDir()
    if _unanswered(answer):
        return CheckResult(
            lesson,
            exercise,
            ex.title,
            None,
            "Replace the ... in the cell above with your answer, then run this cell again.",
            ex.hint,
            recorded=False,
            solution=solution,
        )
    try:
        verdict = ex.evaluate(answer, state)
    except WifError as exc:
        verdict = Verdict(False, f"The check could not run: {exc.what}", hint=exc.hint)
    except Exception as exc:  # a learner's odd answer must not crash the check cell
        verdict = Verdict(False, f"The check could not use this answer ({type(exc).__name__}: {exc}).")
    message = verdict.message + (f" {ex.success}" if verdict.passed and not solution else "")
    recorded = False
    if record and not solution:
        from .lessons import record_check

        record_check(lesson, exercise, verdict.passed, state=state)
        recorded = True
    return CheckResult(
        lesson,
        exercise,
        ex.title,
        verdict.passed,
        message,
        None if verdict.passed else (verdict.hint or ex.hint),
        recorded,
        solution,
    )


# -- cells where an error is the point -----------------------------------------------------------
@dataclass
class ExpectedError:
    """What ``expected_error`` caught (``error`` is None when nothing went wrong)."""

    error: BaseException | None = None
    note: str = ""

    @property
    def what(self) -> str:
        if self.error is None:
            return ""
        if isinstance(self.error, WifError):
            return self.error.what
        details = getattr(self.error, "details", None)
        if isinstance(details, dict) and details.get("errmsg"):  # pymongo: the server's own words
            return f"{details['errmsg']} (code {getattr(self.error, 'code', '?')})"
        return str(self.error).split("\n  next step:")[0].strip()

    @property
    def hint(self) -> str | None:
        if isinstance(self.error, WifError):
            return self.error.hint
        text = str(self.error) if self.error is not None else ""
        return text.split("next step:", 1)[1].strip() if "next step:" in text else None

    def __str__(self) -> str:
        if self.error is None:
            return "⚠ This cell was expected to fail, but nothing went wrong."
        lines = [f"✘ As expected, this fails: {self.what}"]
        if self.hint:
            lines.append(f"  next step: {self.hint}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from . import display

        if self.error is None:
            body, tone, title = "Nothing went wrong here; the lesson expected an error.", "warn", "No error"
        else:
            body = f"<div>{display.code(self.what)}</div>"
            if self.hint:
                body += f"<div><b>next step:</b> {html.escape(self.hint)}</div>"
            if self.note:
                body += f"<div>{html.escape(self.note)}</div>"
            tone, title = "fail", "As expected, this fails"
        return {"text/plain": str(self), "text/html": display.box(title, body, tone=tone)}


@contextlib.contextmanager
def expected_error(note: str = "", *, show: bool = True) -> Iterator[ExpectedError]:
    """Run a block whose failure is the lesson's point; show the error instead of stopping the notebook.

    Catches the kit's errors, IPython ``UsageError`` (what the magics raise) and pymongo's errors.
    """
    from IPython.core.error import UsageError

    caught = ExpectedError(note=note)
    try:
        yield caught
    except (WifError, UsageError) as exc:
        caught.error = exc
    except Exception as exc:
        if not type(exc).__module__.startswith(("pymongo", "bson")):
            raise
        caught.error = exc
    if show:
        from IPython.display import display

        display(caught)
