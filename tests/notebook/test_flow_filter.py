"""%wif_flow shows the learner's own connection by default: not the administrator's SCRAM login
nor other clients' traffic; ``--all-clients`` shows everyone."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from wif_notebook import authorization, connect, stack, tokens
from wif_notebook.state import StateDir

from .conftest import FixedToken, run_magic

FLOW_MIME = "application/vnd.wif.flow+json"


def test_wif_flow_shows_only_the_last_connects_client_unless_asked(magic_shell: Any, kit: StateDir) -> None:
    run_magic(magic_shell, "%wif_connect")
    mine = connect.connections()[-1]
    # Other traffic in the same minutes: the administrator, and another workload's client.
    admin = authorization.admin_client(kit)
    admin.admin.command("ping")
    admin.close()
    token = tokens.mint("billing-api", state=kit).token
    other: MongoClient[Any] = MongoClient(
        stack.status(kit)["mongodb_uri"],
        appName="someone-else",
        authMechanism="MONGODB-OIDC",
        authMechanismProperties={"OIDC_CALLBACK": FixedToken(token)},
    )
    try:
        other.admin.command("ping")
    finally:
        other.close()

    [bundle] = run_magic(magic_shell, "%wif_flow")
    labels = [m["label"] for m in bundle[FLOW_MIME]["messages"]]
    assert any("MONGODB-OIDC" in label for label in labels)
    assert not any("SCRAM" in label for label in labels)
    shown = "\n".join(m["detail"] for m in bundle[FLOW_MIME]["messages"])
    assert f"appName {mine.app_name}" in shown and "appName someone-else" not in shown
    assert "of other clients left out" in bundle["text/plain"]
    assert "--all-clients" in bundle["text/plain"]

    [everyone] = run_magic(magic_shell, "%wif_flow --all-clients")
    labels = [m["label"] for m in everyone[FLOW_MIME]["messages"]]
    assert any("SCRAM-SHA-256" in label for label in labels)
    assert "appName someone-else" in "\n".join(m["detail"] for m in everyone[FLOW_MIME]["messages"])
