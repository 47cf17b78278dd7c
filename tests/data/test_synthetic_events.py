"""The generator's engagement log: its own random stream, the hidden state behind it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnmodel.data.synthetic import EVENT_TYPES, SCENARIOS, generate


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_turning_events_off_leaves_every_other_table_and_the_oracle_identical(scenario):
    on = generate(customers=300, seed=5, scenario=scenario)
    off = generate(customers=300, seed=5, scenario=scenario, events="none")
    assert off.events is None and on.events is not None and len(on.events) > 0
    for name in ("transactions", "feedback", "tickets", "customers", "oracle"):
        a, b = getattr(on, name), getattr(off, name)
        assert (a is None) == (b is None)
        if a is not None:
            pd.testing.assert_frame_equal(a, b)
    assert on.meta["events"] == "default" and off.meta["events"] == "none"


def test_the_log_follows_the_contract_and_is_reproducible():
    a = generate(customers=400, seed=9).events
    b = generate(customers=400, seed=9).events
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["customer_id", "ts", "event_type", "value"]
    assert set(a["event_type"].unique()) == set(EVENT_TYPES)
    assert a["ts"].is_monotonic_increasing
    sessions = a["event_type"] == "session"
    assert a.loc[sessions, "value"].gt(0).all() and a.loc[~sessions, "value"].isna().all()


def test_customers_who_stopped_buying_long_ago_only_open_a_fading_trickle_of_emails():
    d = generate(customers=2_000, seed=11)
    tx, ev = d.transactions, d.events
    end = tx["ts"].max()
    last_buy = tx.groupby("customer_id")["ts"].max()
    gone = last_buy[last_buy < end - pd.Timedelta(days=540)].index  # 18 months silent: gone
    assert len(gone) > 50
    year = end - pd.Timedelta(days=365)
    late = ev[ev["customer_id"].isin(gone) & (ev["ts"] > year)]
    # in the last year few of them show any sign (the rare slow buyers still alive among
    # them), and most of what shows are email opens
    assert late["customer_id"].nunique() / len(gone) < 0.15
    assert (late["event_type"] == "email_open").mean() > 0.6
    recent = last_buy[last_buy > end - pd.Timedelta(days=30)].index
    alive = ev[ev["customer_id"].isin(recent) & (ev["ts"] > year)]
    assert len(alive) / len(recent) > 20 * len(late) / len(gone)
    assert (alive["event_type"] == "email_open").mean() < 0.4


def test_more_purchases_come_with_more_visits():
    d = generate(customers=2_000, seed=12)
    n_tx = d.transactions.groupby("customer_id").size()
    visits = d.events[d.events["event_type"] != "email_open"].groupby("customer_id").size()
    both = pd.concat([n_tx, visits], axis=1).fillna(0)
    assert np.corrcoef(np.log1p(both.iloc[:, 0]), np.log1p(both.iloc[:, 1]))[0, 1] > 0.5


def test_a_thin_log_is_about_twenty_events_a_customer_beside_the_same_purchases():
    """``events="thin"`` (the benchmark's 20M events at 1M customers): the same customers,
    purchases and oracle, a log about 15x sparser with every event type still in it."""
    full = generate(customers=1_000, seed=8)
    thin = generate(customers=1_000, seed=8, events="thin")
    for name in ("transactions", "feedback", "tickets", "customers", "oracle"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(thin, name))
    per_customer = len(thin.events) / 1_000
    assert 15 <= per_customer <= 30 and len(full.events) / 1_000 > 250
    assert set(thin.events["event_type"]) == set(full.events["event_type"])
    assert thin.meta["events"] == "thin"
