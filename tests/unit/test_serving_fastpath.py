"""The lean /invocations builds exactly the frame MLflow's parsing and signature
enforcement build, and hands every other body back to MLflow."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.models.utils import _enforce_schema
from mlflow.types.schema import ColSpec, Schema
from mlflow.utils.proto_json_utils import dataframe_from_parsed_json

from churnmodel.serving.fastpath import InputSpec, frame_from_json

SCHEMA = Schema([ColSpec("long", "customer_id", required=False), ColSpec("double", "spend"),
                 ColSpec("double", "visits"), ColSpec("string", "tier")])
SPEC = InputSpec(SCHEMA)


def mlflow_frame(doc: dict) -> pd.DataFrame:
    """What MLflow's scoring server hands the pyfunc for ``doc``."""
    (key, value), = doc.items()
    orient = "split" if key == "dataframe_split" else "records"
    return _enforce_schema(dataframe_from_parsed_json(value, orient, SCHEMA), SCHEMA)


def split(columns: list[str], *rows: list) -> dict:
    return {"dataframe_split": {"columns": columns, "data": [list(r) for r in rows]}}


COLUMNS = ["customer_id", "spend", "visits", "tier"]
SAME = {
    "floats and text": split(COLUMNS, [7, 1.5, 2.0, "gold"]),
    "integers in double columns": split(COLUMNS, [7, 3, 2, "gold"], [8, 2.5, 4, "silver"]),
    "nulls in double and text columns": split(COLUMNS, [7, None, 2.0, None], [8, 1.0, None, "gold"]),
    "a text column all null": split(COLUMNS, [7, 1.0, 2.0, None]),
    "a double column all null": split(COLUMNS, [7, None, 2.0, "gold"], [9, None, 1.0, "gold"]),
    "no customer_id": split(COLUMNS[1:], [1.0, 2.0, "gold"]),
    "columns in another order": split(["tier", "visits", "customer_id", "spend"], ["gold", 2.0, 7, 1.0]),
    "records": {"dataframe_records": [{"customer_id": 7, "spend": 1.0, "visits": None, "tier": "a"},
                                      {"customer_id": 8, "spend": 2, "visits": 3.5, "tier": None}]},
    "NaN and infinity tokens": {"dataframe_split": {"columns": COLUMNS, "data": [
        [7, float("nan"), float("inf"), "gold"]]}},
}


@pytest.mark.parametrize("name", list(SAME))
def test_a_plain_body_becomes_the_frame_mlflow_would_enforce(name):
    doc = SAME[name]
    got = frame_from_json(json.dumps(doc).encode(), SPEC)
    assert got is not None
    pd.testing.assert_frame_equal(got, mlflow_frame(doc), check_exact=True)
    assert list(got.dtypes) == list(mlflow_frame(doc).dtypes)


HANDED_BACK = {
    "inputs": {"inputs": {"spend": [1.0]}},
    "instances": {"instances": [{"spend": 1.0}]},
    "params beside the data": {**split(COLUMNS, [7, 1.0, 2.0, "a"]), "params": {"k": 1}},
    "an index": {"dataframe_split": {"columns": COLUMNS, "data": [[7, 1.0, 2.0, "a"]], "index": [3]}},
    "a required column missing": split(["customer_id", "spend", "tier"], [7, 1.0, "a"]),
    "an unknown column": split([*COLUMNS, "extra"], [7, 1.0, 2.0, "a", 1]),
    "a duplicated column": split([*COLUMNS, "spend"], [7, 1.0, 2.0, "a", 1.0]),
    "text in a double column": split(COLUMNS, [7, "lots", 2.0, "a"]),
    "a boolean in a double column": split(COLUMNS, [7, True, 2.0, "a"]),
    "a number in a text column": split(COLUMNS, [7, 1.0, 2.0, 3]),
    "a float id": split(COLUMNS, [7.0, 1.0, 2.0, "a"]),
    "a null id": split(COLUMNS, [None, 1.0, 2.0, "a"]),
    "an integer no double holds exactly": split(COLUMNS, [7, 2**53 + 1, 2.0, "a"]),
    "a ragged row": split(COLUMNS, [7, 1.0, 2.0]),
    "no rows": split(COLUMNS),
    "records with different keys": {"dataframe_records": [{"spend": 1.0, "visits": 2.0, "tier": "a"},
                                                          {"spend": 1.0, "visits": 2.0}]},
    "a list": [1, 2, 3],
}


@pytest.mark.parametrize("name", list(HANDED_BACK))
def test_any_other_body_is_left_to_mlflow(name):
    assert frame_from_json(json.dumps(HANDED_BACK[name]).encode(), SPEC) is None


def test_a_body_that_is_not_json_is_left_to_mlflow():
    assert frame_from_json(b'{"dataframe_split": {"columns": ["spend"', SPEC) is None
    assert frame_from_json(b"", SPEC) is None
