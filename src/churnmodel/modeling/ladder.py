"""The ladder: how a run validates and tests, given how much labelled history there is.

A labelled cutoff T needs a month of history before it (features) and ``horizon_days``
after it, up to the as-of date (the label). How many such cutoffs a data set has decides
the honest scheme:

* **full**: training cutoffs, a validation cutoff and a test cutoff, each label window
  ending before the next one starts (the embargo). Every candidate is fitted on the
  training cutoffs, early-stopped and calibrated on validation, and reported on test.
* **short**: two or more labelled cutoffs, too few for the full split. A quarter of the
  customers (by id, at every cutoff) is held out; customer-grouped cross-validation on the
  rest chooses the champion, the number of trees and the calibration; the held-out
  customers at the latest labelled cutoff are the test rows.
* **minimal**: one labelled cutoff: the same hold-out and cross-validation on it.

In every step no reported metric is computed on rows a model was fitted, early-stopped
or calibrated on: cross-validated predictions are out of fold for all three (the early
stopping fold is a training fold, and the calibrator of a fold is fitted on the other
folds' out-of-fold scores), and test customers never reach any fit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from churnmodel.errors import DataError
from churnmodel.training_set import Split, cutoff_dates

STEPS = ("full", "short", "minimal")
MIN_HISTORY_DAYS = 30  # a labelled cutoff needs at least this much history before it


def labelled_cutoffs(first_ts: pd.Timestamp, as_of: pd.Timestamp, horizon_days: int,
                     n_cutoffs: int, step_months: int = 1) -> list[pd.Timestamp]:
    """Month-start cutoffs (oldest first) with a month of history and a full label window.

    >>> [str(c.date()) for c in labelled_cutoffs(pd.Timestamp("2025-01-10"),
    ...     pd.Timestamp("2025-09-30"), 90, 15)]
    ['2025-03-01', '2025-04-01', '2025-05-01', '2025-06-01', '2025-07-01']
    """
    first = pd.Timestamp(first_ts).normalize() + pd.Timedelta(days=MIN_HISTORY_DAYS)
    return [c for c in cutoff_dates(as_of, horizon_days, n_cutoffs, step_months) if c >= first]


def history_needed(horizon_days: int) -> int:
    """Days of history the minimal step needs: a month before the cutoff, the horizon after."""
    return MIN_HISTORY_DAYS + horizon_days + 31  # + up to a month to reach a month start


def plan(first_ts: pd.Timestamp, as_of: pd.Timestamp, horizon_days: int, n_cutoffs: int,
         step_months: int = 1, embargo: bool = True) -> Split:
    """The ladder step the history allows, with its cutoffs (a :class:`Split`).

    Raises :class:`DataError` saying how much more history is needed when not even one
    cutoff can be labelled.

    >>> s = plan(pd.Timestamp("2025-01-05"), pd.Timestamp("2025-09-30"), 90, 15)
    >>> s.step, str(s.test.date()), len(s.train)
    ('short', '2025-07-01', 5)
    >>> plan(pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31"), 90, 15).step
    'full'
    """
    first, as_of = pd.Timestamp(first_ts).normalize(), pd.Timestamp(as_of).normalize()
    cutoffs = labelled_cutoffs(first, as_of, horizon_days, n_cutoffs, step_months)
    if not cutoffs:
        have = (as_of - first).days + 1
        need = history_needed(horizon_days)
        raise DataError(
            "transactions", "ts",
            f"the history ({first.date()} to {as_of.date()}, {have} days) is too short to label "
            f"one cutoff: that needs {MIN_HISTORY_DAYS} days of history before a month-start "
            f"cutoff and the {horizon_days}-day label window after it (about {need} days in all, "
            f"{max(need - have, 1)} more)",
            f"provide at least {max(need - have, 1)} more days of history, a shorter [labels] "
            "horizon_days, or a later --as-of date")
    gap = pd.Timedelta(days=horizon_days if embargo else 0)
    test = cutoffs[-1]
    valids = [c for c in cutoffs[:-1] if c + gap <= test]
    if valids:
        v = valids[-1]
        train = [c for c in cutoffs if c + gap <= v and c < v]
        if train:
            return Split(train=train, valid=v, test=test, step="full",
                         reason=f"{len(cutoffs)} labelled cutoffs allow training, validation and "
                                f"test cutoffs with a {horizon_days}-day embargo")
    step = "short" if len(cutoffs) > 1 else "minimal"
    months = _months_to_full(cutoffs, horizon_days, embargo)
    why = (f"{len(cutoffs)} labelled cutoff{'s' if len(cutoffs) > 1 else ''} "
           f"({cutoffs[0].date()}..{test.date()}): too few for separate training, validation and "
           f"test cutoffs with a {horizon_days}-day embargo (about {months} more months of history "
           "would allow it); customer-grouped cross-validation chooses the champion, held-out "
           "customers test it")
    return Split(train=list(cutoffs), valid=test, test=test, step=step, reason=why)


def _months_to_full(cutoffs: Sequence[pd.Timestamp], horizon_days: int, embargo: bool) -> int:
    """Months of extra history after which the full split would exist."""
    gap_months = int(np.ceil(horizon_days / 30)) if embargo else 1
    need = 2 * gap_months + 1  # train, (embargo) valid, (embargo) test
    return max(need - len(cutoffs), 1)


def _customer_hash(ids: Sequence, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per customer id (same id, same number)."""
    codes, uniques = pd.factorize(pd.Index(ids).astype(str))
    per_id = np.array([int.from_bytes(hashlib.blake2b(f"{seed}:{u}".encode(), digest_size=8)
                                      .digest(), "little") / 2**64 for u in uniques])
    return per_id[codes]


def holdout(ids: Sequence, share: float, seed: int) -> np.ndarray:
    """True for the rows of held-out customers (about ``share`` of the customers).

    >>> m = holdout([1, 2, 1, 3] * 50, 0.25, 0)
    >>> bool((m[0::4] == m[2::4]).all())  # one customer, one side, at every cutoff
    True
    """
    return _customer_hash(ids, seed) < share


def customer_folds(ids: Sequence, k: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of each row, all rows of one customer in one fold."""
    return np.minimum((_customer_hash(ids, seed + 1) * k).astype(int), k - 1)
