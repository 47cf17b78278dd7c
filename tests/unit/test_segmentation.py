"""Segmentation on hand-made tables, every expected number worked out by hand.

RFM frame (10 customers, so quintiles are pairs of ranks: ranks 1-2 score 1, 3-4 score 2, ...;
ties are ranked by customer id, the smaller id first = lower score):

    id  recency  R-rank R | frequency F-rank F | monetary M-rank M | FM = ceil((F+M)/2)  segment
     1        5      10 5 |        20     10 5 |      900     10 5 | 5   Champions
     2       10       9 5 |        12      9 5 |      700      8 4 | 5   Champions
     3       30       7 4 |         8      7 4 |      400      7 4 | 4   Champions
     4       60       4 2 |         2      2 1 |      120      4 2 | 2   Hibernating
     5      200       2 1 |         1      1 1 |       20      1 1 | 1   Lost
     6       15       8 4 |         2      3 2 |       50      2 1 | 2   Potential Loyalist
     7       60       5 3 |        10      8 4 |      800      9 5 | 5   Loyal
     8      300       1 1 |         3      4 2 |       60      3 2 | 2   Lost
     9       45       6 3 |         5      5 3 |      300      6 3 | 3   Need Attention
    10      120       3 2 |         6      6 3 |      150      5 3 | 3   At Risk

Recency ranks run from the most days (rank 1) to the fewest; customers 4 and 7 tie on 60
days (ranks 4 and 5: R 2 and 3), customers 4 and 6 tie on frequency 2 (ranks 2 and 3: F 1
and 2).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import SegmentConfig
from churnmodel.data.io import tables_from_frames
from churnmodel.data.synthetic import generate
from churnmodel.errors import DataError
from churnmodel.segmentation import (
    ACTION_TABLE,
    ACTIONS,
    RFM_SEGMENTS,
    SEGMENT_NAMES,
    behaviour_clusters,
    nps_groups,
    rfm_scores,
    risk_value_matrix,
    segment_of,
    segment_summary,
    segment_table,
)
from churnmodel.training_set import cutoff_frame

NAN = float("nan")

RFM_ROWS = {  # id: (recency_days, frequency, monetary_total)
    1: (5, 20, 900), 2: (10, 12, 700), 3: (30, 8, 400), 4: (60, 2, 120), 5: (200, 1, 20),
    6: (15, 2, 50), 7: (60, 10, 800), 8: (300, 3, 60), 9: (45, 5, 300), 10: (120, 6, 150),
}
EXPECTED = {  # id: (R, F, M, FM, segment)
    1: (5, 5, 5, 5, "Champions"), 2: (5, 5, 4, 5, "Champions"), 3: (4, 4, 4, 4, "Champions"),
    4: (2, 1, 2, 2, "Hibernating"), 5: (1, 1, 1, 1, "Lost"), 6: (4, 2, 1, 2, "Potential Loyalist"),
    7: (3, 4, 5, 5, "Loyal"), 8: (1, 2, 2, 2, "Lost"), 9: (3, 3, 3, 3, "Need Attention"),
    10: (2, 3, 3, 3, "At Risk"),
}


def _rfm_frame(ids) -> pd.DataFrame:
    rows = [RFM_ROWS[i] for i in ids]
    return pd.DataFrame(rows, columns=["recency_days", "frequency", "monetary_total"],
                        index=pd.Index(list(ids), name="customer_id"), dtype="float64")


# ----------------------------------------------------------------------------------- RFM

def test_rfm_scores_are_hand_computed_quintiles_whatever_the_row_order():
    ids = [7, 3, 10, 1, 5, 9, 2, 8, 6, 4]  # shuffled: ties are still broken by customer id
    out = rfm_scores(_rfm_frame(ids))
    assert out.index.tolist() == ids
    for i in ids:
        r, f, m, fm, seg = EXPECTED[i]
        row = out.loc[i]
        assert (row["r_score"], row["f_score"], row["m_score"], row["fm_score"]) == (r, f, m, fm), i
        assert row["rfm_score"] == f"{r}{f}{m}"
        assert row["rfm_segment"] == seg
    assert list(out["rfm_segment"].cat.categories) == list(SEGMENT_NAMES)
    assert out["r_score"].dtype == "int64"


def test_each_quintile_holds_a_fifth_of_ten_customers():
    out = rfm_scores(_rfm_frame(range(1, 11)))
    for col in ("r_score", "f_score", "m_score"):
        assert out[col].value_counts().sort_index().tolist() == [2, 2, 2, 2, 2]


def test_missing_recency_scores_one_and_the_rest_rank_among_themselves():
    f = _rfm_frame([1, 2, 3])
    f.loc[2, "recency_days"] = NAN
    out = rfm_scores(f)
    # two ranked recencies: 1 + floor(5 * (i - 1/2) / 2) = 2 and 4
    assert out["r_score"].tolist() == [4, 1, 2]


@pytest.mark.parametrize(("n", "scores"), [(1, [3]), (2, [2, 4]), (3, [1, 3, 5]), (4, [1, 2, 4, 5])])
def test_fewer_than_five_customers_still_get_scores_from_one_to_five(n, scores):
    out = rfm_scores(_rfm_frame([5, 4, 2, 1][-n:]))  # frequencies increasing with position
    assert out["f_score"].tolist() == scores


def test_rfm_needs_the_rfm_columns():
    with pytest.raises(DataError, match="monetary_total.*'rfm' builder"):
        rfm_scores(_rfm_frame([1, 2]).drop(columns="monetary_total"))


def test_every_cell_of_the_grid_maps_to_exactly_one_segment_and_all_eleven_are_reachable():
    def holds(rule, r, fm):
        return rule.r[0] <= r <= rule.r[1] and rule.fm[0] <= fm <= rule.fm[1]

    cells = [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    for r, fm in cells:
        matches = [rule.segment for rule in RFM_SEGMENTS if holds(rule, r, fm)]
        assert len(matches) == 1, (r, fm, matches)
        assert segment_of(r, fm) == matches[0]
    assert {segment_of(r, fm) for r, fm in cells} == set(SEGMENT_NAMES)
    assert len(SEGMENT_NAMES) == 11
    assert (segment_of(5, 5), segment_of(5, 1), segment_of(4, 1), segment_of(3, 3)) == (
        "Champions", "New", "Promising", "Need Attention")
    assert (segment_of(1, 5), segment_of(1, 1), segment_of(2, 2)) == (
        "Can't Lose Them", "Lost", "Hibernating")


# ---------------------------------------------------------------------------- clustering

BLOBS = {  # (frequency, monetary_total) centre: size; 4 blobs far apart on the log scale
    (2.0, 10.0): 40, (2.0, 1000.0): 30, (100.0, 10.0): 20, (100.0, 1000.0): 10,
}


def _blobs() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    parts = []
    for (freq, money), size in BLOBS.items():
        parts.append(pd.DataFrame({
            "frequency": freq * np.exp(rng.normal(0, 0.05, size)),
            "monetary_total": money * np.exp(rng.normal(0, 0.05, size)),
            "region": "north",  # not numeric: never clustered
        }))
    df = pd.concat(parts, ignore_index=True)
    df.index = pd.Index(5000 + rng.permutation(len(df)), name="customer_id")
    return df


CFG = SegmentConfig(k_min=2, k_max=6, silhouette_sample=5000, seed=0)


def test_four_separated_blobs_give_four_clusters_by_the_best_silhouette():
    res = behaviour_clusters(_blobs(), CFG)
    assert set(res.silhouette) == {2, 3, 4, 5, 6}
    assert res.k == max(res.silhouette, key=lambda k: res.silhouette[k]) == 4
    assert res.columns == ["frequency", "monetary_total"]


def test_silhouette_on_a_sample_still_finds_the_four_blobs():
    res = behaviour_clusters(_blobs(), SegmentConfig(k_min=2, k_max=6, silhouette_sample=60, seed=0))
    assert res.k == 4


def test_clusters_are_numbered_by_size_and_hold_the_blobs():
    df = _blobs()
    res = behaviour_clusters(df, CFG)
    assert res.labels.index.equals(df.index)
    assert res.labels.value_counts().sort_index().tolist() == [40, 30, 20, 10]
    assert res.profiles["size"].tolist() == [40, 30, 20, 10]
    assert res.profiles["share"].tolist() == [0.4, 0.3, 0.2, 0.1]
    high = (df["frequency"] > 50) & (df["monetary_total"] > 500)
    assert (res.labels[high] == 3).all()
    assert res.profiles.loc[3, "frequency"] == pytest.approx(100, rel=0.1)


def test_clustering_is_deterministic_and_ignores_row_order():
    df = _blobs()
    a, b = behaviour_clusters(df, CFG), behaviour_clusters(df, CFG)
    c = behaviour_clusters(df.sample(frac=1.0, random_state=9), CFG)
    assert a.labels.equals(b.labels)
    assert a.labels.equals(c.labels.reindex(df.index))
    assert a.silhouette == b.silhouette and a.names == b.names


def test_cluster_names_are_generated_from_the_vocabulary_one_per_cluster():
    res = behaviour_clusters(_blobs(), CFG)
    assert sorted(res.names) == [0, 1, 2, 3]
    assert all(isinstance(n, str) and n for n in res.names.values())
    assert len(set(res.names.values())) == 4
    # the median customer is in the largest blob; the others differ on one or both axes
    assert [res.names[c] for c in (0, 1, 2)] == ["typical", "high spend", "frequent"]
    assert set(res.names[3].split(", ")) == {"frequent", "high spend"}
    assert res.profiles["name"].tolist() == [res.names[c] for c in range(4)]


def test_cluster_profiles_carry_churn_rate_and_satisfaction_medians():
    df = _blobs().assign(churned=0, csat_mean=4.0)
    df.loc[df["frequency"] > 50, "churned"] = 1
    res = behaviour_clusters(df, CFG, columns=["frequency", "monetary_total"])
    assert res.profiles["churn_rate"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert "csat_mean" not in res.columns  # not clustered on, but still profiled
    assert res.profiles["csat_mean"].tolist() == [4.0] * 4  # the median, under the feature's name
    assert "mean_csat" not in res.profiles.columns


def test_missing_values_are_imputed_not_dropped():
    df = _blobs()
    df.iloc[:5, 0] = NAN
    res = behaviour_clusters(df, CFG)
    assert res.labels.notna().all() and len(res.labels) == len(df)


def test_too_few_customers_is_a_clear_data_error():
    with pytest.raises(DataError, match=r"3 customers, too few for 3 clusters.*k_min"):
        behaviour_clusters(_blobs().head(3), SegmentConfig())


def test_no_usable_column_is_a_clear_data_error():
    df = pd.DataFrame({"region": ["a", "b", "c", "d", "e"], "frequency": 1.0})  # constant
    with pytest.raises(DataError, match="no usable column"):
        behaviour_clusters(df, SegmentConfig(k_min=2))
    with pytest.raises(DataError, match="Did you mean 'frequency'"):
        behaviour_clusters(_blobs(), CFG, columns=["frequncy"])


# ----------------------------------------------------------------------------------- NPS

def test_nps_groups_cut_at_six_and_eight_and_keep_non_answers():
    f = pd.DataFrame({"nps_last": [0.0, 6.0, 7.0, 8.0, 9.0, 10.0, NAN]},
                     index=pd.Index(range(7), name="customer_id"))
    g = nps_groups(f)
    assert g.tolist() == ["detractor", "detractor", "passive", "passive", "promoter", "promoter",
                          "no answer"]
    assert list(g.cat.categories) == ["detractor", "passive", "promoter", "no answer"]
    assert g.index.equals(f.index)


def test_nps_groups_fall_back_on_the_mean_answer():
    g = nps_groups(pd.DataFrame({"nps_mean": [6.5, 6.6, 8.5, 8.6]}))
    assert g.tolist() == ["detractor", "passive", "passive", "promoter"]


# ------------------------------------------------------------------------------ risk x value

def test_risk_value_bands_actions_and_totals_by_hand():
    ids = pd.Index(range(1, 11), name="customer_id")
    p = pd.Series([0.05, 0.1, 0.2, 0.3, 0.8, 0.3, 0.6, 0.9, 0.15, 0.5], index=ids)
    v = pd.Series([10.0, 20, 30, 40, 50, 60, 70, 80, 90, 100], index=ids)
    # value quantiles: 50 % = 55, 80 % = 82 -> low 10-50, medium 60-80, high 90-100
    per, summary = risk_value_matrix(p, v)
    assert per["risk_band"].tolist() == ["low", "low", "medium", "medium", "high",
                                         "medium", "high", "high", "low", "high"]
    assert per["value_band"].tolist() == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2
    assert per["action"].tolist() == ["monitor", "monitor", "monitor", "monitor", "let go",
                                      "nurture", "retain now", "retain now", "nurture", "retain now"]
    cells = summary.set_index(["risk_band", "value_band"])
    assert len(summary) == 7  # the occupied cells only
    assert summary["customers"].sum() == 10
    assert summary["total_value"].sum() == pytest.approx(550)
    assert summary["expected_value_at_risk"].sum() == pytest.approx(float((p * v).sum()))
    assert cells.loc[("high", "medium"), "customers"] == 2
    assert cells.loc[("high", "medium"), "expected_value_at_risk"] == pytest.approx(0.6 * 70 + 0.9 * 80)
    assert cells.loc[("medium", "low"), "total_value"] == 70
    assert ("medium", "high") not in cells.index
    assert summary.iloc[0][["risk_band", "value_band", "action"]].tolist() == ["high", "high", "retain now"]


def test_with_decisions_the_matrix_counts_what_scoring_decided():
    """Band and action come from scoring (one per customer), so a cell can hold several."""
    ids = pd.Index([1, 2, 3, 4], name="customer_id")
    p = pd.Series([0.9, 0.95, 0.1, 0.3], index=ids)
    v = pd.Series([100.0, 100.0, 1.0, 2.0], index=ids)
    bands = pd.CategoricalDtype(["low", "medium", "high", "very high"], ordered=True)
    decided = pd.DataFrame({
        "risk_band": pd.Series(["very high", "very high", "low", "medium"], index=ids, dtype=bands),
        "state": ["active", "lapsed", "active", "active"], "at_risk": [True, False, False, False],
        "action": ["retain now", "win back", "monitor", "monitor"]}, index=ids)
    per, summary = risk_value_matrix(p, v, decided=decided)
    assert per["action"].tolist() == ["retain now", "win back", "monitor", "monitor"]
    assert per["state"].tolist() == ["active", "lapsed", "active", "active"]
    top = summary.iloc[:2]
    assert top["risk_band"].astype(str).tolist() == ["very high", "very high"]
    assert top["action"].tolist() == ["retain now", "win back"]
    assert summary["customers"].sum() == 4


def test_the_action_table_covers_the_nine_cells_with_four_of_the_actions():
    assert len(ACTION_TABLE) == 9
    assert set(ACTION_TABLE.values()) == {"retain now", "nurture", "monitor", "let go"}
    assert set(ACTIONS) == {"retain now", "nurture", "monitor", "win back", "let go"}


def test_risk_value_needs_a_value_for_every_scored_customer():
    p = pd.Series([0.1, 0.9], index=[1, 2])
    with pytest.raises(DataError, match="value.*missing"):
        risk_value_matrix(p, pd.Series([5.0], index=[1]))


# ---------------------------------------------------------------------------- summaries

def test_segment_summary_counts_shares_rates_and_value():
    table = pd.DataFrame({
        "rfm_segment": pd.Categorical(["Champions", "Champions", "Lost", "Lost", "Lost"],
                                      categories=list(SEGMENT_NAMES)),
        "churn_probability": [0.1, 0.3, 0.6, 0.8, 1.0],
        "customer_value": [100.0, 50.0, 5.0, 5.0, 0.0],
    }, index=pd.Index([1, 2, 3, 4, 5], name="customer_id"))
    churned = pd.Series([0, 1, 1, 1, 0], index=[5, 4, 3, 2, 1])  # aligned by customer
    s = segment_summary(table, churned=churned)
    assert s["customers"].sum() == 5 and len(s) == 11
    assert s.loc["Champions"].tolist() == pytest.approx([2, 0.4, 0.2, 0.5, 150.0])
    assert s.loc["Lost"].tolist() == pytest.approx([3, 0.6, 0.8, 2 / 3, 10.0])
    assert s.loc["Loyal", "customers"] == 0


# ---------------------------------------------------------------------------- end to end

def test_segment_table_end_to_end_on_synthetic_features():
    start = time.perf_counter()
    d = generate(customers=2000, seed=1, end="2025-12-31", years=3)
    tables = tables_from_frames({"transactions": d.transactions, "feedback": d.feedback,
                                 "tickets": d.tickets, "customers": d.customers})
    frame = cutoff_frame(tables, pd.Timestamp("2025-09-01"),
                         ("rfm", "satisfaction", "service", "profile"), 90, 365)
    churned = frame["churned"].droplevel("cutoff")
    p = (0.1 + 0.6 * churned).astype("float64")  # a stand-in for model scores
    table = segment_table(frame, churn_probability=p, cfg=SegmentConfig(seed=1))
    n = len(frame)
    assert n > 500 and len(table) == n and table.index.name == "customer_id"
    assert table.index.equals(churned.index)
    assert table["r_score"].between(1, 5).all() and table["rfm_segment"].notna().all()
    assert table["cluster"].between(0, 7).all() and table["cluster_name"].notna().all()
    assert set(table["nps_group"].cat.categories) >= {"promoter", "no answer"}
    assert table["action"].notna().all()
    for by in ("rfm_segment", "cluster", "nps_group", "action"):
        s = segment_summary(table, by=by, churned=churned)
        assert s["customers"].sum() == n
        assert s["share"].sum() == pytest.approx(1.0)
    assert "name" in segment_summary(table, by="cluster").columns
    # recency drives the RFM map: Champions churn less than Lost customers
    s = segment_summary(table, churned=churned)
    assert s.loc["Champions", "churn_rate"] < s.loc["Lost", "churn_rate"]
    assert time.perf_counter() - start < 15
