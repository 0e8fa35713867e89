"""`wif export enterprise`: the mongod.conf passes the kit's validator (the rule book) once the
placeholders are filled, the command-line form says the same, and the mongosh script recreates the
learner's roles and users on a fresh server when run by the real mongosh."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from data.conftest import Idp, MongodProcess, write_conf

from wif_notebook import connect
from wif_notebook.errors import ConfigError
from wif_notebook.export import Export, export
from wif_notebook.idp.issuers import AZURE_TENANT_ID
from wif_notebook.mongod import default_config, parse_config, write_config
from wif_notebook.oidc import parse_oidc_identity_providers
from wif_notebook.state import StateDir

from .conftest import kit_values, values_for

CLIENTS = Path(__file__).resolve().parent.parent / "clients"


def test_mongod_conf_is_valid_for_a_production_mongod_once_placeholders_are_filled(
    exports: dict[str, Export],
) -> None:
    result = exports["enterprise"]
    values = values_for(result)
    cfg = parse_config(result.filled(values)["mongod.conf"], source="exported mongod.conf")
    assert not cfg.enable_test_commands
    assert cfg.authorization
    assert "MONGODB-OIDC" in cfg.authentication_mechanisms
    issuers = {p.auth_name_prefix: p.issuer for p in cfg.oidc_providers}
    assert issuers == {
        "kit": values["YOUR_IDP_ISSUER_URL"],
        "azure": f"https://login.microsoftonline.com/{values['TENANT_ID']}/v2.0",
        "gcp": "https://accounts.google.com",
        "k8s": values["CLUSTER_ISSUER_URL"],
        "github": "https://token.actions.githubusercontent.com",
        # Entra's v1 issuer, trusted by the kit's default mongod.conf beside the v2 one.
        "azure-v1": f"https://sts.windows.net/{values['TENANT_ID']}/",
    }
    assert all(p.issuer.startswith("https://") for p in cfg.oidc_providers)
    azure = next(p for p in cfg.oidc_providers if p.auth_name_prefix == "azure")
    assert azure.audience == values["API_APP_CLIENT_ID"]


def test_unfilled_placeholders_are_named_and_refused_by_the_rule_book(exports: dict[str, Export]) -> None:
    result = exports["enterprise"]
    names = {p.name for p in result.placeholders}
    assert {"TENANT_ID", "API_APP_CLIENT_ID", "CLUSTER_ISSUER_URL", "YOUR_IDP_ISSUER_URL"} <= names
    text = result.files["mongod.conf"]
    assert AZURE_TENANT_ID not in text and "localhost" not in text and "http://" not in text
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        parse_config(text)
    with pytest.raises(ConfigError, match="no value for"):
        result.filled({})


def test_command_line_form_passes_the_same_providers_to_mongod(
    exports: dict[str, Export], tmp_path: Path
) -> None:
    result = exports["enterprise"]
    files = result.filled(values_for(result))
    script = tmp_path / "mongod-command-line.sh"
    script.write_text(files["mongod-command-line.sh"])
    # Stands in for the mongod binary (none here): prints the arguments bash hands it.
    fake = tmp_path / "bin" / "mongod"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", str(script), "--dbpath", "/data/db"], env=env, capture_output=True, text=True, check=True
    )
    argv = json.loads(out.stdout)
    assert argv[0] == "--auth" and argv[-2:] == ["--dbpath", "/data/db"]
    params = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--setParameter")
    assert params["authenticationMechanisms"] == "SCRAM-SHA-256,MONGODB-OIDC"
    from_cli = parse_oidc_identity_providers(params["oidcIdentityProviders"], enable_test_commands=False)
    from_conf = parse_config(files["mongod.conf"]).oidc_providers
    assert from_cli == from_conf


def test_command_line_script_refuses_to_start_with_placeholders(
    exports: dict[str, Export], tmp_path: Path
) -> None:
    script = tmp_path / "mongod-command-line.sh"
    script.write_text(exports["enterprise"].files["mongod-command-line.sh"])
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "replace the placeholders" in out.stderr


def _v1_state(tmp_path: Path) -> StateDir:
    """A kit whose Entra provider issues v1.0 tokens (issuer with the trailing slash)."""
    state = StateDir(tmp_path / "state")
    state.ensure()
    write_config(state, default_config(state, None))
    connect.set_provider(
        state,
        "azure",
        {
            "issuer": f"http://localhost:8123/azure/{AZURE_TENANT_ID}/",
            "audience": "api://3f9e2d1c-5b4a-4e8d-b7c6-a1f0e9d8c7b6",
        },
    )
    return state


def test_entra_v1_issuer_keeps_its_trailing_slash_through_export(tmp_path: Path) -> None:
    state = _v1_state(tmp_path)
    enterprise = export(state, "enterprise")
    values = values_for(enterprise)
    cfg = parse_config(enterprise.filled(values)["mongod.conf"])
    azure = next(p for p in cfg.oidc_providers if p.auth_name_prefix == "azure")
    assert azure.issuer == f"https://sts.windows.net/{values['TENANT_ID']}/"
    assert azure.audience == f"api://{values['API_APP_CLIENT_ID']}"  # the Application ID URI
    assert any("trailing slash" in n for n in enterprise.notes)
    atlas = json.loads(export(state, "atlas").files["admin-api-requests.json"])
    issuers = [r["body"]["issuerUri"] for r in atlas if r["path"].endswith("/identityProviders")]
    assert "https://sts.windows.net/<TENANT_ID>/" in issuers
    assert 'requestedAccessTokenVersion": 1' in export(state, "azure").files["azure-setup.sh"]


def test_files_are_written_with_private_modes(exports: dict[str, Export], tmp_path: Path) -> None:
    written = exports["enterprise"].write(tmp_path / "out")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert modes == {
        "mongod.conf": 0o600,
        "create-roles-and-users.js": 0o600,
        "mongod-command-line.sh": 0o755,
        "README.md": 0o644,
    }
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o700


def _authz(client: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    users = [
        {"user": u["user"], "roles": sorted((r["role"], r["db"]) for r in u["roles"])}
        for u in client.admin.command("usersInfo", {"forAllDBs": True})["users"]
        if u["db"] == "$external"
    ]
    roles = []
    for db in ("admin", "shop"):
        for r in client[db].command("rolesInfo", 1, showPrivileges=True)["roles"]:
            roles.append(
                {
                    "role": f"{r['role']}@{r['db']}",
                    "roles": sorted((p["role"], p["db"]) for p in r["roles"]),
                    "privileges": sorted(json.dumps(p, sort_keys=True) for p in r["privileges"]),
                }
            )
    return sorted(users, key=str), sorted(roles, key=str)


def test_mongosh_script_recreates_the_learners_roles_and_users_on_a_fresh_server(
    built_kit: StateDir, exports: dict[str, Export], idp: Idp, node: str, tmp_path: Path
) -> None:
    result = exports["enterprise"]
    # The kit's own values stand in for what the real cloud would print, so both servers compare.
    values = {**values_for(result), **kit_values(built_kit)}
    script = tmp_path / "create-roles-and-users.js"
    script.write_text(result.filled(values)["create-roles-and-users.js"])
    kit_admin = connect.admin_client(built_kit)
    try:
        expected = _authz(kit_admin)
    finally:
        kit_admin.close()
    assert len(expected[0]) == 2 and len(expected[1]) == 3  # what the fixture built

    state = StateDir(tmp_path / "fresh")
    server = MongodProcess(state, write_conf(state, idp)).start()
    try:
        user, password = server.admin_credentials()
        home = tmp_path / "home"  # mongosh writes ~/.mongodb: never the real HOME
        home.mkdir()
        out = subprocess.run(
            [
                node,
                str(CLIENTS / "node_modules" / ".bin" / "mongosh"),
                f"mongodb://127.0.0.1:{server.port}/admin?directConnection=true&authMechanism=SCRAM-SHA-256",
                "--username",
                user,
                "--password",
                password,
                "--quiet",
                "--norc",
                "--file",
                str(script),
            ],
            cwd=CLIENTS,
            env={
                **os.environ,
                "HOME": str(home),
                "MONGOSH_SKIP_NODE_VERSION_CHECK": "1",
                "DO_NOT_TRACK": "1",
            },
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert _authz(server.admin()) == expected
    finally:
        server.stop()


def test_users_and_roles_read_from_the_server_match_its_db_path(built_kit: StateDir) -> None:
    from wif_notebook.export._kit import _from_db_path, read_users_and_roles

    users, roles, source = read_users_and_roles(built_kit)
    assert source.startswith("the running mongod")
    stored_users, stored_roles, path = _from_db_path(built_kit)
    assert path.endswith("authz.json")
    assert sorted(map(str, users)) == sorted(map(str, stored_users))
    key = lambda r: (r["db"], r["role"])  # noqa: E731
    assert [key(r) for r in sorted(roles, key=key)] == [key(r) for r in sorted(stored_roles, key=key)]
    for a, b in zip(sorted(roles, key=key), sorted(stored_roles, key=key), strict=True):
        assert a["roles"] == b["roles"]
        same = [sorted(json.dumps(p, sort_keys=True) for p in r["privileges"]) for r in (a, b)]
        assert same[0] == same[1]
