"""The report's building blocks on hand-made tables; the page itself is tested end to end.

Per-segment metrics use the ten-customer RFM frame of test_segmentation.py, whose segments are
worked out there: Champions {1, 2, 3}, Hibernating {4}, Lost {5, 8}, Potential Loyalist {6},
Loyal {7}, Need Attention {9}, At Risk {10}. Customers 3, 4, 5, 8 and 10 churn; the fake
model's probabilities rank every churner above every other customer but 9 (0.55 > 0.5 of
customer 3): 24 of the 25 churner / stayer pairs are ordered, ROC AUC 0.96.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from churnmodel.cli import _report_after_training
from churnmodel.config import Config, OutputConfig
from churnmodel.data.io import tables_from_frames
from churnmodel.data.synthetic import generate
from churnmodel.data.tables import Tables
from churnmodel.labels import active_customers
from churnmodel.report import (
    customer_segments,
    data_coverage,
    metrics_frame,
    segment_metrics,
    top_drivers,
    write_report,
)

RFM_ROWS = {  # id: (recency_days, frequency, monetary_total), as in test_segmentation.py
    1: (5, 20, 900), 2: (10, 12, 700), 3: (30, 8, 400), 4: (60, 2, 120), 5: (200, 1, 20),
    6: (15, 2, 50), 7: (60, 10, 800), 8: (300, 3, 60), 9: (45, 5, 300), 10: (120, 6, 150),
}
CHURNERS = {3, 4, 5, 8, 10}
P = {1: 0.1, 2: 0.2, 3: 0.5, 4: 0.7, 5: 0.9, 6: 0.3, 7: 0.2, 8: 0.8, 9: 0.55, 10: 0.6}
CUTOFF = pd.Timestamp("2025-01-01")


class FakeModel:
    """What segment_metrics needs of a ChurnModel: features, probabilities, the horizon."""

    horizon_days = 90

    def features(self, tables: Tables, cutoff) -> pd.DataFrame:
        rows = pd.DataFrame.from_dict(RFM_ROWS, orient="index",
                                      columns=["recency_days", "frequency", "monetary_total"])
        rows.index.name = "customer_id"
        return rows.astype("float64")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([P[c] for c in X.index])


def _labelled_tables() -> Tables:
    """Everyone buys before the cutoff; only the stayers buy again inside the 90-day window."""
    rows = [(c, "2024-12-15", 10.0) for c in RFM_ROWS]
    rows += [(c, "2025-02-01", 10.0) for c in RFM_ROWS if c not in CHURNERS]
    rows.append((1, "2025-04-05", 10.0))  # the data reach past the end of the window
    tx = pd.DataFrame(rows, columns=["customer_id", "ts", "amount"])
    return Tables(tx.assign(ts=pd.to_datetime(tx["ts"])))


def test_segment_metrics_by_hand_with_one_class_segments_explained():
    out = segment_metrics(FakeModel(), _labelled_tables(), CUTOFF, min_customers=2).set_index("segment")
    assert list(out.index) == ["all", "Champions", "Loyal", "Potential Loyalist", "Need Attention",
                               "At Risk", "Hibernating", "Lost"]  # empty segments have no row
    assert out.loc["all", "customers"] == 10 and out.loc["all", "churn_rate"] == pytest.approx(0.5)
    assert out.loc["all", "roc_auc"] == pytest.approx(24 / 25)
    assert out.loc["all", "mean_probability"] == pytest.approx(np.mean(list(P.values())))
    champions = out.loc["Champions"]
    assert champions["customers"] == 3 and champions["churn_rate"] == pytest.approx(1 / 3)
    assert champions["roc_auc"] == pytest.approx(1.0) and champions["note"] == ""
    assert np.isnan(out.loc["Lost", "roc_auc"])
    assert out.loc["Lost", "note"] == "one class only (all churned): no AUC"
    assert out.loc["Loyal", "note"] == "one class only (nobody churned): no AUC"


def test_segment_metrics_leaves_small_segments_without_auc():
    out = segment_metrics(FakeModel(), _labelled_tables(), CUTOFF).set_index("segment")
    assert out.loc["all", "note"] == "fewer than 20 customers: no AUC"
    assert out["roc_auc"].isna().all()


def _scores() -> pd.DataFrame:
    return pd.DataFrame({
        "churn_probability": [0.9, 0.8, 0.7, 0.1],
        "at_risk": [True, True, True, False],
        "driver_1_feature": ["recency_days", "recency_days", "n_90d", None],
        "driver_1_sentence": ["No purchase for 94 days", "No purchase for 60 days",
                              "No purchases in the last 90 days", None],
        "driver_2_feature": ["csat_last", "n_90d", None, None],
        "driver_2_sentence": ["Last CSAT 2/5", "No purchases in the last 90 days", None, None],
    }, index=pd.Index([1, 2, 3, 4], name="customer_id"))


def test_top_drivers_counts_at_risk_customers_per_driver_feature():
    out = top_drivers(_scores())
    assert out["feature"].tolist() == ["recency_days", "n_90d", "csat_last"]
    assert out["customers"].tolist() == [2, 2, 1]
    assert out["first"].tolist() == [2, 1, 0]
    assert out["share"].tolist() == pytest.approx([2 / 3, 2 / 3, 1 / 3])
    # recency: every sentence once, the riskiest customer's; n_90d: the sentence said twice
    assert out["sentence"].tolist() == ["No purchase for 94 days", "No purchases in the last 90 days",
                                        "Last CSAT 2/5"]
    assert out["label"].iloc[0] == "days since the last purchase"


def test_top_drivers_is_empty_when_nobody_is_at_risk():
    s = _scores().assign(at_risk=False)
    assert top_drivers(s).empty


def test_data_coverage_lists_rows_customers_and_date_ranges():
    tables = tables_from_frames({
        "transactions": pd.DataFrame({"customer_id": [1, 1, 2], "amount": [5.0, 6.0, 7.0],
                                      "ts": ["2025-01-03", "2025-02-01", "2025-01-10"]}),
        "feedback": pd.DataFrame({"customer_id": [2], "ts": ["2025-01-20"], "csat": [4]}),
    })
    cov = data_coverage(tables)
    assert cov["table"].tolist() == ["transactions", "feedback"]
    assert cov["rows"].tolist() == [3, 1] and cov["customers"].tolist() == [2, 1]
    assert cov["first"].tolist() == [pd.Timestamp("2025-01-03"), pd.Timestamp("2025-01-20")]
    assert cov["last"].tolist() == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-01-20")]


def test_metrics_frame_lists_champion_then_baselines_then_oracle():
    m = {"roc_auc": 0.9, "pr_auc": 0.8}
    out = metrics_frame({"model": {"name": "lightgbm", **m}, "baselines": {"recency": m, "bgnbd": m},
                         "oracle": m})
    assert out[""].tolist() == ["model (lightgbm, champion)", "baseline: recency", "baseline: bgnbd",
                                "oracle (true probability)"]
    assert out["roc_auc"].tolist() == [0.9] * 4 and out["brier"].isna().all()


def test_write_report_creates_the_directory_and_leaves_no_temporary_file(tmp_path):
    path = write_report("<!DOCTYPE html><html></html>", tmp_path / "a" / "b" / "r.html")
    assert path.read_text() == "<!DOCTYPE html><html></html>"
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]


def test_segments_without_a_model_cover_the_active_customers_without_risk():
    d = generate(customers=300, seed=3)
    tables = tables_from_frames({"transactions": d.transactions, "feedback": d.feedback,
                                 "tickets": d.tickets, "customers": d.customers})
    segs = customer_segments(tables, "2025-06-30", Config())
    assert segs.table.index.equals(active_customers(tables, "2025-06-30"))
    assert segs.matrix is None and segs.scores is None
    assert "churn_probability" not in segs.table.columns and (segs.table["customer_value"] >= 0).all()
    assert segs.clusters.profiles["size"].sum() == len(segs.table)


def test_a_failing_report_warns_and_leaves_training_alone(tmp_path, capsys):
    cfg = Config(output=OutputConfig(report_dir=tmp_path / "reports"))
    result = SimpleNamespace(as_of=pd.Timestamp("2025-01-01"), model=None)
    _report_after_training(cfg, SimpleNamespace(), result, tmp_path / "model")  # must not raise
    out = capsys.readouterr().out
    assert out.startswith("warning: the HTML report was not written (AttributeError")
    assert not (tmp_path / "reports").exists()
