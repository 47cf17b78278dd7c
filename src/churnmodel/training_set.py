"""Stacking cutoffs into a training set, and splitting it in time.

Cutoffs are month starts, one a month, the latest being the last month start whose label
window ends by the as-of date. The latest cutoff is the test cutoff; validation is the
latest cutoff whose label window ends before the test cutoff, and training uses cutoffs
whose windows end before the validation cutoff. This *embargo* is what a model deployed on
the test date would really have known: no label of a training row looks past the date it
is evaluated on. Never a random split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnmodel.data.tables import Tables
from churnmodel.errors import ConfigError, DataError
from churnmodel.features import build_features
from churnmodel.labels import active_customers, churn_labels


def cutoff_dates(as_of: pd.Timestamp | str, horizon_days: int, n_cutoffs: int,
                 step_months: int = 1) -> list[pd.Timestamp]:
    """Month-start cutoffs, oldest first, whose label windows end by ``as_of``.

    >>> [str(c.date()) for c in cutoff_dates("2025-12-31", 90, 3)]
    ['2025-08-01', '2025-09-01', '2025-10-01']
    """
    for key, value in (("[labels] horizon_days", horizon_days), ("[training] n_cutoffs", n_cutoffs),
                       ("[training] cutoff_step_months", step_months)):
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, got {value}.")
    latest = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=horizon_days)
    last = latest.to_period("M").to_timestamp()  # month start on or before `latest`
    return [last - pd.DateOffset(months=step_months * k) for k in range(n_cutoffs)][::-1]


@dataclass(frozen=True)
class Split:
    """Cutoffs of one run and the ladder step that uses them (:mod:`churnmodel.modeling.ladder`).

    In the ``full`` step they are disjoint in time; in ``short`` and ``minimal`` the
    validation and test cutoff is the latest labelled one, split by customer.
    """

    train: list[pd.Timestamp]
    valid: pd.Timestamp
    test: pd.Timestamp
    step: str = "full"
    reason: str = ""


def time_split(cutoffs: Sequence[pd.Timestamp], horizon_days: int, embargo: bool = True) -> Split:
    """Test = latest cutoff; validation and training before it, with the embargo above.

    >>> cs = [pd.Timestamp(f"2025-{m:02d}-01") for m in range(1, 11)]
    >>> s = time_split(cs, 90)
    >>> str(s.test.date()), str(s.valid.date()), [str(c.date()) for c in s.train][-1]
    ('2025-10-01', '2025-07-01', '2025-04-01')
    """
    cs = sorted(cutoffs)
    gap = pd.Timedelta(days=horizon_days if embargo else 0)
    test = cs[-1]
    valid = [c for c in cs[:-1] if c + gap <= test]
    if not valid:
        raise DataError("transactions", "ts", f"{len(cs)} cutoffs are too few for a train / "
                        "validation / test split in time", "add history or raise [training] n_cutoffs")
    v = valid[-1]
    train = [c for c in cs if c + gap <= v and c < v]
    if not train:
        raise DataError("transactions", "ts", f"no training cutoff lies {horizon_days} days before "
                        f"the validation cutoff {v.date()}",
                        "raise [training] n_cutoffs, or provide more history")
    return Split(train=train, valid=v, test=test)


def cutoff_frame(tables: Tables, cutoff: pd.Timestamp, builders: Sequence[str],
                 horizon_days: int, activity_lookback_days: int,
                 max_customers: int | None = None, seed: int = 0,
                 with_labels: bool = True, population: pd.Index | None = None) -> pd.DataFrame:
    """Features (and the label) of the active population at one cutoff.

    Index: ``(cutoff, customer_id)``; columns: features, then ``churned`` if labelled.
    ``population``: these customers instead of those active at the cutoff (the Spark engine
    passes each bucket's share of them).
    """
    given = population is not None
    pop: pd.Index = (population if population is not None
                     else active_customers(tables, cutoff, activity_lookback_days))
    if not with_labels and len(pop) == 0 and not given:  # scoring: an empty answer would look like success
        raise nobody_active(tables, cutoff, activity_lookback_days)
    if max_customers is not None and max_customers < 1:
        raise ConfigError(f"[training] max_customers_per_cutoff must be at least 1, got {max_customers}.")
    if max_customers is not None and len(pop) > max_customers:
        rng = np.random.default_rng([seed, int(cutoff.value // 10**9)])
        pop = pop[np.sort(rng.choice(len(pop), max_customers, replace=False))]
    feats = build_features(tables, cutoff, pop, builders)
    if with_labels:
        feats["churned"] = churn_labels(tables, cutoff, pop, horizon_days)
    feats.index = pd.MultiIndex.from_arrays(
        [np.full(len(pop), cutoff), pop], names=["cutoff", "customer_id"])
    return feats


class CutoffCache:
    """Labelled cutoff frames of one data set, reused by trainings as of different dates.

    The backtest trains as of several dates on the same tables; their monthly cutoffs
    overlap (three folds three months apart share most of theirs). A labelled frame at
    cutoff ``c`` depends only on the data before ``c`` (features, population: the
    point-in-time rule, tests/data/test_point_in_time.py), on the data in ``c``'s label
    window, and on the builders with what they learned, the horizon, the lookback, the
    sample cap and the seed, which make the key. Every training whose tables reach the
    end of that window sees the same rows there (:meth:`Tables.until` cuts at the as-of
    date; a training whose tables end before it fails on the label instead), so the frame
    it would build is this one. The cache belongs to one ``base`` table set: ``train``
    refuses another.
    """

    def __init__(self, base: Tables) -> None:
        self.base = base
        self._frames: dict[tuple, pd.DataFrame] = {}
        self.hits = 0
        self.misses = 0

    def check(self, tables: Tables) -> None:
        """Refuse tables that are not the cache's own (a programming error)."""
        if tables is not self.base:
            raise ValueError("this CutoffCache holds frames of other tables: create one per "
                             "table set and pass that same Tables object to train")

    def cutoff_frame(self, tables: Tables, cutoff: pd.Timestamp, builders: Sequence[str],
                     horizon_days: int, activity_lookback_days: int,
                     max_customers: int | None = None, seed: int = 0) -> pd.DataFrame:
        """:func:`cutoff_frame` (labelled) of ``tables``, a cut of the base; built the first
        time its key is asked for (the seed counts only with a cap)."""
        key = (pd.Timestamp(cutoff), tuple(builders), horizon_days, activity_lookback_days,
               max_customers, seed if max_customers is not None else None)
        if key in self._frames:
            self.hits += 1
        else:
            self.misses += 1
            self._frames[key] = cutoff_frame(tables, cutoff, builders, horizon_days,
                                             activity_lookback_days, max_customers, seed)
        return self._frames[key]


def training_set(tables: Tables, cutoffs: Sequence[pd.Timestamp], builders: Sequence[str],
                 horizon_days: int = 90, activity_lookback_days: int = 365,
                 max_customers_per_cutoff: int | None = None, seed: int = 0,
                 progress: bool = False, cache: CutoffCache | None = None) -> pd.DataFrame:
    """Stack :func:`cutoff_frame` over ``cutoffs`` (one row per customer and cutoff).

    ``cache``: frames built before for ``tables``' base (:class:`CutoffCache`) are reused.
    """
    it = cutoffs
    if progress:
        from tqdm import tqdm

        it = tqdm(cutoffs, desc="features per cutoff", unit="cutoff", leave=False)

    build = cache.cutoff_frame if cache is not None else cutoff_frame
    frames = [build(tables, c, builders, horizon_days, activity_lookback_days,
                    max_customers_per_cutoff, seed) for c in it]
    return stack_cutoffs(frames, cutoffs, activity_lookback_days)


def nobody_active(tables: Tables, cutoff: pd.Timestamp, activity_lookback_days: int) -> DataError:
    """The error of scoring at a date with no active customer (any engine)."""
    return DataError("transactions", "ts", f"has no customer active at {cutoff.date()} (a "
                     f"purchase in the {activity_lookback_days} days up to it; the data end on "
                     f"{tables.transactions['ts'].max().date()})",
                     "use an as-of date (--as-of) inside the history")


def stack_cutoffs(frames: Sequence[pd.DataFrame], cutoffs: Sequence[pd.Timestamp],
                  activity_lookback_days: int) -> pd.DataFrame:
    """The training set of the cutoffs' frames (any engine): the non-empty ones stacked with
    one dtype per categorical column; an error when every cutoff is empty."""
    kept = [f for f in frames if len(f)]
    if not kept:
        span = f"{min(cutoffs).date()}..{max(cutoffs).date()}" if len(cutoffs) else "none"
        raise DataError("transactions", "ts", f"no customer is active at any training cutoff "
                        f"({span}: a purchase in the {activity_lookback_days} days up to it)",
                        "check the as-of date (by default the latest event in any table: one "
                        "stray future date moves it) and [labels] activity_lookback_days")
    return pd.concat(_unify_categories(kept))


def _unify_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Give each categorical column the union of its levels over all cutoffs (one dtype)."""
    cats: dict[str, set] = {}
    for f in frames:
        for col in f.columns:
            if isinstance(f[col].dtype, pd.CategoricalDtype):
                cats.setdefault(col, set()).update(f[col].cat.categories)
    dtypes = {c: pd.CategoricalDtype(sorted(v, key=str)) for c, v in cats.items()}
    out = []
    for f in frames:  # only the columns whose levels differ (astype over all: 7x slower)
        change = {c: d for c, d in dtypes.items() if c in f.columns and f[c].dtype != d}
        if change:
            f = f.copy(deep=False)
            for c, d in change.items():
                f[c] = f[c].astype(d)
        out.append(f)
    return out
