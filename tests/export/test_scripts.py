"""The exported shell scripts (az, gcloud, atlas, mongod): `bash -n` and shellcheck (Debian's
package) accept them, they refuse to run while a placeholder is unset, and the cloud-specific
commands say what the kit configured. No az, gcloud or atlas parser installs offline, so those
commands are checked for the values they carry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from wif_notebook.export import Export

SCRIPTS = [
    ("enterprise", "mongod-command-line.sh"),
    ("atlas", "atlas-setup.sh"),
    ("azure", "azure-setup.sh"),
    ("gcp", "gcp-setup.sh"),
]


@pytest.mark.parametrize(("target", "name"), SCRIPTS)
def test_script_is_valid_bash_and_passes_shellcheck(
    exports: dict[str, Export], target: str, name: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(exports[target].files[name])
    subprocess.run(["bash", "-n", str(path)], check=True)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is needed: apt-get install shellcheck")
    out = subprocess.run([shellcheck, "--shell=bash", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize(("target", "name"), [s for s in SCRIPTS if s[0] != "enterprise"])
def test_script_stops_before_any_cloud_call_while_a_placeholder_is_unset(
    exports: dict[str, Export], target: str, name: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_text(exports[target].files[name])
    # An empty PATH but bash's own: any az/gcloud/atlas call would fail with 127, not 1.
    out = subprocess.run(
        ["/bin/bash", str(path)], capture_output=True, text=True, env={"PATH": "/nonexistent"}
    )
    assert out.returncode == 1
    assert "at the top of" in out.stderr and "first" in out.stderr


def test_azure_script_registers_the_api_and_federates_the_aks_service_account(
    exports: dict[str, Export],
) -> None:
    script = exports["azure"].files["azure-setup.sh"].replace("\\\n", " ")
    assert '"api": {"requestedAccessTokenVersion": 2}' in script  # the kit's Entra issuer is v2.0
    assert '"groupMembershipClaims": "SecurityGroup"' in script  # its provider reads "groups"
    assert '--identifier-uris "api://$API_APP_CLIENT_ID"' in script
    federated = next(line for line in script.splitlines() if "federated-credential create" in line)
    assert "--identity-name orders-identity" in federated
    assert "--subject system:serviceaccount:shop:orders-worker" in federated
    assert "--audience api://AzureADTokenExchange" in federated
    assert '--issuer "$AKS_OIDC_ISSUER"' in federated
    assert "az identity create" in script  # user-assigned managed identities
    assert "client_secret" not in script.lower() and "credential reset" in script  # shown, never run
    assert not any(line.lstrip().startswith("az ad app credential") for line in script.splitlines())


def test_gcp_binding_names_the_service_account_the_k8s_export_annotates(exports: dict[str, Export]) -> None:
    script = exports["gcp"].files["gcp-setup.sh"].replace("\\\n", " ")
    binding = next(line for line in script.splitlines() if "add-iam-policy-binding" in line)
    assert "--role roles/iam.workloadIdentityUser" in binding
    assert '--member "serviceAccount:$PROJECT_ID.svc.id.goog[default/gke-recommender]"' in binding
    assert 'email="gke-recommender@$PROJECT_ID.iam.gserviceaccount.com"' in script
    gke = exports["k8s"].files["gke.yaml"]
    assert "name: gke-recommender\n  namespace: default" in gke
    assert "iam.gke.io/gcp-service-account: gke-recommender@<PROJECT_ID>.iam.gserviceaccount.com" in gke


def test_scripts_print_the_values_other_exports_need(exports: dict[str, Export]) -> None:
    azure = exports["azure"].files["azure-setup.sh"]
    needed = {p.name for p in exports["enterprise"].placeholders if not p.name.endswith("_URL")}
    needed |= {p.name for p in exports["k8s"].placeholders if p.name.startswith("ORDERS_IDENTITY")}
    printed = {line.split('"')[1].split("=")[0] for line in azure.splitlines() if line.startswith('echo "')}
    printed |= {
        line.split('"')[1].split("=")[0]
        for line in exports["gcp"].files["gcp-setup.sh"].splitlines()
        if line.startswith('echo "')
    }
    assert needed - {"PROJECT_ID"} <= printed


def test_no_secret_reaches_any_export(exports: dict[str, Export], built_kit: object) -> None:
    from wif_notebook.idp.principals import load_catalog
    from wif_notebook.server.authz import read_admin_credentials
    from wif_notebook.state import StateDir

    assert isinstance(built_kit, StateDir)
    secrets = [p.client_secret for p in load_catalog(built_kit) if p.client_secret]
    creds = read_admin_credentials(built_kit.path)
    assert creds is not None and secrets
    secrets.append(creds[1])
    for result in exports.values():
        text = "".join(result.files.values()) + str(result.to_json())
        for secret in secrets:
            assert secret not in text, f"a secret reached the {result.target} export"


def test_azure_app_roles_when_the_kits_entra_provider_reads_the_roles_claim(tmp_path: Path) -> None:
    from wif_notebook.connect import remove_provider, set_provider
    from wif_notebook.export import export
    from wif_notebook.mongod import default_config, write_config
    from wif_notebook.server.authz import AuthzStore
    from wif_notebook.state import StateDir

    state = StateDir(tmp_path / "state")
    state.ensure()
    write_config(state, default_config(state, None))
    set_provider(state, "azure", {"authorizationClaim": "roles"})
    remove_provider(state, "azure-v1")  # its groups claim would bring groupMembershipClaims back
    # What createRole would have stored in the dbPath (the server's own store, read as a stopped server's).
    AuthzStore(state.db_path).insert_role(
        {"_id": "admin.azure/Orders.Write", "role": "azure/Orders.Write", "db": "admin", "privileges": [],
         "roles": [{"role": "readWrite", "db": "shop"}]}
    )  # fmt: skip
    script = export(state, "azure").files["azure-setup.sh"]
    assert '"groupMembershipClaims"' not in script
    assert '\\"appRoles\\": [{\\"allowedMemberTypes\\": [\\"Application\\"]' in script
    assert '\\"value\\": \\"Orders.Write\\"' in script
    assert '\\"id\\": \\"${app_role_orders_write}\\"' in script  # generated by the script itself
    body = next(line.strip() for line in script.splitlines() if "appRoles" in line).removeprefix("--body ")
    # What az receives once bash expanded the word: JSON with the generated role id.
    printed = subprocess.run(
        ["bash", "-c", f"app_role_orders_write=0f0e; printf %s {body}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(printed)["appRoles"][0]["id"] == "0f0e"
    path = tmp_path / "azure-setup.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    out = subprocess.run(["shellcheck", "--shell=bash", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
