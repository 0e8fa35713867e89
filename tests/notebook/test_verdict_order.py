"""One verdict: for a token with two faults, every explainer names the rule the server logged.

For every pair of fault presets (``idp/faults.py``) whose defects can live in one token (two signing
defects cannot: a token has one signature), the kit's own minting code signs a token with both, real
pymongo logs in with it against the kit's test mongod, and the reason the server wrote to its log
(id 20249) gives the rule (``oidc.rule_for_message``). `wif claims`, the token inspector, the wizard,
``%wif_claims`` (and the token display with its MIME payload) and ``%wif_doctor`` must all name it.
"""

from __future__ import annotations

import html
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from wif_notebook import cli, stack, tokens
from wif_notebook.idp.faults import FAULTS, Fault, FaultContext
from wif_notebook.idp.keys import KeyStore
from wif_notebook.idp.minting import Minter
from wif_notebook.idp.principals import find
from wif_notebook.idp.service import idp_record
from wif_notebook.oidc import rule_for_message
from wif_notebook.state import StateDir
from wif_notebook.widgets import TokenInspector, Wizard

from .conftest import FixedToken, run_magic

PRINCIPAL = "billing-api"
TOKEN_MIME = "application/vnd.wif.token+json"


def _combined(first: Fault, second: Fault) -> Fault:
    """One preset with both defects: both claim and header edits, the one signing defect (if any)."""

    def edit_claims(claims: dict[str, Any], ctx: FaultContext) -> None:
        for fault in (first, second):
            if fault.edit_claims is not None:
                fault.edit_claims(claims, ctx)

    def edit_header(header: dict[str, Any]) -> None:
        for fault in (first, second):
            if fault.edit_header is not None:
                fault.edit_header(header)

    signing = second.signing if first.signing == "active" else first.signing
    return replace(
        first,
        name=f"{first.name}+{second.name}",
        signing=signing,
        edit_claims=edit_claims,
        edit_header=edit_header,
    )


PAIRS = [
    (a, b)
    for a, b in itertools.combinations(FAULTS.values(), 2)
    if a.signing == "active" or b.signing == "active"
]


@pytest.fixture(scope="module")
def minter(kit: StateDir) -> Minter:
    """The kit's minting code on the IdP's own keys (the IdP creates the weak and unpublished keys
    on first use: ask it once for each, so they exist and the weak one is published)."""
    for fault in ("rsa-1024", "unknown-kid", "bad-signature"):
        tokens.mint(PRINCIPAL, fault=fault, state=kit)
    record = idp_record(kit)
    assert record is not None
    return Minter(KeyStore(kit), str(record.extra["base_url"]))


@pytest.fixture(scope="module")
def wizard(kit: StateDir) -> Iterator[Wizard]:
    opened = Wizard(state=kit)
    yield opened
    opened.close()


def _server_logged_rule(kit: StateDir, token: str) -> tuple[str, str]:
    """Log in with real pymongo; the reason the server logged (20249) and its rule."""
    status = stack.status(kit)
    log = Path(status["mongod"]["log"])
    seen = len(log.read_text().splitlines())
    client: MongoClient[Any] = MongoClient(
        status["mongodb_uri"],
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": FixedToken(token)},
        serverSelectionTimeoutMS=5000,
    )
    try:
        with pytest.raises(OperationFailure) as info:
            client.test.command("ping")
        assert info.value.code == 18
    finally:
        client.close()
    # The server may still be writing: read whole lines only, until the 20249 line is there.
    reasons: list[str] = []
    deadline = time.monotonic() + 10
    while not reasons and time.monotonic() < deadline:
        text = log.read_text()
        lines = text.splitlines()[seen:] if text.endswith("\n") else text.splitlines()[seen:-1]
        new = [json.loads(line) for line in lines if line.strip()]
        reasons = [e["attr"]["error"] for e in new if e["id"] == 20249]
        if not reasons:
            time.sleep(0.05)
    assert reasons, "the server logged no failed authentication"
    rule = rule_for_message(reasons[0])
    assert rule is not None, f"the rule book does not recognise the server's reason {reasons[0]!r}"
    return rule, reasons[0]


