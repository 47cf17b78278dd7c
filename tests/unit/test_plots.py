"""The dependence plot's colour column is SHAP's own choice, found without SHAP's loops."""

from __future__ import annotations

import numpy as np
import pytest

from churnmodel.plots import strongest_interaction


def _shap_choice(values: np.ndarray, data: np.ndarray, index: int) -> int:
    from shap.utils import approximate_interactions

    return int(approximate_interactions(index, values, data)[0])


def test_a_hand_made_interaction_is_found():
    """Column 1 decides how steep column 0's effect is; column 2 is noise."""
    rng = np.random.default_rng(0)
    x0, x1, x2 = rng.normal(size=(3, 400))
    values = np.column_stack([x0 * (1 + 2 * (x1 > 0)), 0.1 * x1, 0.01 * x2])
    data = np.column_stack([x0, x1, x2])
    assert strongest_interaction(values, data, 0) == 1 == _shap_choice(values, data, 0)


@pytest.mark.parametrize("n", [7, 59, 300, 1234])
def test_every_column_gets_shaps_choice_with_gaps_constants_and_flags(n):
    """Rows not a multiple of the chunk, missing values, a constant and an all-zero column,
    a 0/1 flag and a column missing in a block of rows (its missingness interacts)."""
    rng = np.random.default_rng(n)
    data = rng.normal(size=(n, 8))
    data[:, 2] = 3.0
    data[:, 3] = 0.0
    data[:, 4] = rng.random(n) < 0.3
    data[rng.random(n) < 0.1, 5] = np.nan
    data[: n // 3, 6] = np.nan
    values = rng.normal(size=(n, 8)) * 0.1
    values[:, 0] += data[:, 0] * np.where(np.isnan(data[:, 6]), 2.0, 0.5)
    values[:, 1] += data[:, 1] * (1 + data[:, 4])
    for j in range(data.shape[1]):
        assert strongest_interaction(values, data, j) == _shap_choice(values, data, j), j


def _explanation(n: int = 300):
    import pandas as pd

    from churnmodel.explain import Explanation

    rng = np.random.default_rng(3)
    data = pd.DataFrame({"recency_days": rng.integers(0, 365, n).astype(float),
                         "frequency": rng.integers(1, 20, n).astype(float),
                         "csat_mean": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(1, 5, n))})
    values = pd.DataFrame({c: rng.normal(0, 0.5, n) for c in data.columns})
    return Explanation(values=values, base_value=np.full(n, -1.0), data=data)


def test_the_shap_figures_are_the_same_to_the_byte_and_leave_numpys_generator_alone(tmp_path):
    """SHAP's scatter shuffles and jitters with NumPy's global generator: the same model and
    data must still draw the same PNG, whatever the generator's state before."""
    from churnmodel.plots import _save, shap_beeswarm_figure, shap_dependence_figure

    expl = _explanation()
    pngs = []
    for i, seed in enumerate((1, 2)):
        np.random.seed(seed)  # noqa: NPY002 (a caller's own use of the global generator)
        after = np.random.get_state()[1].copy()  # noqa: NPY002
        pngs.append((_save(shap_dependence_figure(expl, "recency_days"), tmp_path / f"d{i}.png")
                     .read_bytes(),
                     _save(shap_beeswarm_figure(expl), tmp_path / f"b{i}.png").read_bytes()))
        assert (np.random.get_state()[1] == after).all()  # noqa: NPY002 (left as it was)
    assert pngs[0][0] == pngs[1][0] and pngs[0][1] == pngs[1][1]
