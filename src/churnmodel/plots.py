"""The figures of a training run: ROC, PR, calibration, gains, profit curve and SHAP.

Every function draws on a fresh matplotlib figure (headless ``Agg`` backend) and
:func:`training_plots` saves them all as PNG files for MLflow and the HTML report.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from churnmodel.features import catalog  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from churnmodel.explain import Explanation
    from churnmodel.modeling.train import TrainResult

CURVES = ("oracle",)  # drawn dashed: a reference, not a candidate


def _curves(pred: pd.DataFrame) -> list[str]:
    return [c for c in pred.columns if c not in ("customer_id", "churned")]


def _style(name: str, champion: str) -> dict:
    if name == champion:
        return {"lw": 2.4, "label": f"{name} (champion)"}
    return {"lw": 1.2, "ls": "--" if name in CURVES else "-", "label": name}


def roc_figure(pred: pd.DataFrame, champion: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    y = pred["churned"].to_numpy()
    for name in _curves(pred):
        fpr, tpr, _ = roc_curve(y, pred[name])
        ax.plot(fpr, tpr, **_style(name, champion))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test cutoff)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def pr_figure(pred: pd.DataFrame, champion: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    y = pred["churned"].to_numpy()
    for name in _curves(pred):
        prec, rec, _ = precision_recall_curve(y, pred[name])
        ax.plot(rec, prec, **_style(name, champion))
    ax.axhline(y.mean(), color="grey", lw=0.8, ls=":")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (test cutoff)")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def calibration_figure(pred: pd.DataFrame, champion: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    y = pred["churned"].to_numpy()
    for name in _curves(pred):
        frac, mean = calibration_curve(y, pred[name], n_bins=10, strategy="quantile")
        ax.plot(mean, frac, marker="o", ms=3, **_style(name, champion))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate",
           title="Calibration (test cutoff, deciles)")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def gains_figure(pred: pd.DataFrame, champion: str) -> Figure:
    """Cumulative gains (share of churners found vs share contacted) and lift."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.5))
    y = pred["churned"].to_numpy()
    share = np.arange(1, len(y) + 1) / len(y)
    for name in _curves(pred):
        order = np.argsort(-pred[name].to_numpy(), kind="stable")
        found = np.cumsum(y[order]) / y.sum()
        a1.plot(share, found, **_style(name, champion))
        a2.plot(share[share >= 0.02], (found / share)[share >= 0.02], **_style(name, champion))
    a1.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    a1.set(xlabel="share of customers contacted", ylabel="share of churners reached",
           title="Cumulative gains")
    a2.axhline(1, color="grey", lw=0.8, ls=":")
    a2.set(xlabel="share of customers contacted", ylabel="lift", title="Lift")
    a1.legend(loc="lower right", fontsize=8)
    return fig


def profit_figure(valid: pd.DataFrame, threshold: dict) -> Figure:
    """Campaign profit on the validation cutoff by share contacted, with the chosen point."""
    from churnmodel.scoring import profit_curve

    curve = profit_curve(valid["churned"].to_numpy(), valid["p"].to_numpy(),
                         valid["customer_value"].to_numpy(), threshold["offer_cost"],
                         threshold["acceptance_rate"])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(curve["share"], curve["profit"], lw=1.8)
    ax.axhline(0, color="grey", lw=0.8, ls=":")
    if threshold["contacted"] > 0:
        ax.axvline(threshold["share"], color="crimson", lw=1, ls="--")
        ax.annotate(f"flag p ≥ {threshold['threshold']:.2f}\n{threshold['share']:.0%} contacted, "
                    f"profit {threshold['profit']:,.0f}",
                    (threshold["share"], threshold["profit"]), textcoords="offset points",
                    xytext=(8, -30), fontsize=8, color="crimson")
    ax.set(xlabel="share of customers contacted (riskiest first)",
           ylabel="campaign profit", title=f"Retention profit curve (validation cutoff)\n"
                                           f"{threshold['rule']}")
    return fig


def _shap_explanation(expl: Explanation):
    import shap

    data = expl.data.copy()
    for c in data.columns:
        if not pd.api.types.is_numeric_dtype(data[c]):
            data[c] = data[c].astype("category").cat.codes.replace(-1, np.nan).astype(float)
    return shap.Explanation(values=expl.values.to_numpy(), base_values=expl.base_value,
                            data=data.to_numpy(dtype=float), feature_names=expl.feature_names)


# SHAP's scatter and beeswarm plots shuffle the drawing order (and jitter) with NumPy's
# global generator: seeded here, so that the same model and data draw the same figure, to
# the byte.
FIGURE_SEED = 0


@contextlib.contextmanager
def _seeded_global_rng(seed: int = FIGURE_SEED) -> Iterator[None]:
    """NumPy's global generator seeded inside, and left as it was outside.

    >>> before = np.random.get_state()[1].copy()
    >>> with _seeded_global_rng(): a = np.random.random_sample()
    >>> with _seeded_global_rng(): b = np.random.random_sample()
    >>> a == b, bool((np.random.get_state()[1] == before).all())
    (True, True)
    """
    # the legacy global calls are the point: that generator is the one SHAP draws from
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def shap_beeswarm_figure(expl: Explanation, max_display: int = 15) -> Figure:
    import shap

    with warnings.catch_warnings(), _seeded_global_rng():
        warnings.simplefilter("ignore")
        shap.plots.beeswarm(_shap_explanation(expl), max_display=max_display, show=False)
    fig = plt.gcf()
    fig.set_size_inches(8, 6.5)
    fig.suptitle("SHAP: what pushes churn risk up (right) or down (left)", fontsize=10)
    fig.tight_layout()
    return fig


