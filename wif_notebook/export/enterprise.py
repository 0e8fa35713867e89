"""``wif export enterprise``: a self-managed MongoDB Enterprise 7.0.11+ server.

- ``mongod.conf``: ``security.authorization`` and ``setParameter`` with ``MONGODB-OIDC`` and the
  ``oidcIdentityProviders`` of the kit, each issuer replaced by its https production issuer (no
  ``enableTestCommands``: a production mongod accepts https issuers only).
- ``mongod-command-line.sh``: the same as command-line options,
  ``--setParameter oidcIdentityProviders='[...]'`` (the form the manual shows).
- ``create-roles-and-users.js``: the mongosh script for the learner's user-defined roles and
  ``$external`` users, parents first.
"""

from __future__ import annotations

import json
from typing import Any

from ._kit import KitSnapshot, ProductionProvider
from ._model import Export, make_export
from ._shell import HEADER

MECHANISMS = "SCRAM-SHA-256,MONGODB-OIDC"


def build(snap: KitSnapshot) -> Export:
    files = {
        "mongod.conf": mongod_conf(snap),
        "mongod-command-line.sh": command_line(snap),
        "create-roles-and-users.js": mongosh_script(snap),
    }
    notes = [
        "mongod fetches each issuer's /.well-known/openid-configuration and its jwks_uri over https at "
        "start and on an unknown key id: this server must reach them (egress, proxy, CA store).",
        "Clients send tokens to this server: enable TLS (net.tls) before using it in production.",
    ]
    notes += provider_notes(snap.providers)
    notes += snap.notes
    return make_export(
        "enterprise",
        "MongoDB Enterprise: MONGODB-OIDC configuration, roles and users",
        files,
        snap.placeholders,
        notes=notes,
        sources=snap.sources,
        # They describe who may do what on the server: readable by their owner only.
        private=frozenset({"mongod.conf", "create-roles-and-users.js"}),
    )


def provider_notes(providers: list[ProductionProvider]) -> list[str]:
    """What to know about each production issuer (shared with the Atlas export)."""
    notes = []
    for p in providers:
        if p.kind == "entra-v1":
            notes.append(
                f"{p.prefix}: Entra v1.0 tokens carry iss {p.issuer} WITH the trailing slash; mongod "
                "compares it exactly, so keep it."
            )
        elif p.kind == "entra-v2":
            notes.append(
                f"{p.prefix}: Entra issues v2.0 tokens (iss {p.issuer}) only when the app registration "
                "sets api.requestedAccessTokenVersion to 2; the audience is then its client id."
            )
        elif p.kind == "kubernetes":
            notes.append(
                f"{p.prefix}: the cluster's issuer must publish its discovery document and keys where "
                "mongod can fetch them over https (AKS, GKE and EKS do; others need "
                "--service-account-issuer and --service-account-jwks-uri set for it)."
            )
        elif p.kind == "idp" and p.kit.use_authorization_claim:
            notes.append(
                f"{p.prefix}: your identity provider's '{p.kit.authorization_claim}' claim must carry the "
                f"names the roles {p.prefix}/<name> are named after."
            )
    return notes


def providers_json(providers: list[ProductionProvider], *, indent: str) -> str:
    """The ``oidcIdentityProviders`` JSON array, one entry per line."""
    body = ",\n".join(indent + "  " + json.dumps(p.document()) for p in providers)
    return "[\n" + body + "\n" + indent + "]"


def mongod_conf(snap: KitSnapshot) -> str:
    lines = [
        "# MongoDB Enterprise 7.0.11+: MONGODB-OIDC for workloads, exported by `wif export enterprise`.",
        f"# From the kit's {snap.sources['configuration']}.",
        "# Replace every placeholder (README.md lists them), then merge these sections into your",
        "# mongod.conf. Unlike the kit: https issuers only, and no enableTestCommands.",
        "net:",
        "  port: 27017  # mongod's default",
        "  bindIp: 127.0.0.1  # mongod's default: add the addresses your clients connect to",
        "security:",
        "  authorization: enabled  # every command checks the caller's privileges (13 when one is missing)",
        "setParameter:",
        f"  authenticationMechanisms: {MECHANISMS}  # SCRAM for administrators, OIDC for workloads",
        "  # oidcIdentityProviders: a JSON array in one single-quoted YAML string (the manual's form).",
    ]
    for p in snap.providers:
        lines.append(f"  #   {p.prefix}: {p.title}; {_authorization(p)}")
    text = providers_json(snap.providers, indent="    ").replace("'", "''")
    lines.append(f"  oidcIdentityProviders: '{text}'")
    return "\n".join(lines) + "\n"


def _authorization(p: ProductionProvider) -> str:
    user = f'user "{p.prefix}/<{p.kit.principal_name}>"'
    if p.kit.use_authorization_claim:
        return f'{user}, roles "{p.prefix}/<value>" in admin from the "{p.kit.authorization_claim}" claim'
    return f"{user} must exist in $external (createUser)"


def command_line(snap: KitSnapshot) -> str:
    providers = providers_json(snap.providers, indent="  ").replace("'", "'\\''")
    return (
        HEADER
        + "# The same configuration as mongod command-line options, exported by `wif export enterprise`.\n"
        + "# Replace every placeholder in this file first (README.md lists them); extra options\n"
        + "# (--dbpath, --bind_ip, --tlsMode ...) go after the script's name: they are passed to mongod.\n"
        + "if grep -q '^[^#]*<[A-Z][A-Z0-9_]*>' \"$0\"; then\n"
        + '  echo "replace the placeholders in $0 first (README.md lists them)" >&2\n'
        + "  exit 1\n"
        + "fi\n"
        + "exec mongod --auth \\\n"
        + f"  --setParameter authenticationMechanisms={MECHANISMS} \\\n"
        + f"  --setParameter oidcIdentityProviders='{providers}' \\\n"
        + '  "$@"\n'
    )


def _js(value: Any) -> str:
    return json.dumps(value)


def mongosh_script(snap: KitSnapshot) -> str:
    lines = [
        "// Roles and $external users for MONGODB-OIDC, exported by `wif export enterprise`",
        f"// from {snap.sources.get('users and roles', 'the kit')}.",
        "// Replace every placeholder first (README.md lists them), then run it once as a user",
        "// administrator against the production server:",
        '//   mongosh "mongodb://HOST:27017/admin" --username ADMIN --file create-roles-and-users.js',
        "// A role named <authNamePrefix>/<group> in admin is granted to every token whose authorization",
        "// claim lists <group>; a $external user <authNamePrefix>/<principal> serves providers with",
        "// useAuthorizationClaim: false.",
    ]
    if not snap.roles and not snap.users:
        lines.append("// (the kit had no user-defined roles and no $external users to export)")
    for role in snap.roles:
        spec = {"role": role["role"], "privileges": role["privileges"], "roles": role["roles"]}
        lines.append(f"db.getSiblingDB({_js(role['db'])}).createRole({_js(spec)});")
    for user in snap.users:
        spec = {"user": user["user"], "roles": user["roles"]}
        lines.append(f"db.getSiblingDB({_js(user['db'])}).createUser({_js(spec)});")
    return "\n".join(lines) + "\n"
