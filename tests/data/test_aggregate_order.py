"""Field order of aggregation output, as a driver sees it: mongod puts ``_id`` first in what
``$group``, ``$bucket`` and ``$sortByCount`` produce, followed by the accumulators in the order the
stage names them. Printed documents and lesson answers compare in this order."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient

from .conftest import MongodProcess


@pytest.fixture(scope="module")
def admin(shared_mongod: MongodProcess) -> MongoClient[Any]:
    return shared_mongod.admin()


@pytest.fixture
def orders(admin: MongoClient[Any], db_name: str) -> Any:
    coll = admin[db_name].orders
    coll.insert_many(
        [
            {"_id": 1, "cust": "ann", "qty": 2, "price": 10},
            {"_id": 2, "cust": "bob", "qty": 5, "price": 20},
            {"_id": 3, "cust": "ann", "qty": 1, "price": 30},
            {"_id": 4, "cust": "cy", "qty": 7, "price": 40},
        ]
    )
    return coll


def _keys(docs: list[dict[str, Any]]) -> list[list[str]]:
    return [list(doc.keys()) for doc in docs]


def test_group_output_has_id_first_then_accumulators_in_spec_order(orders: Any) -> None:
    docs = list(orders.aggregate([{"$group": {"_id": "$cust", "total": {"$sum": "$qty"}, "n": {"$sum": 1}}}]))
    assert len(docs) == 3
    assert _keys(docs) == [["_id", "total", "n"]] * 3


def test_group_by_null_has_id_first(orders: Any) -> None:
    docs = list(orders.aggregate([{"$group": {"_id": None, "most": {"$max": "$qty"}}}]))
    assert docs == [{"_id": None, "most": 7}]
    assert list(docs[0].keys())[0] == "_id"


def test_group_then_sort_keeps_id_first(orders: Any) -> None:
    docs = list(
        orders.aggregate([{"$group": {"_id": "$cust", "total": {"$sum": "$qty"}}}, {"$sort": {"total": -1}}])
    )
    assert [d["_id"] for d in docs] == ["cy", "bob", "ann"]
    assert _keys(docs) == [["_id", "total"]] * 3


def test_group_then_project_and_add_fields_keep_id_first(orders: Any) -> None:
    docs = list(
        orders.aggregate(
            [
                {"$group": {"_id": "$cust", "total": {"$sum": "$qty"}, "n": {"$sum": 1}}},
                {"$project": {"total": 1}},
                {"$addFields": {"double": {"$multiply": ["$total", 2]}}},
                {"$sort": {"_id": 1}},
            ]
        )
    )
    assert docs == [
        {"_id": "ann", "total": 3, "double": 6},
        {"_id": "bob", "total": 5, "double": 10},
        {"_id": "cy", "total": 7, "double": 14},
    ]
    assert _keys(docs) == [["_id", "total", "double"]] * 3


def test_second_group_sees_and_produces_id_first(orders: Any) -> None:
    docs = list(
        orders.aggregate(
            [
                {"$group": {"_id": "$cust", "total": {"$sum": "$qty"}}},
                {"$group": {"_id": None, "custs": {"$push": "$$ROOT"}}},
            ]
        )
    )
    assert list(docs[0].keys()) == ["_id", "custs"]
    # $$ROOT is the first $group's document, as mongod made it.
    assert _keys(docs[0]["custs"]) == [["_id", "total"]] * 3


def test_sort_by_count_gives_id_then_count(orders: Any) -> None:
    docs = list(orders.aggregate([{"$sortByCount": "$cust"}]))
    assert docs[0] == {"_id": "ann", "count": 2}
    assert _keys(docs) == [["_id", "count"]] * 3


def test_bucket_gives_id_first(orders: Any) -> None:
    counted = list(orders.aggregate([{"$bucket": {"groupBy": "$price", "boundaries": [0, 25, 50]}}]))
    assert counted == [{"_id": 0, "count": 2}, {"_id": 25, "count": 2}]
    assert _keys(counted) == [["_id", "count"]] * 2
    summed = list(
        orders.aggregate(
            [
                {
                    "$bucket": {
                        "groupBy": "$price",
                        "boundaries": [0, 25],
                        "default": "other",
                        "output": {"qty": {"$sum": "$qty"}, "n": {"$sum": 1}},
                    }
                }
            ]
        )
    )
    assert summed == [{"_id": 0, "qty": 7, "n": 2}, {"_id": "other", "qty": 8, "n": 2}]
    assert _keys(summed) == [["_id", "qty", "n"]] * 2


def test_group_inside_facet_has_id_first(orders: Any) -> None:
    [faceted] = list(
        orders.aggregate(
            [
                {
                    "$facet": {
                        "by_cust": [{"$group": {"_id": "$cust", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
                        "how_many": [{"$count": "n"}],
                    }
                }
            ]
        )
    )
    assert faceted["how_many"] == [{"n": 4}]
    assert _keys(faceted["by_cust"]) == [["_id", "n"]] * 3


def test_group_result_written_by_out_has_id_first(orders: Any) -> None:
    orders.aggregate([{"$group": {"_id": "$cust", "total": {"$sum": "$qty"}}}, {"$out": "totals"}])
    stored = list(orders.database.totals.find({}, sort=[("_id", 1)]))
    assert _keys(stored) == [["_id", "total"]] * 3