def shap_importance_figure(importance: pd.DataFrame, top: int = 15) -> Figure:
    imp = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.barh(imp["label"], imp["mean_abs_shap"], color="#4a78b5")
    ax.set(xlabel="mean |SHAP| (log-odds)", title="Top drivers of churn risk")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return fig


def strongest_interaction(values: np.ndarray, data: np.ndarray, index: int) -> int:
    """The column that seems to interact most with column ``index``: SHAP's own choice of
    the colour of a dependence plot (``shap.utils.approximate_interactions``), vectorised.

    Sort the rows by the feature; cut them into chunks of ``inc = clip(n // 10, 1, 50)``
    rows; per other column, add up over the chunks where both vary the absolute correlation
    of the feature's SHAP values with that column's values, and again with its missingness;
    the larger of the two sums ranks the column. SHAP loops over columns and chunks in
    Python (1.7 s a figure on 5,000 rows and 82 columns); this reads the same chunks as
    arrays (0.01 s), and picks the same column (tests/unit/test_plots.py). For up to 10,000
    rows, where SHAP reads them all; above, SHAP draws 10,000 at random and is left to it.
    """
    n, k = data.shape
    srt = np.argsort(data[:, index])
    ref = values[srt, index]
    inc = max(min(int(n / 10.0), 50), 1)
    full = (n // inc) * inc  # the chunks of inc rows, then the short last one if any
    cuts = [(0, full, inc)] + ([(full, n, n - full)] if full < n else [])
    other = data[srt].astype(float)
    scores = np.zeros(k)
    for part in (other, np.isnan(other).astype(float)):  # the values, then their missingness
        total = np.zeros(k)
        for lo, hi, size in cuts:
            r = ref[lo:hi].reshape(-1, size)  # chunk x row
            v = part[lo:hi].reshape(-1, size, k)  # chunk x row x column
            r_sd, v_sd = r.std(axis=1), v.std(axis=1)
            cov = ((r - r.mean(axis=1, keepdims=True))[:, :, None]
                   * (v - v.mean(axis=1, keepdims=True))).mean(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = np.abs(np.clip(cov / (r_sd[:, None] * v_sd), -1, 1))
            total += np.where((v_sd > 0) & (r_sd > 0)[:, None], corr, 0.0).sum(axis=0)
        total[np.abs(part).sum(axis=0) < 1e-8] = 0.0  # SHAP skips an all-zero column
        total[index] = 0.0
        scores = np.maximum(scores, total)
    return int(np.argsort(-np.abs(scores), kind="stable")[0])


def shap_dependence_figure(expl: Explanation, feature: str) -> Figure:
    import shap

    e = _shap_explanation(expl)
    j = list(e.feature_names).index(feature)
    colour = strongest_interaction(e.values, e.data, j) if len(e.values) <= 10_000 else None
    with warnings.catch_warnings(), _seeded_global_rng():
        warnings.simplefilter("ignore")
        shap.plots.scatter(e[:, feature], color=e if colour is None else e[:, colour], show=False)
    fig = plt.gcf()
    fig.set_size_inches(6.5, 4.5)
    fig.suptitle(f"SHAP dependence: {catalog.label(feature)}", fontsize=10)
    fig.tight_layout()
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def training_plots(result: TrainResult, outdir: str | Path, expl: Explanation | None = None,
                   importance: pd.DataFrame | None = None, n_dependence: int = 3) -> dict[str, Path]:
    """Save every figure of ``result`` as PNG in ``outdir``; returns name -> path."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    pred, champion = result.test_predictions, result.champion
    paths: dict[str, Path] = {}
    if pred is not None:
        paths["roc"] = _save(roc_figure(pred, champion), out / "roc.png")
        paths["pr"] = _save(pr_figure(pred, champion), out / "pr.png")
        paths["calibration"] = _save(calibration_figure(pred, champion), out / "calibration.png")
        paths["gains"] = _save(gains_figure(pred, champion), out / "gains_lift.png")
    threshold = result.model.info.get("scoring")
    if result.valid_predictions is not None and threshold:
        paths["profit"] = _save(profit_figure(result.valid_predictions, threshold),
                                out / "profit_curve.png")
    if expl is not None:
        paths["shap_beeswarm"] = _save(shap_beeswarm_figure(expl), out / "shap_beeswarm.png")
        if importance is not None:
            paths["shap_importance"] = _save(shap_importance_figure(importance),
                                             out / "shap_importance.png")
            for f in importance["feature"].head(n_dependence):
                paths[f"shap_dependence_{f}"] = _save(shap_dependence_figure(expl, f),
                                                      out / f"shap_dependence_{f}.png")
    return paths
