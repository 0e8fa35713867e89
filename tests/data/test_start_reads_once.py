"""At start, the dbPath's snapshot and journal are read and decoded once, by the server itself (the
launcher only checks the folder's listing). Counted with Python's audit hook for ``open`` in both the
launcher (this process) and the real server process (a ``sitecustomize`` on its path)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from wif_notebook import authorization, mongod, stack
from wif_notebook.server.storage import JOURNAL_PREFIX, SNAPSHOT_FILE
from wif_notebook.state import StateDir

SITECUSTOMIZE = """
import json, os, sys
def _hook(event, args):
    if event == "open" and isinstance(args[0], str) and isinstance(args[1], str) and "r" in args[1]:
        name = os.path.basename(args[0])
        if name == "{snapshot}" or name.startswith("{journal}"):
            with open(os.environ["WIF_TEST_OPEN_LOG"], "a") as out:
                out.write(json.dumps([os.getpid(), name]) + "\\n")
sys.addaudithook(_hook)
"""

_reads: list[str] = []
_counting = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _counting and event == "open" and isinstance(args[0], str) and isinstance(args[1], str):
        name = os.path.basename(args[0])
        if "r" in args[1] and (name == SNAPSHOT_FILE or name.startswith(JOURNAL_PREFIX)):
            _reads.append(name)


sys.addaudithook(_hook)  # audit hooks cannot be removed: this one counts only while _counting


@pytest.fixture
def counted_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(snapshot=SNAPSHOT_FILE, journal=JOURNAL_PREFIX)
    )
    log = tmp_path / "server-opens.jsonl"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    )
    monkeypatch.setenv("WIF_TEST_OPEN_LOG", str(log))
    return log


def test_a_restart_reads_the_snapshot_and_the_journal_once(tmp_path: Path, counted_env: Path) -> None:
    global _counting
    state = StateDir(tmp_path / "state")
    stack.up(state, idp_port=0, port=0)
    try:
        client = authorization.admin_client(state)
        client.t.c.insert_many([{"_id": i} for i in range(6)])  # journalled on the first snapshot
        client.close()
        os.kill(int(stack.status(state)["mongod"]["pid"]), 9)  # no compaction: the journal stays
        counted_env.write_text("")
        _reads.clear()
        _counting = True
        try:
            mongod.start_mongod(state)  # the launcher, in this process; the server, its own
        finally:
            _counting = False
        assert _reads == [], "the launcher must not read the data files"
        client = authorization.admin_client(state)
        assert client.t.c.count_documents({}) == 6
        client.close()
        server = int(stack.status(state)["mongod"]["pid"])
        reads = [json.loads(line) for line in counted_env.read_text().splitlines()]
        mine = sorted(name for pid, name in reads if pid == server)
        assert mine == [SNAPSHOT_FILE, f"{JOURNAL_PREFIX}1"], reads
    finally:
        stack.down(state)
