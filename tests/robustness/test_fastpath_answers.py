"""The served app with the lean /invocations answers every request byte for byte as MLflow's
own app does: good requests of every size, the lean scorer's answers, and every error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def apps(trained, tmp_path_factory):
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import load_model, scoring_server

    from churnmodel.serving import save_pyfunc
    from churnmodel.serving.app import guarded
    from churnmodel.serving.fastpath import FastInvocations

    d = tmp_path_factory.mktemp("fast") / "mlflow_model"
    save_pyfunc(trained.model, trained.test_sample, d)
    pm = load_model(str(d))
    fast = FastInvocations(scoring_server.init(pm), pm, 60.0)
    rows = trained.test_sample[trained.model.feature_names].reset_index()
    for c in trained.model.categories:
        rows[c] = rows[c].astype("string")
    return TestClient(guarded(scoring_server.init(pm))), TestClient(guarded(fast)), fast, rows


def _split(rows: pd.DataFrame) -> bytes:
    data = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    return json.dumps({"dataframe_split": {"columns": list(rows.columns), "data": data}}).encode()


def _records(rows: pd.DataFrame) -> bytes:
    data = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return json.dumps({"dataframe_records": data}).encode()


def _same(apps, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    mlflow_app, fast_app, _, _ = apps
    headers = {"Content-Type": content_type}
    want = mlflow_app.post("/invocations", content=body, headers=headers)
    got = fast_app.post("/invocations", content=body, headers=headers)
    assert (got.status_code, got.content) == (want.status_code, want.content)
    return got.status_code, got.content


def test_one_row_requests_get_mlflows_answers_and_the_lean_scorer_serves_the_calm_ones(apps):
    _, _, fast, rows = apps
    assert fast.lean.on  # on by default (CHURNMODEL_LEAN_REST=0 turns it off)
    # the riskiest 20 and the 60 calmest, partly interleaved: both paths are exercised
    p = fast.lean.model.predict_proba(rows.set_index("customer_id"))
    order = np.argsort(-p, kind="stable")
    assert len(order) >= 80, len(order)
    picked = [int(i) for pair in zip(order[:20], order[-20:], strict=True) for i in pair]
    picked += [int(i) for i in order[-60:-20]]
    flagged = 0
    for i in picked:
        status, content = _same(apps, _split(rows.iloc[[i]]))
        assert status == 200
        flagged += json.loads(content)["predictions"][0]["at_risk"]
    assert 0 < flagged < len(picked)  # drivers for some, the lean answer for others
    assert fast.lean.checks[True] == fast.lean.CHECKS  # checked, then trusted
    # without customer_id the answer has one column fewer: learnt and checked on its own
    for i in picked[-10:]:
        assert _same(apps, _split(rows.drop(columns="customer_id").iloc[[i]]))[0] == 200
    assert fast.lean.on and fast.lean.checks[False] == fast.lean.CHECKS


def test_batches_records_nulls_and_unseen_levels_get_mlflows_answers(apps):
    _, _, _, rows = apps
    spoilt = rows.head(150).copy()
    spoilt.iloc[::3, 2] = np.nan
    cat = next(c for c in rows.columns if isinstance(rows[c].dtype, pd.StringDtype))
    spoilt.loc[spoilt.index[::4], cat] = None
    spoilt.loc[spoilt.index[1::4], cat] = "a level never seen"
    for body in (_split(spoilt.head(5)), _records(spoilt.head(7)), _split(spoilt),
                 _split(spoilt.drop(columns="customer_id").head(3)), _split(spoilt[spoilt.columns[::-1]])):
        assert _same(apps, body)[0] == 200


def test_bad_requests_get_mlflows_own_errors(apps, monkeypatch):
    _, _, _, rows = apps
    bad_type = rows.head(2).astype({"frequency": "object"})
    bad_type["frequency"] = "lots"
    statuses = []  # MLflow decides what a float id or a CSV body gets; the lean path agrees
    for body, ctype in [(_split(rows.head(3).drop(columns=["recency_days"])), "application/json"),
                        (_split(bad_type), "application/json"),
                        (_split(rows.head(2).assign(customer_id=1.5)), "application/json"),
                        (b'{"dataframe_split": {"columns": ["recency_days"', "application/json"),
                        (b"", "application/json"),
                        (json.dumps({"inputs": {"recency_days": [1.0]}}).encode(), "application/json"),
                        (rows.head(2).to_csv(index=False).encode(), "text/csv")]:
        statuses.append(_same(apps, body, ctype)[0])
    assert [statuses[i] for i in (0, 1, 3, 4, 5)] == [400] * 5 and all(s < 500 for s in statuses)
    monkeypatch.setenv("CHURNMODEL_MAX_REQUEST_ROWS", "3")
    status, content = _same(apps, _split(rows.head(5)))  # small enough for the lean scorer
    assert status == 400 and b"at most 3" in content


def test_a_lean_answer_that_differs_turns_the_lean_scorer_off(apps):
    _, _, fast, rows = apps
    lean = type(fast.lean)(fast.model)
    assert lean.on
    lean.learnt[True] = ["customer_id", "churn_probability", "risk_band", "at_risk", "a_new_column"]
    calm = next(i for i in range(len(rows)) if lean.predictions(
        {c: rows[c].iloc[[i]].to_numpy() if c not in fast.lean.model.categories
         else tuple(rows[c].iloc[[i]].astype(object).where(rows[c].iloc[[i]].notna(), None))
         for c in rows.columns}) is not None)
    from churnmodel.serving.fastpath import columns_from_json, frame_of

    assert fast.spec is not None
    columns = columns_from_json(_split(rows.iloc[[calm]]), fast.spec)
    assert columns is not None
    reference = fast.answer(frame_of(columns, fast.spec))
    assert lean.answer(columns, lambda: reference) == reference
    assert not lean.on


def test_the_lean_scorer_is_off_with_churnmodel_lean_rest_0(apps, monkeypatch):
    _, _, fast, _ = apps
    monkeypatch.setenv("CHURNMODEL_LEAN_REST", "0")
    assert not type(fast.lean)(fast.model).on
