"""Feature drift (PSI) on hand-made frames, with the numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnmodel.drift import compare, level, profile, psi, summary_line


def test_psi_by_hand():
    # (0.8 - 0.5) ln(0.8/0.5) + (0.2 - 0.5) ln(0.2/0.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.8, 0.2])) == pytest.approx(
        0.3 * math.log(1.6) + 0.3 * math.log(2.5))
    assert psi(np.array([0.25] * 4), np.array([0.25] * 4)) == 0.0


def test_an_emptied_bin_gives_a_large_but_finite_psi():
    value = psi(np.array([0.5, 0.5]), np.array([1.0, 0.0]))
    assert math.isfinite(value) and value > 2


def test_numeric_profile_cuts_at_deciles_and_counts_missing_as_a_bin():
    x = pd.Series([*range(1, 11), None, None], dtype="float64")  # 1..10 and two missing
    p = profile(pd.DataFrame({"x": x}), bins=5)["features"]["x"]
    assert p["kind"] == "numeric"
    assert p["edges"] == [2.0, 4.0, 6.0, 8.0]  # inner quintiles of 1..10, values of the data
    assert p["shares"] == pytest.approx([2 / 12] * 5, abs=1e-6)  # 2 of the 12 rows per bin
    assert p["missing"] == pytest.approx(2 / 12, abs=1e-6)


def test_repeated_values_give_fewer_bins_and_a_constant_column_one():
    counts = pd.DataFrame({"n": [0.0] * 8 + [1.0, 2.0], "c": [3.0] * 10})
    p = profile(counts)["features"]
    assert p["n"]["edges"] == [0.0, 1.0]  # deciles 0 (x8) and 1: distinct, below the max
    assert p["n"]["shares"] == pytest.approx([0.8, 0.1, 0.1])
    assert p["c"]["edges"] == [] and p["c"]["shares"] == [1.0]


def test_the_same_population_is_stable_and_a_shifted_one_is_a_major_move():
    rng = np.random.default_rng(0)
    then = pd.DataFrame({"recency_days": rng.exponential(30, 5000), "n_90d": rng.poisson(2, 5000)})
    ref = profile(then)
    same = compare(ref, then)
    assert (same["psi"] < 1e-9).all() and (same["level"] == "stable").all()
    later = then.assign(recency_days=then["recency_days"] + 60)  # everyone aged two months
    d = compare(ref, later)
    assert d["feature"].iloc[0] == "recency_days" and d["level"].iloc[0] == "major"
    assert d.set_index("feature").loc["n_90d", "psi"] < 1e-9
    assert d["biggest_move"].iloc[0].startswith("> ")  # they all moved into the top bin


def test_categories_unseen_levels_and_missing_values():
    then = pd.DataFrame({"tier": pd.Categorical(["gold", "gold", "silver", None])})
    now = pd.DataFrame({"tier": pd.Categorical(["gold", "bronze", "bronze", "bronze"])})
    ref = profile(then)
    assert ref["features"]["tier"] == {"kind": "category", "shares": {"gold": 0.5, "silver": 0.25},
                                       "missing": 0.25}
    d = compare(ref, now).iloc[0]
    # bins gold, silver, (other), missing: 0.5/0.25/0/0.25 then, 0.25/0/0.75/0 now
    expected = psi(np.array([0.5, 0.25, 0.0, 0.25]), np.array([0.25, 0.0, 0.75, 0.0]))
    assert d["psi"] == pytest.approx(expected)
    assert d["biggest_move"] == "(other): 0.0% -> 75.0%"
    assert d["missing_then"] == 0.25 and d["missing_now"] == 0.0


def test_features_missing_from_the_scored_frame_are_left_out():
    ref = profile(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]}))
    assert compare(ref, pd.DataFrame({"a": [1.0, 2.0]}))["feature"].tolist() == ["a"]


def test_levels_and_summary_line():
    assert [level(x) for x in (0.05, 0.1, 0.2, 0.26)] == ["stable", "stable", "moderate", "major"]
    d = pd.DataFrame({"feature": ["a", "b", "c"], "psi": [0.4, 0.15, 0.01],
                      "level": ["major", "moderate", "stable"],
                      "missing_then": 0.0, "missing_now": 0.0,
                      "biggest_move": ["> 5: 10.0% -> 60.0%", "x", "y"]})
    line = summary_line(d, "2025-07-01")
    assert line.startswith("drift vs 2025-07-01: 1 major (PSI > 0.25), 1 moderate of 3 features")
    assert "a 0.40 (> 5: 10.0% -> 60.0%)" in line
    assert "stable" in summary_line(d.iloc[2:], "then")
