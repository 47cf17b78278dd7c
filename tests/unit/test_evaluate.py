"""`churnmodel evaluate` as a library: score-file metadata, realised metrics, CBPE estimates."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError, DataError
from churnmodel.evaluation import evaluate_scores
from churnmodel.modeling import cbpe
from churnmodel.scorefile import META_KEY, check_project, read_score_file, sidecar_path, write_score_file

AS_OF = "2025-03-31"


def _tables() -> Tables:
    """Eight customers active at 2025-03-31; 3, 5, 7 buy again within 30 days, 1 on day 31."""
    before = [(c, "2025-03-01") for c in range(1, 9)]
    after = [(3, "2025-04-10"), (5, "2025-04-30"), (7, "2025-04-02"), (1, "2025-05-01")]
    rows = before + after + [(99, "2025-06-30")]  # the data end on 2025-06-30
    return Tables(pd.DataFrame({"customer_id": [c for c, _ in rows],
                                "ts": pd.to_datetime([t for _, t in rows]),
                                "amount": [10.0] * len(rows)}))


# churned within 30 days of 2025-03-31: no purchase in (03-31, 04-30]
Y = {1: 1, 2: 1, 3: 0, 4: 1, 5: 0, 6: 1, 7: 0, 8: 1}


def _scores() -> pd.DataFrame:
    p = {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6, 5: 0.4, 6: 0.4, 7: 0.2, 8: 0.1}
    df = pd.DataFrame({"customer_id": list(p), "churn_probability": list(p.values())})
    df["risk_band"] = np.where(df["churn_probability"] >= 0.5, "high", "low")
    df["at_risk"] = df["churn_probability"] >= 0.65
    df["customer_value"] = [100.0, 50.0, 20.0, 10.0, 5.0, 5.0, 1.0, 1.0]
    return df


def _meta(**changes) -> dict:
    meta = {"format": "churnmodel.scores", "format_version": 1, "project": "default",
            "as_of": AS_OF, "horizon_days": 30, "threshold": 0.65, "risk_bands": [0.5],
            "model": {"name": "lightgbm", "fingerprint": "abc"}}
    return {**meta, **changes}


def test_realised_metrics_equal_an_independent_sklearn_recomputation():
    s = _scores()
    ev = evaluate_scores(s, _meta(), _tables())
    y = s["customer_id"].map(Y).to_numpy()
    p = s["churn_probability"].to_numpy()
    assert ev.status == "matured" and ev.days_run == 91
    r = ev.realised
    assert r["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert r["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert r["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert r["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-9)
    assert r["base_rate"] == 5 / 8
    # at risk: customers 1, 2, 3 (p >= 0.65): two churners of three; two of the five churners
    assert r["at_risk_precision"] == pytest.approx(2 / 3)
    assert r["at_risk_recall"] == pytest.approx(2 / 5)


def test_value_kept_and_lost_per_band_are_exact():
    ev = evaluate_scores(_scores(), _meta(), _tables())
    b = ev.bands.set_index("risk_band")
    assert list(b.index) == ["low", "high"]  # the ladder from the lowest band up
    # high: 1 (churned, 100), 2 (churned, 50), 3 (stayed, 20), 4 (churned, 10)
    assert b.loc["high", "value_lost"] == 160.0 and b.loc["high", "value_kept"] == 20.0
    assert b.loc["high", "churned"] == 3 and b.loc["high", "realised_rate"] == 0.75
    # low: 5 (stayed, 5), 6 (churned, 5), 7 (stayed, 1), 8 (churned, 1)
    assert b.loc["low", "value_lost"] == 6.0 and b.loc["low", "value_kept"] == 6.0
    assert b.loc["low", "expected_value_lost"] == pytest.approx(0.4 * 5 + 0.4 * 5 + 0.2 + 0.1)
    assert len(ev.groups) == 0  # no action column: the bands are the groups


def test_an_action_column_groups_the_value():
    s = _scores().assign(action=["retain now", "retain now", "nurture", "nurture", "monitor",
                                 "monitor", "monitor", "monitor"])
    g = evaluate_scores(s, _meta(), _tables()).groups.set_index("action")
    assert g.loc["retain now", "value_lost"] == 150.0 and g.loc["nurture", "value_kept"] == 20.0
    assert g["customers"].sum() == 8


def test_calibration_by_decile_cuts_by_rank_riskiest_first():
    ev = evaluate_scores(_scores(), _meta(), _tables())
    d = ev.deciles
    assert d["customers"].sum() == 8 and d["decile"].tolist() == list(range(1, 9))
    assert d["expected_rate"].is_monotonic_decreasing
    assert d.loc[0, "realised_rate"] == 1.0  # customer 1 churned


def test_partial_horizon_gives_the_estimate_and_what_is_settled():
    ev = evaluate_scores(_scores(), _meta(), _tables(), data_end="2025-04-15")
    assert ev.status == "partial" and ev.days_run == 15 and ev.realised is None
    assert ev.settled == {"bought_again": 2, "cancelled": 0}  # 3 (04-10) and 7 (04-02)
    assert "partially matured, 15 of 30 days" in ev.horizon_line()
    assert ev.estimated["roc_auc"] == pytest.approx(cbpe.expected_roc_auc(
        _scores()["churn_probability"].to_numpy()))


def test_a_score_date_at_or_after_the_data_end_says_no_label_has_matured():
    ev = evaluate_scores(_scores(), _meta(as_of="2025-06-30"), _tables())
    assert ev.status == "none" and ev.realised is None
    assert "no label has matured" in ev.horizon_line() and "0 of 30 days" in ev.horizon_line()
    header = ev.text().split("\n\n")[1].splitlines()[0]
    assert header.split() == ["estimated"]  # the metric table is the estimate only


def test_evaluating_as_of_a_date_before_the_score_file_is_refused():
    with pytest.raises(DataError, match="--as-of 2025-03-01 is before the score file's date"):
        evaluate_scores(_scores(), _meta(), _tables(), data_end="2025-03-01")


def test_scores_of_customers_the_data_do_not_know_are_refused():
    s = _scores()
    s["customer_id"] = s["customer_id"] + 1000
    with pytest.raises(DataError, match=r"not customers of the config's data.*\(8 rows\)"):
        evaluate_scores(s, _meta(), _tables())


# --- CBPE ------------------------------------------------------------------------------

def _outcomes(n: int):
    return [np.array(y) for y in itertools.product([0, 1], repeat=n)]


def test_expected_roc_auc_is_expected_concordant_over_expected_pairs_by_enumeration():
    p = np.array([0.9, 0.6, 0.6, 0.3, 0.1, 0.6])  # ties count one half
    num = den = 0.0
    for y in _outcomes(len(p)):
        w = np.prod(np.where(y == 1, p, 1 - p))
        pos, neg = p[y == 1], p[y == 0]
        num += w * ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
        den += w * len(pos) * len(neg)
    assert cbpe.expected_roc_auc(p) == pytest.approx(num / den, abs=1e-12)


def test_expected_average_precision_matches_enumeration_of_sklearn():
    p = np.array([0.8, 0.5, 0.5, 0.3, 0.05])
    num = den = 0.0
    for y in _outcomes(len(p)):
        if y.sum() == 0:
            continue
        w = np.prod(np.where(y == 1, p, 1 - p))
        num += w * average_precision_score(y, p) * y.sum()
        den += w * y.sum()
    assert cbpe.expected_average_precision(p) == pytest.approx(num / den, abs=1e-12)


def test_cbpe_estimates_match_a_simulation_where_y_is_bernoulli_p():
    rng = np.random.default_rng(3)
    p = np.round(rng.beta(0.8, 2.0, size=4000), 3)  # rounded: many ties, like isotonic output
    draws = rng.random((300, len(p))) < p
    auc = np.array([roc_auc_score(y, p) for y in draws])
    ap = np.array([average_precision_score(y, p) for y in draws])
    brier = np.array([np.mean((p - y) ** 2) for y in draws])
    est = cbpe.estimate(p)
    # within 4 standard errors of the simulated mean (300 draws)
    for sims, key in ((auc, "roc_auc"), (ap, "pr_auc"), (brier, "brier")):
        assert abs(sims.mean() - est[key]) < 4 * sims.std() / np.sqrt(len(sims)) + 1e-4, key
    # and the sampling spread it reports is the simulated one (within 20 %)
    assert cbpe.roc_auc_sampling_sd(p, draws=300, seed=1) == pytest.approx(auc.std(), rel=0.2)


def test_cbpe_of_an_uninformative_model_is_chance():
    assert cbpe.expected_roc_auc(np.full(100, 0.3)) == pytest.approx(0.5)
    assert cbpe.expected_average_precision(np.full(100, 0.3)) == pytest.approx(0.3, abs=0.01)


# --- score files ------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_score_file_round_trips_with_its_metadata(tmp_path, suffix):
    out = tmp_path / f"s{suffix}"
    write_score_file(_scores(), out, _meta())
    df, meta = read_score_file(out)
    assert meta == _meta()
    assert df["churn_probability"].tolist() == _scores()["churn_probability"].tolist()
    assert sidecar_path(out).exists() == (suffix == ".csv")
    ev = evaluate_scores(df, meta, _tables())  # CSV ids come back as text and still match
    assert ev.realised["n"] == 8


def test_a_parquet_file_without_churnmodel_metadata_is_refused(tmp_path):
    out = tmp_path / "other.parquet"
    _scores().to_parquet(out)
    with pytest.raises(ChurnModelError, match="is not a churnmodel score file"):
        read_score_file(out)


def test_a_csv_without_its_sidecar_is_refused(tmp_path):
    out = tmp_path / "s.csv"
    write_score_file(_scores(), out, _meta())
    sidecar_path(out).unlink()
    with pytest.raises(ChurnModelError, match="sidecar .* is missing"):
        read_score_file(out)


def test_missing_columns_and_impossible_probabilities_are_refused(tmp_path):
    out = tmp_path / "s.parquet"
    write_score_file(_scores().drop(columns="churn_probability"), out, _meta())
    with pytest.raises(DataError, match="column 'churn_probability': is missing"):
        read_score_file(out)
    bad = _scores()
    bad.loc[[0, 3], "churn_probability"] = [1.5, np.nan]
    write_score_file(bad, out, _meta())
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\] \(2 rows\)"):
        read_score_file(out)


def test_metadata_of_another_tool_is_refused(tmp_path):
    out = tmp_path / "s.parquet"
    table = pa.Table.from_pandas(_scores(), preserve_index=False)
    pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps({"format": "x"})}), out)
    with pytest.raises(ChurnModelError, match="metadata is damaged or of another tool"):
        read_score_file(out)


def test_a_score_file_of_another_project_is_refused():
    with pytest.raises(ChurnModelError, match="made by project 'shop-b', but the config is "
                                              "project 'default'"):
        check_project(_meta(project="shop-b"), Config(), "s.parquet")
    check_project(_meta(), Config(), "s.parquet")  # its own project passes
