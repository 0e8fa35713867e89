"""Situations a lesson stages before an exercise: a server someone else configured, a colleague's mistake.

A lesson cell calls ``stage("08-troubleshooting", "mystery-issuer")``; the learner then meets the
situation the way they would at work — through the kit's tools, not by reading the cell that caused
it. Each stage is idempotent (running the cell again stages the same situation) and says in one
sentence what happened, without giving the answer away.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .state import StateDir

# The audience the "platform team" gave the server's gcp provider in lesson 02: not the kit's default,
# so a learner has to look it up (%wif_mongod) instead of relying on what %wif_token asks for.
SHOP_GCP_AUDIENCE = "https://mongodb.shop.example/gcp"
# The AKS workload of the capstone (the kit's Kubernetes service account shop/orders-worker).
CAPSTONE_SUBJECT = "system:serviceaccount:shop:orders-worker"


@dataclass(frozen=True)
class Staged:
    """What a stage did, in words for the learner."""

    lesson: str
    exercise: str
    message: str

    def __str__(self) -> str:
        return f"ℹ {self.message}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from . import display

        body = f"<div>{html.escape(self.message)}</div>"
        return {"text/plain": str(self), "text/html": display.box("ℹ The situation", body, tone="info")}


def _issuers(state: StateDir) -> dict[str, dict[str, str]]:
    from .stack import status

    issuers = status(state).get("idp", {}).get("issuers")
    if not issuers:
        raise ConfigError(
            "the kit's identity provider is not running", hint="run %wif_up, then this cell again"
        )
    return dict(issuers)


def _gcp_site_audience(state: StateDir) -> str:
    from .providers import configured_providers, require_provider, set_provider

    if require_provider(configured_providers(state), "gcp").audience != SHOP_GCP_AUDIENCE:
        set_provider(state, "gcp", {"audience": SHOP_GCP_AUDIENCE})
    return (
        "The platform team has configured the server's gcp provider with the audience they chose for "
        "this deployment (not the kit's default). Tokens for it must carry exactly that audience."
    )


def _issuer_with_slash(state: StateDir) -> str:
    from .providers import configured_providers, require_provider, set_provider

    issuer = _issuers(state)["azure"]["issuer"]
    if require_provider(configured_providers(state), "azure").issuer != issuer + "/":
        set_provider(state, "azure", {"issuer": issuer + "/"})
    return (
        "A colleague 'tidied up' the server's configuration this morning and restarted it. "
        "Since then the Azure VM's logins fail."
    )


def _groups_by_display_name(state: StateDir) -> str:
    from pymongo.errors import OperationFailure

    from .authorization import admin_client
    from .idp.issuers import AZURE_GROUPS

    admin = admin_client(state)
    try:
        admin.inventory.items.replace_one({"_id": "A-100"}, {"_id": "A-100", "on_hand": 12}, upsert=True)
        with contextlib.suppress(OperationFailure):  # the right role must not exist yet
            admin.admin.command("dropRole", f"azure/{AZURE_GROUPS['inventory-readers']}")
        try:
            admin.admin.command(
                "createRole",
                "azure/inventory-readers",
                privileges=[],
                roles=[{"role": "read", "db": "inventory"}],
            )
        except OperationFailure as exc:
            if exc.code != 51002:  # RoleAlreadyExists: staged before
                raise
    finally:
        admin.close()
    return (
        "A colleague gave the Entra group inventory-readers read access to the inventory database "
        "(db.createRole in mongosh). The VM inventory-vm is in that group, yet it cannot read."
    )


def _no_cluster_provider(state: StateDir) -> str:
    from pymongo.errors import OperationFailure

    from .authorization import admin_client
    from .oidc import auth_name
    from .providers import providers_view, remove_provider

    cluster = _issuers(state)["k8s"]["issuer"]
    for entry in providers_view(state).entries:
        if entry.get("issuer") == cluster:
            remove_provider(state, str(entry["authNamePrefix"]))
    # Roles named after a provider's groups belong to other lessons; the learner's own role does not.
    group_prefixes = tuple(
        auth_name(str(e["authNamePrefix"]), "")
        for e in providers_view(state).entries
        if e.get("useAuthorizationClaim", True)
    )
    admin = admin_client(state)
    try:
        admin.shop.orders.replace_one({"_id": 1}, {"_id": 1, "sku": "A-100", "qty": 2}, upsert=True)
        admin.shop.payments.replace_one({"_id": 1}, {"_id": 1, "order": 1, "amount": 20}, upsert=True)
        external = admin["$external"]
        found = external.command("usersInfo", {"forAllDBs": True}).get("users", [])
        for user in found:
            if str(user.get("user", "")).endswith("/" + CAPSTONE_SUBJECT):
                external.command("dropUser", user["user"])
                for role in user.get("roles", []):
                    if not str(role.get("role")).startswith(group_prefixes):
                        with contextlib.suppress(OperationFailure):  # a built-in role cannot be dropped
                            admin[str(role["db"])].command("dropRole", role["role"])
    finally:
        admin.close()
    return (
        "A fresh start for the capstone: the server trusts no Kubernetes cluster yet, and no user exists "
        "for the orders service account."
    )


STAGES: dict[tuple[str, str], Callable[[StateDir], str]] = {
    ("02-obtaining-a-token", "gcp-token"): _gcp_site_audience,
    ("08-troubleshooting", "mystery-issuer"): _issuer_with_slash,
    ("08-troubleshooting", "mystery-groups"): _groups_by_display_name,
    ("10-capstone", "capstone"): _no_cluster_provider,
}


def stage(lesson: str, exercise: str, *, state: StateDir | None = None) -> Staged:
    """Set up the situation of one exercise on the running kit; ConfigError if it cannot."""
    how = STAGES.get((lesson, exercise))
    if how is None:
        raise ConfigError(
            f"no staged situation for {lesson} / {exercise}",
            hint="stages exist for: " + ", ".join(f"{le} {ex}" for le, ex in STAGES),
        )
    return Staged(lesson, exercise, how(StateDir() if state is None else state))
