"""Where a lesson connects through a callback, it shows the vendor SDK call a real workload makes,
executed unmodified against the kit.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import NOTEBOOKS, Executed

# lesson stem -> (principal whose host variables the kernel gets, the SDK's import, its call in the
# callback, the $external user prefix it logs in as)
EXECUTED = {
    "06-": ("gce-worker", "from google.oauth2 import id_token", "id_token.fetch_id_token(", "gcp/"),
    "11-": (
        "orders-identity",
        "from azure.identity import DefaultAzureCredential",
        "credential.get_token(",
        "azure/",
    ),
    "12-": ("recommender-ksa", "from google.oauth2 import id_token", "id_token.fetch_id_token(", "gcp/"),
}


def _cells(stem: str) -> list[dict[str, Any]]:
    path = next(NOTEBOOKS.glob(f"{stem}*.ipynb"))
    cells: list[dict[str, Any]] = json.loads(path.read_text())["cells"]
    for cell in cells:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
    return cells


def _sdk_cell_index(cells: list[dict[str, Any]], call: str) -> int:
    found = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and call in c["source"] and '"OIDC_CALLBACK"' in c["source"]
    ]
    assert found, f"no code cell calls {call} inside an OIDC_CALLBACK"
    return found[0]


@pytest.mark.parametrize("stem", sorted(EXECUTED))
def test_the_callback_lesson_runs_the_vendor_sdk_call_after_the_hosts_variables(stem: str) -> None:
    principal, sdk_import, call, _ = EXECUTED[stem]
    cells = _cells(stem)
    index = _sdk_cell_index(cells, call)
    assert sdk_import in cells[index]["source"]
    # google-auth reads GCE_METADATA_HOST when imported (azure-identity its variables when a
    # credential is created): the variables come first, in an earlier cell.
    applies = [i for i, c in enumerate(cells) if f"%wif_env {principal} --apply" in c["source"]]
    assert applies and applies[0] < index, f"%wif_env {principal} --apply must run before cell {index}"
    prose = " ".join(" ".join(c["source"] for c in cells if c["cell_type"] == "markdown").split())
    assert "runs unchanged" in prose


# The course fixture executes every lesson: longer than the default per-test timeout on 2 cores.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("stem", sorted(EXECUTED))
def test_the_vendor_sdk_callback_logs_in_as_the_workloads_service_account(
    course: dict[str, Executed], stem: str
) -> None:
    executed = next(e for name, e in course.items() if name.startswith(stem))
    cells = executed.notebook.cells
    sources = [{"cell_type": c.cell_type, "source": c.source} for c in cells]
    outputs = cells[_sdk_cell_index(sources, EXECUTED[stem][2])].get("outputs", [])
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert f"'user': '{EXECUTED[stem][3]}" in text and "'db': '$external'" in text, text