def _claims_cli(kit: StateDir, token: str, capsys: pytest.CaptureFixture[str]) -> tuple[str | None, str]:
    """`wif claims --json` and `wif claims`: the rule of the JSON report and the words printed."""
    capsys.readouterr()
    assert cli.main(["claims", token, "--json", "--state-dir", str(kit.path)]) == 1
    out = capsys.readouterr()
    report = json.loads(out.out) if out.out else {"rule": None}
    assert cli.main(["claims", token, "--state-dir", str(kit.path)]) == 1
    words = capsys.readouterr()
    return report["rule"], words.out + words.err


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a.name}+{b.name}" for a, b in PAIRS])
def test_every_explainer_names_the_rule_the_server_logged(
    kit: StateDir,
    minter: Minter,
    magic_shell: Any,
    wizard: Wizard,
    capsys: pytest.CaptureFixture[str],
    first: Fault,
    second: Fault,
) -> None:
    token = minter.mint(find(kit, PRINCIPAL), fault=_combined(first, second)).token
    logged, reason = _server_logged_rule(kit, token)

    # wif claims (JSON and words); a token that is not a JWT is refused with the server's log text
    rule, words = _claims_cli(kit, token, capsys)
    if logged == "format":
        assert f'logs "{reason}"' in words
    else:
        assert rule == logged
        assert f"rule {logged!r}" in words
        assert [line.split()[1] for line in words.splitlines() if line.startswith("  FAIL")] == [logged]

    # the token inspector
    inspector = TokenInspector(token, state=kit)
    if logged == "format":
        assert f'logs "{reason}"' in (inspector.errors.what or "")
    else:
        assert f"would refuse this token: rule {logged}<" in inspector.summary.value
        assert (inspector.errors.what or "").startswith(f"rule {logged} ")

    # the wizard's claims step, on the same token
    wizard.progress.token = tokens.IssuedToken.build(
        token, method="mint", source="test", started=time.perf_counter(), principal=PRINCIPAL
    )
    wizard.progress.done.update(identity=True, token=True)
    assert not wizard.run("claims")
    said = wizard.steps["claims"].errors.what or ""
    assert f'logs "{reason}"' in said if logged == "format" else said.startswith(f"rule {logged} ")

    # %wif_claims: the token display, its words and its MIME payload (what the labextension draws)
    magic_shell.user_ns["tok"] = token
    [bundle] = run_magic(magic_shell, "wif_claims tok")
    assert f"REFUSED by rule {logged} " in bundle["text/plain"]
    verdict = bundle[TOKEN_MIME]["verdict"]
    assert verdict["rule"] == logged
    assert [r["rule"] for r in verdict["rules"] if r["passed"] is False] == [logged]
    assert reason in html.unescape(bundle["text/html"])

    # %wif_doctor
    [bundle] = run_magic(magic_shell, "wif_doctor tok")
    assert bundle["text/plain"].startswith(f"wif doctor: FAILED [{logged}]")


def test_every_compatible_pair_of_presets_is_tried() -> None:
    special = [f for f in FAULTS.values() if f.signing != "active"]
    n = len(FAULTS)
    assert len(PAIRS) == n * (n - 1) // 2 - len(special) * (len(special) - 1) // 2


def test_wrong_audience_summarizes_as_one_failing_rule(
    kit: StateDir, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tokens.mint(PRINCIPAL, fault="wrong-audience", state=kit).token
    capsys.readouterr()
    assert cli.main(["claims", token, "--state-dir", str(kit.path)]) == 1
    out = capsys.readouterr().out
    failing = [line for line in out.splitlines() if line.startswith("  FAIL")]
    assert len(failing) == 1 and failing[0].split()[1] == "audience", out
    provider = next(line for line in out.splitlines() if line.split()[1:2] == ["provider"])
    assert "consequence of rule audience" in provider
    body_aud = next(line for line in out.splitlines() if line.split()[1:2] == ["body.aud"])
    assert body_aud.split()[0] == "PASS"
    assert "rule 'audience'" in out.splitlines()[-1]
