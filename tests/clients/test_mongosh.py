"""mongosh (npm) against the test mongod process: it logs in with MONGODB-OIDC `ENVIRONMENT:test`,
runs its own startup commands (buildInfo, the atlascli probe, getParameter, ...) and then the user's
commands. mongosh starts slowly, so one invocation covers the whole session."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from data.conftest import MongodProcess

from .conftest import CLIENTS

SCRIPT = """
const lib = db.getSiblingDB('library');
lib.shelf.insertMany([{_id: 1, t: 'a', n: 3}, {_id: 2, t: 'b', n: 1}, {_id: 3, t: 'a', n: 2}]);
lib.shelf.updateOne({_id: 2}, {$set: {n: 10}});
lib.shelf.deleteOne({_id: 3});
lib.shelf.createIndex({t: 1});
const out = {
  ping: db.runCommand({ping: 1}).ok,
  whoami: db.runCommand({connectionStatus: 1}).authInfo.authenticatedUsers,
  docs: lib.shelf.find({}, {_id: 1, n: 1}).sort({n: -1}).toArray(),
  count: lib.shelf.countDocuments({t: 'a'}),
  grouped: lib.shelf.aggregate([{$group: {_id: '$t', total: {$sum: '$n'}}}, {$sort: {_id: 1}}]).toArray(),
  indexes: lib.shelf.getIndexes().map(i => i.name),
  collections: lib.getCollectionNames(),
  dbs: db.adminCommand({listDatabases: 1, nameOnly: true}).databases.map(d => d.name),
  version: db.version(),
};
try { lib.shelf.insertOne({_id: 1}); out.dup = null; } catch (e) { out.dup = e.code; }
print(JSON.stringify(out));
"""


def test_mongosh_logs_in_with_oidc_runs_its_startup_and_user_commands(
    node: str, server: MongodProcess, token_file: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"  # mongosh writes ~/.mongodb/mongosh: never the real HOME
    home.mkdir()
    uri = (
        f"mongodb://127.0.0.1:{server.port}/?directConnection=true&authMechanism=MONGODB-OIDC"
        "&authMechanismProperties=ENVIRONMENT:test"
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "OIDC_TOKEN_FILE": str(token_file),
        "MONGOSH_SKIP_NODE_VERSION_CHECK": "1",
        "DO_NOT_TRACK": "1",
    }
    result = subprocess.run(
        [
            node,
            str(CLIENTS / "node_modules" / ".bin" / "mongosh"),
            uri,
            "--quiet",
            "--norc",
            "--eval",
            SCRIPT,
        ],
        cwd=CLIENTS,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ping"] == 1
    assert out["whoami"] == [{"user": "kit/lesson-app", "db": "$external"}]
    assert out["docs"] == [{"_id": 2, "n": 10}, {"_id": 1, "n": 3}]
    assert out["count"] == 1
    assert out["grouped"] == [{"_id": "a", "total": 3}, {"_id": "b", "total": 10}]
    assert out["indexes"] == ["_id_", "t_1"]
    assert out["collections"] == ["shelf"]
    assert out["dbs"] == ["library"]  # only what the workload may see (authorizedDatabases)
    assert out["version"].startswith("7.0.")
    assert out["dup"] == 11000
    # the startup commands reached the server, and the user's writes are there for pymongo
    log = (server.state.path / "logs" / "mongod.log").read_text()
    assert "mongosh" in log
    assert server.admin().library.shelf.count_documents({}) == 2
