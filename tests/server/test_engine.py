"""The data plane's engine (mongomock) is reached through one adapter, for a pinned version range;
an incompatible mongomock fails loudly, and the kit's own bugs are not reported as query errors."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from pymongo.errors import OperationFailure

from wif_notebook.server import engine

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "wif_notebook"


def test_the_installed_mongomock_is_one_the_kit_supports() -> None:
    engine.check_compatible()  # raises IncompatibleEngine, naming what is wrong


def test_pyproject_pins_the_range_the_adapter_supports() -> None:
    [line] = re.findall(r'^\s*"(mongomock[^"]*)"', (ROOT / "pyproject.toml").read_text(), re.M)
    pin = Requirement(line)
    low, high = (".".join(map(str, v)) for v in engine.SUPPORTED)
    assert str(pin.specifier) in (f">={low},<{high}", f"<{high},>={low}")


@pytest.mark.parametrize("other", ["4.2.0", "4.4.0", "5.0.0"])
def test_another_mongomock_version_is_refused_with_what_is_needed(other: str) -> None:
    with pytest.raises(engine.IncompatibleEngine) as info:
        engine.check_compatible(other)
    assert f"mongomock {other} is installed; the kit's test mongod needs >=4.3,<4.4" == str(info.value)


def test_only_the_adapter_imports_mongomock() -> None:
    importers = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] == "mongomock" for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert sorted(set(importers)) == ["wif_notebook/server/engine.py"]


def test_what_the_engine_refuses_is_an_engine_error() -> None:
    for bad in ({"a": {"$in": 5}}, {"a": {"$regex": 5}}, {"$where": "true"}):
        with pytest.raises(Exception) as info:
            engine.filter_applies(bad, {"a": [1]})
        assert engine.is_engine_error(info.value), bad
    assert engine.is_engine_error(OperationFailure("unknown operator: $bogus"))


def test_a_failure_of_the_kits_own_code_is_not_an_engine_error() -> None:
    def kit_bug() -> None:
        {}["missing"]  # noqa: B018

    with pytest.raises(KeyError) as info:
        kit_bug()
    assert not engine.is_engine_error(info.value)


def test_the_document_store_adapter_reads_and_writes_the_engines_documents() -> None:
    coll = engine.new_client()["db"]["c"]
    store = engine.DocumentStore(coll)
    store.put(engine.store_key(1), {"_id": 1, "x": 1})
    store.put(engine.store_key({"k": 2}), {"_id": {"k": 2}, "x": 2})
    assert len(store) == 2 and engine.store_key(1) in store
    assert [d["x"] for d in coll.find({}, sort=[("x", 1)])] == [1, 2]
    assert engine.project(coll, store.get(1) or {}, {"x": 1, "_id": 0}) == {"x": 1}
    assert store.pop(1) == {"_id": 1, "x": 1} and len(store) == 1
    assert {"$match", "$group", "$lookup"} <= engine.PIPELINE_STAGES
    docs = list(store.values())
    assert engine.process_pipeline(docs, coll.database, [{"$project": {"_id": 0, "x": 1}}]) == [{"x": 2}]
