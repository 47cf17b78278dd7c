"""Campaign economics, risk bands, customer value and safe output files, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.config import ScoringConfig
from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError, ConfigError
from churnmodel.scoring import (
    check_output_path,
    choose_threshold,
    customer_value,
    profit_curve,
    risk_band,
    write_table,
)

Y = np.array([1, 1, 0, 1, 0, 0])
P = np.array([0.95, 0.9, 0.8, 0.4, 0.3, 0.1])
V = np.array([200.0, 40.0, 500.0, 100.0, 50.0, 80.0])


def test_profit_curve_by_hand():
    # offer 10, acceptance 0.5: gains 90, 10, -10, 40, -10, -10
    c = profit_curve(Y, P, V, 10.0, 0.5)
    assert c["profit"].tolist() == [90.0, 100.0, 90.0, 130.0, 120.0, 110.0]
    assert c["churners_reached"].tolist() == [1, 2, 2, 3, 3, 3]
    assert c["threshold"].tolist() == P.tolist()


def test_profit_curve_ranks_by_probability_not_input_order():
    perm = np.array([3, 0, 5, 1, 4, 2])
    a = profit_curve(Y, P, V, 10.0, 0.5)
    b = profit_curve(Y[perm], P[perm], V[perm], 10.0, 0.5)
    pd.testing.assert_frame_equal(a, b)


def test_threshold_maximises_profit():
    t = choose_threshold(Y, P, V, ScoringConfig(offer_cost=10.0, acceptance_rate=0.5))
    assert t["threshold"] == 0.4 and t["contacted"] == 4 and t["profit"] == 130.0
    assert t["share"] == pytest.approx(4 / 6) and t["note"] == ""


def test_top_k_percent_overrides_profit():
    t = choose_threshold(Y, P, V, ScoringConfig(top_k_percent=50.0))
    assert t["contacted"] == 3 and t["threshold"] == 0.8 and "top 50%" in t["rule"]


def test_no_profitable_campaign_flags_nobody_and_says_so():
    t = choose_threshold(Y, P, V, ScoringConfig(offer_cost=1000.0, acceptance_rate=0.1))
    assert t["threshold"] == 1.0 and t["contacted"] == 0 and "nobody" in t["note"]


def test_risk_bands_edges_are_inclusive_from_below():
    bands = risk_band(np.array([0.0, 0.19999, 0.2, 0.5, 0.79, 0.8, 1.0]), (0.2, 0.5, 0.8))
    assert list(bands) == ["low", "low", "medium", "high", "high", "very high", "very high"]
    assert list(risk_band(np.array([0.1, 0.7]), (0.5,))) == ["low", "high"]


@pytest.mark.parametrize("bad", [{"risk_bands": [0.5, 0.2]}, {"acceptance_rate": 0.0},
                                 {"top_k_percent": 0.0}, {"offer_cost": -1.0}])
def test_bad_scoring_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        ScoringConfig(**bad)


def _tx():
    return pd.DataFrame({"customer_id": [1, 1, 1, 2, 2],
                         "amount": [100.0, 30.0, -20.0, 500.0, 10.0],
                         "ts": pd.to_datetime(["2024-01-01 00:00", "2025-03-01 00:00", "2025-06-30 18:00",
                                               "2024-06-01 00:00", "2025-07-01 00:00"])})


def test_customer_value_is_recent_net_spend_seen_at_the_date():
    v = customer_value(Tables(_tx()), pd.Timestamp("2025-06-30"), pd.Index([1, 2, 3]), 365)
    # customer 1: 30 - 20 (refund on the cutoff day counts); 2: the 500 is > 365 days old,
    # the 10 is after the date; 3: unknown
    assert v.tolist() == [10.0, 0.0, 0.0]
    assert v.index.name == "customer_id"


def test_customer_value_prefers_the_customers_value_column():
    cu = pd.DataFrame({"customer_id": [1, 2], "value": [1234.0, np.nan]})
    v = customer_value(Tables(_tx(), customers=cu), pd.Timestamp("2025-06-30"), pd.Index([2, 1]))
    assert v.tolist() == [0.0, 1234.0]


def test_write_table_by_suffix(tmp_path):
    df = pd.DataFrame({"customer_id": [1, 2], "p": [0.1, 0.9]})
    write_table(df, tmp_path / "a.csv")
    write_table(df, tmp_path / "a.parquet")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), df)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), df)


def test_an_interrupted_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "scores.csv"
    target.write_text("old\n")

    def half_write(self, path, *a, **k):
        with open(path, "w") as fh:
            fh.write("customer_id,p\n1,0.")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_write)
    with pytest.raises(KeyboardInterrupt):
        write_table(pd.DataFrame({"customer_id": [1], "p": [0.5]}), target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]


def test_output_path_checks(tmp_path):
    with pytest.raises(ChurnModelError, match="must end in .csv or .parquet"):
        check_output_path(tmp_path / "x.xlsx")
    (tmp_path / "x.csv").write_text("")
    with pytest.raises(ChurnModelError, match="--overwrite"):
        check_output_path(tmp_path / "x.csv")
    assert check_output_path(tmp_path / "x.csv", overwrite=True) == tmp_path / "x.csv"
    with pytest.raises(ChurnModelError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "x.csv")
