"""churnmodel profile on a hand-made purchase log: every figure by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from churnmodel.config import Config, LabelConfig
from churnmodel.data.tables import Tables
from churnmodel.profiling import horizon_warnings, profile_history, suggest_horizon


@pytest.fixture
def log() -> Tables:
    # A: three purchases (gaps 10 and 30 days); B: one; C: two, 90 days apart
    tx = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B", "C", "C"],
        "ts": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-02-10", "2025-01-05",
                              "2025-03-01", "2025-05-30"]),
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
    })
    return Tables(tx)


def test_profile_of_a_hand_made_log(log):
    p = profile_history(log, Config(labels=LabelConfig(horizon_days=90)))
    assert (str(p.first.date()), str(p.last.date()), p.customers, p.transactions) == (
        "2025-01-01", "2025-05-30", 3, 6)
    assert p.arrivals.to_dict() == {"2025-01": 2, "2025-03": 1}
    assert p.one_time_share == pytest.approx(1 / 3, abs=1e-4)
    # gaps 10, 30, 90: numpy's linear quantiles
    assert p.gap_quantiles[0.5] == 30 and p.gap_quantiles[0.1] == pytest.approx(14)
    assert p.gap_quantiles[0.9] == pytest.approx(78)
    assert p.suggested_horizon == 90  # 85% quantile 72 days, rounded up to 3 months
    # H=90: cutoff 2025-03-01, everyone active, only C buys in the window
    assert p.base_rates[90] == {"cutoff": "2025-03-01", "customers": 3, "base_rate": 0.6667}
    assert p.base_rates[30]["base_rate"] == 1.0 and p.base_rates[30]["cutoff"] == "2025-04-01"
    assert p.base_rates[120] == {"base_rate": None, "why": "history too short"}
    assert p.ladder_steps == []  # five months cannot label a cutoff with a 90-day horizon
    assert (p.order_quantiles[0.1], p.order_quantiles[0.5], p.order_quantiles[0.9]) == (15, 35, 55)
    assert p.value_quantiles[0.5] == 60  # yearly spend: A 60, B 40, C 110
    assert p.share_above_break_even == 0.0  # nobody is worth 30 / 0.25 = 120
    assert len(p.warnings) == 1 and "base rate is 67%" in p.warnings[0]
    text = p.text()
    assert "one-time buyers (one purchase day up to 2025-05-30): 33.3%" in text
    assert "50% within 30" in text and "<- configured" in text


def test_a_horizon_shorter_than_the_usual_gap_is_warned_with_the_suggestion():
    w = horizon_warnings(60, 75.0, 0.57, 120)
    assert len(w) == 1 and "shorter than the median gap between repeat purchases (75 days)" in w[0]
    assert "Suggested: horizon_days = 120" in w[0]
    assert "below 2%" in horizon_warnings(365, 20.0, 0.01, 60)[0]
    assert horizon_warnings(90, 30.0, 0.3, 90) == []


def test_suggested_horizon_rounds_the_85th_percentile_gap_up_to_months():
    import numpy as np

    assert suggest_horizon(np.array([31.0] * 100)) == 60
    assert suggest_horizon(np.array([5.0] * 100)) == 30
