"""The Node.js driver's built-in ``azure`` and ``gcp`` environments, unmodified, against the kit.

The driver calls ``http://169.254.169.254/metadata/identity/oauth2/token`` and
``http://metadata/computeMetadata/v1/...`` with Node's http module: fixed hosts, no proxy support.
The test gives it those hosts for real: a network namespace of its own (``ip netns add``) whose
loopback carries 169.254.169.254, and whose ``/etc/hosts`` (``ip netns exec`` mounts
``/etc/netns/<name>/hosts`` over it) names ``metadata`` and ``metadata.google.internal`` there. The
IdP (listening on 169.254.169.254:80 as well, ``--metadata-bind``), the test mongod and node all run
inside it. Needs root and ``ip netns``; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "clients"
METADATA_IP = "169.254.169.254"
HOSTS = f"127.0.0.1 localhost\n::1 localhost\n{METADATA_IP} metadata metadata.google.internal\n"

# Runs inside the namespace: the kit, the users the two workloads log in as, node, and shutdown.
INSIDE = f"""
import json, subprocess, sys
from wif_notebook import authorization, stack
from wif_notebook.idp.issuers import AZURE_RESOURCE_APP_ID
from wif_notebook.idp.service import idp_record, start_idp
from wif_notebook.state import StateDir

state, node, script = StateDir(sys.argv[1]), sys.argv[2], sys.argv[3]
start_idp(state, 0, metadata_bind="{METADATA_IP}:80")
stack.up(state, idp_port=0, port=0)
try:
    authorization.authorize(state, principal="gce-worker", roles=["read@inventory"])
    authorization.authorize(state, group="inventory-readers", prefix="azure", roles=["read@inventory"])
    issuers = idp_record(state).extra["issuers"]
    uri = stack.status(state)["mongodb_uri"]
    out = {{}}
    for env, resource in (("azure", "api://" + AZURE_RESOURCE_APP_ID), ("gcp", issuers["gcp"]["audience"])):
        proc = subprocess.run([node, script, uri, env, resource], capture_output=True, text=True, timeout=60)
        lines = proc.stdout.strip().splitlines()
        out[env] = json.loads(lines[-1]) if lines else {{"error": proc.stderr[-2000:]}}
    print(json.dumps(out))
finally:
    stack.down(state)
"""


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace (ip netns add)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip netns` (apt-get install iproute2)"
    return None


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace with 169.254.169.254 on its loopback and the metadata names in its hosts."""
    reason = _netns_unavailable()
    if reason:
        pytest.skip(reason)
    name = f"wif-{uuid.uuid4().hex[:8]}"
    etc = Path("/etc/netns") / name
    added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if added.returncode != 0:
        pytest.skip(f"`ip netns add` is not available here: {added.stderr.strip()}")
    try:
        etc.mkdir(parents=True)
        (etc / "hosts").write_text(HOSTS)
        for command in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "addr", "add", f"{METADATA_IP}/32", "dev", "lo"],
        ):
            subprocess.run(["ip", "netns", "exec", name, *command], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


def test_node_drivers_builtin_azure_and_gcp_environments_log_in_through_the_kit(
    netns: str, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules" / "mongodb" / "package.json").exists():
        pytest.fail("Node.js and the npm package mongodb are needed: run `npm ci --prefix tests/clients`")
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", INSIDE, str(tmp_path / "state"), node,
         str(CLIENTS / "node_builtin_env.mjs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    from wif_notebook.idp.issuers import AZURE_GROUPS
    from wif_notebook.idp.principals import find
    from wif_notebook.state import StateDir

    state = StateDir(tmp_path / "state")
    assert out["azure"].get("users") == [
        {"user": f"azure/{find(state, 'inventory-vm').subject}", "db": "$external"}
    ], out
    assert {"role": f"azure/{AZURE_GROUPS['inventory-readers']}", "db": "admin"} in out["azure"]["roles"]
    assert out["gcp"].get("users") == [
        {"user": f"gcp/{find(state, 'gce-worker').subject}", "db": "$external"}
    ], out
    assert out["gcp"]["roles"] == [{"role": "read", "db": "inventory"}]
