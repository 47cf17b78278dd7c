"""One thread for the numerical libraries' own pools while churnmodel works.

LightGBM already trains, predicts and explains on the threads churnmodel gives it
(``[model] n_jobs``, ``PREDICT_THREADS``), and the clustering's k-means ran on one OpenMP
thread (``segmentation``, measured 8-15x faster on a loaded machine; it now uses
:func:`one_thread` too). What was left were the pools numpy, SciPy and scikit-learn start by
themselves: OpenBLAS under the logistic baselines, calibration and the lifetime models'
optimisers, OpenMP wherever a library reaches for it. Their threads wait by spinning, and
the matrices here are tall and narrow (customers x a few dozen features), where a second
thread has little to split. Measured on a 2-core machine (2026-12-07,
tests/model/test_real_log_shapes.py's four scenario backtests, 2,500 customers each, run
alone): 82.3 s wall / 103.8 s CPU with the libraries' defaults, 71.6 s / 73.4 s with one
OpenMP and BLAS thread; the whole file 173 s / 207 s CPU against 152 s / 158 s. The whole
test suite on two workers, before and after this module, run back to back: 933 s / 1,399 s
CPU against 885 s / 1,295 s.

So the commands (:func:`churnmodel.cli.main`) and the batch work a notebook or the Python
API calls (:func:`churnmodel.train`, :func:`churnmodel.backtest.backtest`,
:func:`churnmodel.scoring.score_customers`, :func:`churnmodel.scoring.customer_segments`,
:func:`churnmodel.explain.explain_customers`, :func:`churnmodel.report.churn_report`) run
inside :func:`one_thread`. It restores the pools on the way out, so a notebook's own numpy
work is left as it was. LightGBM sets its thread count on every call, so ``[model] n_jobs``
above 1 still takes effect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# threads of the BLAS and OpenMP pools inside churnmodel's work
MATH_THREADS = 1


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and OpenMP pools limited to :data:`MATH_THREADS` inside the block, restored after.

    >>> import numpy as np
    >>> with one_thread():
    ...     float(np.ones((3, 3)).dot(np.ones(3)).sum())
    9.0
    """
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    with threadpool_limits(limits=MATH_THREADS):
        yield


def in_one_thread(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run inside :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper
