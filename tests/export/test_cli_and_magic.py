"""`wif export` on the command line and `%wif_export` in IPython: the same API, errors with the
next step, --json and --out."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

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
    remove_provider(state, "azure-v1")  # Entra's v1 issuer, in the kit's default mongod.conf too
    out = wif("export", "azure", state=state)
    assert out.returncode == 1
    assert "no Microsoft Entra ID issuer is configured" in out.stderr and "next step:" in out.stderr


# In a child process: IPython's global test shell starts once per process, and the notebook tests
# of this session own it.
MAGIC_SESSION = """
import json, sys
from IPython.core.error import UsageError
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output

ip = start_ipython()
ip.run_line_magic("load_ext", "wif_notebook")
ip.run_line_magic("config", f"WifMagics.state_dir = {sys.argv[1]!r}")
with capture_output() as captured:
    ip.run_line_magic("wif_export", f"gcp -o exported --out {sys.argv[2]}")
result = ip.user_ns["exported"]
try:
    ip.run_line_magic("wif_export", "aws")
    error = None
except UsageError as exc:
    error = str(exc)
print(json.dumps({"type": type(result).__name__, "target": result.target,
                  "bundle": captured.outputs[0].data, "error": error}))
"""


def test_wif_export_magic_shows_the_export_and_stores_it(built_kit: StateDir, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MAGIC_SESSION, str(built_kit.path), str(tmp_path / "gcp")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert (doc["type"], doc["target"]) == ("Export", "gcp")
    assert "gcloud iam service-accounts create" in doc["bundle"]["text/plain"]
    assert "&lt;PROJECT_ID&gt;" in doc["bundle"]["text/html"]
    assert (tmp_path / "gcp" / "gcp-setup.sh").exists()
    assert doc["error"].startswith("unknown export target 'aws'\n  next step: use one of")
