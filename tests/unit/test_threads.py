"""churnmodel's batch work runs with one BLAS and OpenMP thread, and gives the pools back."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from churnmodel.threads import MATH_THREADS, in_one_thread, one_thread


def _threads() -> dict[str, int]:
    return {i["filepath"]: i["num_threads"] for i in threadpool_info()}


def test_the_pools_have_one_thread_inside_and_their_own_count_after():
    import numpy as np

    np.ones((2, 2)).dot(np.ones(2))  # BLAS loaded
    before = _threads()
    assert before  # numpy's BLAS at least: otherwise this test checks nothing
    with one_thread():
        inside = _threads()
    assert set(inside.values()) == {MATH_THREADS} and set(inside) == set(before)
    assert _threads() == before


def test_the_batch_entry_points_run_inside_one_thread():
    from churnmodel.backtest import backtest
    from churnmodel.explain import explain_customers
    from churnmodel.modeling.train import train
    from churnmodel.report import churn_report
    from churnmodel.scoring import customer_segments, score_customers

    @in_one_thread
    def probe() -> dict[str, int]:
        return _threads()

    assert set(probe().values()) == {MATH_THREADS}
    for fn in (train, backtest, score_customers, customer_segments, explain_customers,
               churn_report):
        # the wrapper of in_one_thread (functools.wraps keeps the name and the signature)
        assert fn.__code__ is probe.__code__, fn.__qualname__
