"""The official Node.js driver (npm `mongodb`) against the test mongod process: MONGODB-OIDC with
`ENVIRONMENT: 'test'` + OIDC_TOKEN_FILE, then CRUD, cursors, aggregation and a unique index."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from data.conftest import MongodProcess

from .conftest import CLIENTS


def test_node_driver_logs_in_with_oidc_and_does_crud(
    node: str, server: MongodProcess, token_file: Path
) -> None:
    uri = f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    result = subprocess.run(
        [node, str(CLIENTS / "node_crud.mjs"), uri, "library"],
        cwd=CLIENTS,
        env={**os.environ, "OIDC_TOKEN_FILE": str(token_file)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    assert out["insertMany"] == 150 and out["insertOne"] is True
    assert out["findSorted"] == ["extra", 119, 118]  # year desc, _id asc, limit 3
    assert out["findAll"] == 151  # 20 per batch: first batch and seven getMores
    assert out["updateMany"] == [20, 20]  # years 1900..1909: _id 0..9 and 120..129
    assert out["upsert"] == "new"
    assert out["findOneAndUpdate"] == {"_id": 0, "year": 1901}
    assert out["deleteMany"] == 20
    assert out["count"] == 150 + 2 - 20
    assert out["distinctYears"] == [2018, 2019, 2024]
    assert out["aggregate"] == [{"n": 11}]  # _id 110..119 and "extra"
    assert out["createIndex"] == "title_1"
    assert out["duplicate"]["code"] == 11000
    assert 'index: title_1 dup key: { title: "book 50" }' in out["duplicate"]["message"]
    assert out["indexes"] == ["_id_", "title_1"]
    assert sorted(out["collections"]) == ["books"]
    assert out["connectionStatus"] == [{"user": "kit/lesson-app", "db": "$external"}]
    # what Node wrote, pymongo reads
    assert server.admin().library.books.count_documents({}) == out["count"]
