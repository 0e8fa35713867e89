"""The magics in a real Jupyter kernel (nbclient), as a notebook runs them; no raw JWT in any output."""

from __future__ import annotations

import json
import re

import nbformat
from nbclient import NotebookClient

from wif_notebook.state import StateDir

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ")


def test_a_notebook_runs_the_workflow_and_saves_no_raw_token(kit: StateDir) -> None:
    cells = [
        "%load_ext wif_notebook",
        f"%config WifMagics.state_dir = {str(kit.path)!r}",
        "%wif_status",
        "%wif_token billing-api -o tok",
        "%wif_claims tok",
        "%wif_authorize --group lesson-readers --role readWrite@test",
        "client = %wif_connect --callback\nclient.test.kernel.insert_one({'from': 'kernel'}).acknowledged",
        "%wif_connect --callback --fault expired",
        "%wif_doctor",
        "tok.token[:3]",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    outputs = [cell.outputs for cell in nb.cells]

    saved = json.dumps(nbformat.writes(nb))
    assert not JWT.search(saved), "a raw JWT was saved in the notebook"

    def mimes(i: int) -> set[str]:
        return {m for o in outputs[i] for m in o.get("data", {})}

    assert "application/vnd.wif.status+json" in mimes(2)
    assert {"application/vnd.wif.token+json", "text/html", "text/plain"} <= mimes(3) & mimes(4)
    connected = "".join(o["data"]["text/plain"] for o in outputs[6] if "data" in o)
    assert "kit/lesson-app@$external" in connected and "True" in connected
    # A kernel shows a UsageError as one stderr message, without a traceback.
    [error] = outputs[7]
    assert error["output_type"] == "stream" and error["name"] == "stderr"
    assert error["text"].startswith("UsageError: authentication failed: the server rejected the token\n")
    assert "next step: run %wif_doctor" in error["text"]
    doctor = "".join(o["data"]["text/plain"] for o in outputs[8] if "data" in o)
    assert "FAILED [time.exp]" in doctor
    assert outputs[9][0]["data"]["text/plain"] == "'eyJ'"  # the token itself is there when asked for
