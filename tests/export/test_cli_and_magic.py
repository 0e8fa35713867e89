"""`wif export` on the command line and `%wif_export` in IPython: the same API, errors with the
next step, --json and --out."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from wif_notebook.export import Export
from wif_notebook.state import StateDir


def wif(*args: str, state: StateDir) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wif_notebook.cli", *args, "--state-dir", str(state.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_target_says_which_targets_exist(tmp_path: Path) -> None:
    out = wif("export", "openshift", state=StateDir(tmp_path / "state"))
    assert out.returncode == 1
    assert "unknown export target 'openshift'" in out.stderr
    assert "next step: use one of: enterprise, atlas, azure, gcp, k8s" in out.stderr
    assert "Traceback" not in out.stderr


def test_nothing_configured_says_how_to_start(tmp_path: Path) -> None:
    out = wif("export", "enterprise", state=StateDir(tmp_path / "state"))
    assert out.returncode == 1
    assert "no oidcIdentityProviders configured" in out.stderr
    assert "next step: start the kit with `wif up`" in out.stderr


def test_json_prints_the_whole_artifact_set(built_kit: StateDir, exports: dict[str, Export]) -> None:
    out = wif("export", "k8s", "--json", state=built_kit)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["target"] == "k8s"
    assert doc["files"] == exports["k8s"].files
    assert {p["token"] for p in doc["placeholders"]} >= {"<IMAGE>", "<ORDERS_IDENTITY_CLIENT_ID>"}
    assert all(p["meaning"] and p["how_to_find"] for p in doc["placeholders"])


def test_out_writes_the_files_and_prints_the_summary(built_kit: StateDir, tmp_path: Path) -> None:
    out = wif("export", "atlas", "--out", str(tmp_path / "atlas"), state=built_kit)
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in (tmp_path / "atlas").iterdir())
    assert written == ["README.md", "admin-api-requests.json", "atlas-setup.sh"]
    assert stat.S_IMODE((tmp_path / "atlas" / "atlas-setup.sh").stat().st_mode) == 0o755
    assert "<FEDERATION_SETTINGS_ID>" in out.stdout and "written:" in out.stdout
    assert "#!/usr/bin/env bash" not in out.stdout  # the files went to disk, not the terminal


def test_a_target_without_workloads_explains_what_to_add(tmp_path: Path) -> None:
    from wif_notebook.connect import remove_provider
    from wif_notebook.mongod import default_config, write_config

    state = StateDir(tmp_path / "state")
    state.ensure()
    write_config(state, default_config(state, None))
    remove_provider(state, "azure")
    out = wif("export", "azure", state=state)
    assert out.returncode == 1
    assert "no Microsoft Entra ID issuer is configured" in out.stderr and "next step:" in out.stderr


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "wif_notebook")
    return ip


def test_wif_export_magic_shows_the_export_and_stores_it(
    shell: InteractiveShell, built_kit: StateDir, tmp_path: Path
) -> None:
    shell.run_line_magic("config", f"WifMagics.state_dir = {str(built_kit.path)!r}")
    with capture_output() as captured:
        shell.run_line_magic("wif_export", f"gcp -o exported --out {tmp_path / 'gcp'}")
    result = shell.user_ns["exported"]
    assert isinstance(result, Export) and result.target == "gcp"
    bundle = captured.outputs[0].data
    assert "gcloud iam service-accounts create" in bundle["text/plain"]
    assert "&lt;PROJECT_ID&gt;" in bundle["text/html"]
    assert (tmp_path / "gcp" / "gcp-setup.sh").exists()
    with pytest.raises(UsageError, match="unknown export target 'aws'\n  next step: use one of"):
        shell.run_line_magic("wif_export", "aws")
