"""Batch scoring: who is at risk, how much value is at stake, and why.

The pieces, each usable on its own:

* :func:`customer_value` — what keeping a customer is worth (the customers table's
  ``value`` column, else net spend over a recent window);
* :func:`profit_curve` / :func:`choose_threshold` — the retention-campaign economics on
  the validation cutoff that fix the ``at_risk`` probability threshold at training;
* :func:`score_frame` — probabilities, risk bands, at-risk flags (:mod:`churnmodel.risk`)
  and drivers (:mod:`churnmodel.explain`) for a feature frame (what the MLflow pyfunc and
  the REST server return);
* :func:`score_customers` — everything above for every customer active at a date;
* :func:`customer_segments` — the segments of :mod:`churnmodel.segmentation` (RFM, clusters,
  NPS, risk x value) of every customer active at a date, scored with the model when given:
  what ``churnmodel segment`` writes and the report's segment tables are made of;
* :func:`check_output_path` / :func:`write_table` — safe, atomic output files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel.config import Config, ScoringConfig
from churnmodel.data.tables import Tables, day_end
from churnmodel.decisions import Policy
from churnmodel.errors import ChurnModelError, DataError
from churnmodel.explain import driver_columns, drivers, empty_columns, lever_columns, levers
from churnmodel.explain import explain as explain_rows
from churnmodel.files import atomic_write, remove_stale_temp_files
from churnmodel.risk import risk_band, risk_frame
from churnmodel.threads import in_one_thread

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.segmentation import ClusterResult

SUFFIXES = (".csv", ".parquet")
__all__ = ["SUFFIXES", "Segments", "call_list", "check_model_project", "check_output_path",
           "choose_threshold", "customer_segments",
           "customer_value", "finish_scores", "profit_curve", "risk_band", "score_customers",
           "score_frame", "score_rows",
           "write_table"]


# --- value and campaign economics ---------------------------------------------------------

def customer_value(tables: Tables, as_of: pd.Timestamp, customers: pd.Index,
                   window_days: int = 365, value_model: Any = None) -> pd.Series:
    """What each customer is worth keeping, seen at ``as_of`` (never negative).

    The customers table's ``value`` column when it is present (missing values count as 0);
    else, with a fitted ``value_model`` (:class:`~churnmodel.modeling.clv.ValueModel`), the
    customer lifetime value over its months if the customer stays (:func:`customer_clv` with
    ``given_alive``: what a retention offer that keeps them saves); otherwise net spend
    (purchases minus refunds) in the last ``window_days`` days. ``.attrs["source"]`` says
    which one was used.

    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2], "amount": [50.0, -10.0, 20.0, 5.0],
    ...     "ts": pd.to_datetime(["2024-01-01", "2025-06-01", "2025-06-02", "2025-07-01"])})
    >>> customer_value(Tables(tx), pd.Timestamp("2025-06-30"), pd.Index([1, 2, 3])).tolist()
    [10.0, 0.0, 0.0]
    """
    cu = tables.customers
    source = "trailing spend"
    if cu is not None and "value" in cu.columns:
        v = cu.set_index("customer_id")["value"].astype("float64")
        source = "customers.value"
    elif value_model is not None:
        v = customer_clv(value_model, tables, as_of, customers, given_alive=True)
        source = "clv"
    else:
        tx = tables.transactions
        end = day_end(as_of)
        recent = tx[(tx["ts"] < end) & (tx["ts"] >= end - pd.Timedelta(days=window_days))]
        v = recent.groupby("customer_id")["amount"].sum()
    out = v.reindex(customers).fillna(0.0).clip(lower=0.0).astype("float64")
    out.index.name = "customer_id"
    out = out.rename("customer_value")
    out.attrs["source"] = source
    return out


def customer_clv(value_model: Any, tables: Tables, as_of: pd.Timestamp,
                 customers: pd.Index, given_alive: bool = False) -> pd.Series:
    """Each customer's lifetime value at ``as_of`` (BG/NBD x Gamma-Gamma, discounted).

    ``given_alive``: the value if the customer is (kept) alive. Customers without a purchase
    by ``as_of`` get 0. Only events up to ``as_of`` are seen.
    """
    from churnmodel.modeling.clv import purchase_summary

    summary = purchase_summary(tables, pd.Timestamp(as_of), customers)
    clv = pd.Series(value_model.clv(summary, given_alive), index=summary.index, dtype="float64")
    out = clv.reindex(customers).fillna(0.0)
    out.index.name = "customer_id"
    return out.rename("clv")


def profit_curve(y: np.ndarray, p: np.ndarray, value: np.ndarray, offer_cost: float,
                 acceptance_rate: float) -> pd.DataFrame:
    """Realised campaign profit when contacting the top-k customers by ``p``, for every k.

    Contacting costs ``offer_cost``; a contacted churner (``y = 1``) accepts the offer with
    probability ``acceptance_rate`` and is kept, saving ``value``. Rows are sorted by
    decreasing probability; row k is "contact the k+1 riskiest customers".

    >>> c = profit_curve(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.1]),
    ...                  np.array([100.0, 100.0, 100.0]), 10.0, 0.5)
    >>> c["profit"].tolist()
    [40.0, 30.0, 70.0]
    """
    order = np.argsort(-np.asarray(p), kind="stable")
    y, p, value = np.asarray(y)[order], np.asarray(p)[order], np.asarray(value)[order]
    gain = y * acceptance_rate * value - offer_cost
    n = len(y)
    return pd.DataFrame({
        "contacted": np.arange(1, n + 1),
        "share": np.arange(1, n + 1) / max(n, 1),
        "threshold": p,
        "profit": np.cumsum(gain),
        "churners_reached": np.cumsum(y),
    })


def choose_threshold(y: np.ndarray, p: np.ndarray, value: np.ndarray,
                     cfg: ScoringConfig) -> dict[str, Any]:
    """The ``at_risk`` probability threshold, fixed on the validation cutoff.

    With ``top_k_percent`` set: the probability that flags that share of the validation
    customers. Otherwise: the threshold of the most profitable campaign on the profit
    curve; if no campaign makes a profit, the threshold is 1.0 (nobody is flagged) and
    ``note`` says why.
    """
    curve = profit_curve(y, p, value, cfg.offer_cost, cfg.acceptance_rate)
    if len(curve) == 0:
        raise ChurnModelError("cannot choose an at-risk threshold: no validation customers.")
    if cfg.top_k_percent is not None:
        k = max(1, int(round(cfg.top_k_percent / 100 * len(curve))))
        row = curve.iloc[k - 1]
        rule = f"top {cfg.top_k_percent:g}% of customers"
    else:
        row = curve.iloc[int(curve["profit"].to_numpy().argmax())]
        rule = (f"maximum campaign profit (offer cost {cfg.offer_cost:g}, acceptance "
                f"{cfg.acceptance_rate:g})")
    # ``p >= threshold`` flags every customer tied at the threshold, not just the first k:
    # report the share, profit and count of what scoring will really flag
    row = curve.iloc[int((curve["threshold"].to_numpy() >= row["threshold"]).sum()) - 1]
    out: dict[str, Any] = {
        "rule": rule, "threshold": float(row["threshold"]), "share": float(row["share"]),
        "profit": float(row["profit"]), "contacted": int(row["contacted"]),
        "offer_cost": cfg.offer_cost, "acceptance_rate": cfg.acceptance_rate,
        "note": "",
    }
    if cfg.top_k_percent is None and row["profit"] <= 0:
        out.update(threshold=1.0, share=0.0, profit=0.0, contacted=0,
                   note=_unprofitable_note(curve, value, cfg))
    return out


def _unprofitable_note(curve: pd.DataFrame, value: np.ndarray, cfg: ScoringConfig) -> str:
    """Why nobody is flagged, with the value figures, and which setting to change.

    The break-even offer cost is the most any campaign on the curve could pay per contact
    (profit + cost over contacts, maximised over the campaign size) without a loss.
    """
    saved = curve["profit"].to_numpy() + cfg.offer_cost * curve["contacted"].to_numpy()
    per_contact = saved / curve["contacted"].to_numpy()
    k = int(per_contact.argmax())
    median = float(np.median(value)) if len(value) else 0.0
    return (f"no campaign is profitable at offer_cost {cfg.offer_cost:g}: nobody is flagged. A "
            f"kept churner is worth a median {median:,.2f} (customer value) and the offer keeps "
            f"{cfg.acceptance_rate:.0%} of those contacted, so the best campaign (the riskiest "
            f"{curve['share'].iloc[k]:.1%}) saves {per_contact[k]:,.2f} per contact. Set "
            f"[scoring] offer_cost below {per_contact[k]:,.2f}, raise acceptance_rate if offers "
            "keep more customers, map a customer value (customers.value) if spend understates "
            "it, or set top_k_percent = 10 to flag a fixed share")


# --- scoring --------------------------------------------------------------------------

def check_model_project(model: ChurnModel, cfg: Config, source: object) -> None:
    """Refuse to score one project's data with another project's model.

    A model trained before projects existed carries no project and is accepted.
    """
    theirs = model.info.get("project")
    ours = cfg.project.name
    if theirs is None or theirs == ours:
        return
    raise ChurnModelError(
        f"the model at {str(source)!r} belongs to project '{theirs}', but the config is "
        f"project '{ours}': its features and threshold were fitted on other data. Score "
        f"project '{ours}' with its own model (train it with this config), or pass the "
        f"config of project '{theirs}' (--config).")



def score_frame(model: ChurnModel, X: pd.DataFrame, explain: bool = True,
                n_drivers: int | None = None,
                value: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """Probability, risk band, state, at-risk flag, action and drivers, per row of ``X``.

    Uses the threshold, bands and decision rules fixed at training (``model.info``), so
    every path that scores (batch, pyfunc, REST) gives the same customers the same state
    and action (:mod:`churnmodel.decisions`). ``value`` (aligned with ``X``) is what each
    customer is worth; it decides between win back and let go, nurture and monitor.
    Drivers (the strongest reasons) and levers (the strongest reasons a business can act
    on, :func:`churnmodel.explain.levers`) are filled for the customers a campaign
    contacts: at risk, or to win back.
    """
    sc = model.info.get("scoring", {})
    n = sc.get("n_drivers", 3) if n_drivers is None else n_drivers
    out = risk_frame(model, X, value)
    cols = driver_columns(n) + lever_columns(n)
    if explain and n > 0:
        contact = (out["at_risk"] | (out["action"] == "win back")).to_numpy()
        flagged = X[contact]
        expl = explain_rows(model, flagged) if len(flagged) else None
        if expl is not None:
            parts = [drivers(expl, n)]
            if expl.sentence is None:  # levers come from the catalogue's kinds
                parts.append(levers(expl, n))
            out = out.join(pd.concat(parts, axis=1))
    missing = [c for c in cols if c not in out.columns]
    if missing:  # one concat, not a column insert each: this runs per REST request
        empty = empty_columns(missing, out.index)
        out = pd.concat([out, empty], axis=1)[[*out.columns, *missing]]
    return out


def feature_rows(model: ChurnModel, tables: Tables, as_of: pd.Timestamp | str,
                 cfg: ScoringConfig | None = None,
                 customers: Sequence[object] | None = None) -> pd.DataFrame:
    """Exactly the rows :func:`score_customers` scores at ``as_of`` (index ``customer_id``):
    the model's features plus ``customer_value``, for the customers active then (or the
    given ones, which must be active). Posting them to the REST server gives batch
    scoring's answers.
    """
    from churnmodel.explain import active_ids

    cfg = cfg or ScoringConfig()
    as_of = pd.Timestamp(as_of).normalize()
    X = model.features(tables, as_of)
    if customers is not None:
        X = X.loc[active_ids(customers, X.index, as_of, model.activity_lookback_days)]
    value = customer_value(tables, as_of, X.index, cfg.value_window_days,
                           getattr(model, "value_model", None))
    return X.assign(customer_value=value.to_numpy())


SCORE_COLUMNS = ("customer_id", "churn_probability", "risk_band", "state", "at_risk", "action",
                 "customer_value", "expected_value_at_risk")


@in_one_thread
def score_customers(model: ChurnModel, tables: Tables, as_of: pd.Timestamp | str,
                    cfg: ScoringConfig | None = None, explain: bool = True,
                    on_step: Callable[[str], Any] | None = None,
                    on_features: Callable[[pd.DataFrame], Any] | None = None) -> pd.DataFrame:
    """Score every customer active at ``as_of``: one row each, riskiest first.

    Columns: ``customer_id, churn_probability, risk_band, state, at_risk, action,
    customer_value, expected_value_at_risk`` (probability × value), ``rfm_segment`` (when
    the RFM features exist), ``driver_{1..n}_{feature,value,contribution,sentence}`` for
    the customers to contact (at risk, or to win back), then ``clv`` (expected lifetime
    value; ``customer_value`` is the lifetime value if the customer stays, unless
    ``customers.value`` is mapped or the model has no value model: ``.attrs["value_source"]``
    / ``["value_note"]`` say) and the time to churn: ``p_active_{30,60,90,180}d,
    median_days_to_churn`` (missing: beyond 180 days), ``time_to_churn``.
    ``on_step(name)`` is called after each long step (for progress bars); ``on_features(X)``
    with the feature frame, once built (e.g. to measure drift without building it twice).
    """
    cfg = cfg or ScoringConfig()
    step = on_step or (lambda name: None)
    as_of = pd.Timestamp(as_of).normalize()
    X = model.features(tables, as_of)
    if on_features is not None:
        on_features(X)
    step("features")
    scored, source = score_rows(model, tables, as_of, X, cfg, explain)
    step("predict + explain")
    return finish_scores(scored, X, model, source)


def score_rows(model: ChurnModel, tables: Tables, as_of: pd.Timestamp, X: pd.DataFrame,
               cfg: ScoringConfig, explain: bool = True) -> tuple[pd.DataFrame, str]:
    """What :func:`score_customers` gives each customer on their own (every column but the
    RFM segment, index ``customer_id`` in ``X``'s order), and the value source.

    Each row depends only on that customer's features and history and on what the model
    fixed at training, so any subset of customers (a Spark engine bucket) scores alike.
    """
    vm = getattr(model, "value_model", None)
    value = customer_value(tables, as_of, X.index, cfg.value_window_days, vm)
    scored = score_frame(model, X, explain=explain, value=value.to_numpy())
    scored.insert(5, "customer_value", value.to_numpy())
    scored.insert(6, "expected_value_at_risk", scored["churn_probability"] * scored["customer_value"])
    scored = _with_lifetime(scored, model, tables, as_of, X)
    return scored, value.attrs.get("source", "")


def finish_scores(scored: pd.DataFrame, X: pd.DataFrame, model: ChurnModel | None,
                  source: str) -> pd.DataFrame:
    """:func:`score_rows`' rows of every customer scored, with what needs all of them (the
    RFM segment: quantiles over everyone in ``X``), riskiest first."""
    if {"recency_days", "frequency", "monetary_total"} <= set(X.columns):
        from churnmodel.segmentation import rfm_scores

        scored.insert(7, "rfm_segment", rfm_scores(X)["rfm_segment"].reindex(X.index).to_numpy())
    scored = scored.sort_values("churn_probability", ascending=False, kind="stable")
    out = scored.reset_index(names="customer_id")
    out.attrs["value_source"] = source
    out.attrs["value_note"] = value_note(model, source)
    return out


def _with_lifetime(scored: pd.DataFrame, model: ChurnModel, tables: Tables, as_of: pd.Timestamp,
                   X: pd.DataFrame) -> pd.DataFrame:
    """``clv`` and the time-to-churn columns, appended (missing without their models)."""
    vm = getattr(model, "value_model", None)
    clv = customer_clv(vm, tables, as_of, X.index) if vm is not None else None
    extra = pd.DataFrame({"clv": np.nan if clv is None else clv.to_numpy()}, index=scored.index)
    surv = model.survival(X)
    if surv is None:
        from churnmodel.modeling.hazard import survival_columns

        surv = survival_columns(np.full((len(X), 7), np.nan))
        surv.index = scored.index
    return pd.concat([scored, extra, surv.set_axis(scored.index)], axis=1)


def value_note(model: ChurnModel | None, source: str) -> str:
    """Why customers are not valued by CLV ("" when they are, or by customers.value)."""
    if source != "trailing spend":
        return ""
    info = (model.info.get("value", {}) if model is not None else {}) or {}
    return info.get("note") or ("the model holds no lifetime value model (trained before CLV "
                                "existed): customers are valued by trailing spend")


CALL_LIST_COLUMNS = ("customer_id", "state", "action", "churn_probability", "customer_value",
                     "value_at_stake", "top_reason", "top_lever")


def call_list(scores: pd.DataFrame, n: int | None = None, policy: Policy | None = None
              ) -> pd.DataFrame:
    """The customers to contact first: those to retain now or win back.

    ``value_at_stake`` is ``churn_probability * customer_value`` (what the customer is
    expected to take with them); ``top_reason`` is their first driver sentence and
    ``top_lever`` their first lever sentence (what to act on), when explained. With the
    model's decision ``policy``, ``expected_gain`` is what contacting them is worth on
    average: the offer's acceptance rate (a retention offer's, or the lower win-back one's
    for the lapsed) times the value at stake, less the offer cost, and the list is in that
    order (the rule the threshold and the win-back decision are made by); without it, by
    value at stake.

    >>> s = pd.DataFrame({"customer_id": [1, 2, 3], "state": ["active", "lapsed", "active"],
    ...     "action": ["retain now", "win back", "monitor"], "churn_probability": [0.6, 0.9, 0.1],
    ...     "customer_value": [1000.0, 1500.0, 900.0]})
    >>> c = call_list(s)
    >>> c["customer_id"].tolist(), c["value_at_stake"].tolist()
    ([2, 1], [1350.0, 600.0])
    >>> pol = Policy(horizon_days=90, threshold=0.5, offer_cost=30.0, acceptance_rate=0.25,
    ...              winback_acceptance_rate=0.05)
    >>> c = call_list(s, policy=pol)
    >>> c["customer_id"].tolist(), c["expected_gain"].tolist()
    ([1, 2], [120.0, 37.5])
    """
    contact = scores[scores["action"].isin(["retain now", "win back"])]
    at_stake = (contact["churn_probability"] * contact["customer_value"]).astype("float64")
    out = pd.DataFrame({
        "customer_id": contact["customer_id"],
        "state": contact["state"].astype("string"),
        "action": contact["action"].astype("string"),
        "churn_probability": contact["churn_probability"].astype("float64"),
        "customer_value": contact["customer_value"].astype("float64"),
        "value_at_stake": at_stake,
        "top_reason": contact.get("driver_1_sentence", pd.Series(pd.NA, index=contact.index))
        .astype("string"),
        "top_lever": contact.get("lever_1_sentence", pd.Series(pd.NA, index=contact.index))
        .astype("string"),
    })
    order = ["value_at_stake", "churn_probability"]
    if policy is not None:
        rate = np.where(contact["action"].to_numpy() == "win back",
                        policy.winback_acceptance_rate, policy.acceptance_rate)
        out.insert(6, "expected_gain", rate * at_stake.to_numpy() - policy.offer_cost)
        order = ["expected_gain", *order]
    out = out.sort_values(order, ascending=False, kind="stable")
    return (out if n is None else out.head(n)).reset_index(drop=True)


# --- segments of every customer at a date ------------------------------------------

@dataclass(frozen=True)
class Segments:
    """Every segmentation of the customers active at ``as_of`` (:func:`customer_segments`).

    ``features``: the feature frame (one row per customer); ``table``: the
    :func:`~churnmodel.segmentation.segment_table` with ``customer_value`` (what keeping the
    customer is worth, :func:`customer_value`); ``clusters``: the
    behavioural clusters and their profiles; ``matrix``: the nine-cell risk x value summary
    and ``scores``: probabilities, at-risk flags and drivers (both ``None`` without a model).
    """

    as_of: pd.Timestamp
    features: pd.DataFrame
    table: pd.DataFrame
    clusters: ClusterResult
    matrix: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None


@in_one_thread
def customer_segments(tables: Tables, as_of: pd.Timestamp | str, cfg: Config,
                      model: ChurnModel | None = None, explain: bool = False) -> Segments:
    """RFM segments, clusters, NPS groups and (with ``model``) risk x value at ``as_of``.

    With a model, features are the model's own (:meth:`ChurnModel.features`) and scored
    with it (:func:`score_frame`; ``explain`` adds drivers for the
    customers at risk). Without one, every configured builder whose tables are present
    builds the features of the customers active at ``as_of``. Only events dated on or
    before ``as_of`` are seen.
    """
    from churnmodel.features import available_builders
    from churnmodel.segmentation import behaviour_clusters, risk_value_matrix, segment_table
    from churnmodel.training_set import cutoff_frame

    as_of = pd.Timestamp(as_of).normalize()
    if model is not None:
        X = model.features(tables, as_of)
    else:
        builders = available_builders(tables, cfg.features.builders)
        X = cutoff_frame(tables.until(as_of), as_of, builders, cfg.labels.horizon_days,
                         cfg.labels.activity_lookback_days, with_labels=False).droplevel("cutoff")
    if len(X) == 0:
        raise DataError("transactions", "ts", f"has no customer active at {as_of.date()} (a purchase "
                        f"in the {cfg.labels.activity_lookback_days} days up to it)",
                        "pick an --as-of date inside the history")
    value = customer_value(tables, as_of, X.index, cfg.scoring.value_window_days,
                           getattr(model, "value_model", None) if model is not None else None)
    scores = matrix = p = None
    if model is not None:
        scores = score_frame(model, X, explain=explain, value=value.to_numpy())
        p = scores["churn_probability"]
    clusters = behaviour_clusters(X if p is None else X.assign(churn_probability=p), cfg.segments)
    decided = None if scores is None else scores[["risk_band", "state", "at_risk", "action"]]
    table = segment_table(X, p, value, cfg.segments, clusters, decided=decided)
    if p is None:
        table["customer_value"] = value.astype("float64")
    else:
        matrix = risk_value_matrix(p, value, decided=decided)[1]
    return Segments(as_of, X, table, clusters, matrix, scores)


# --- output files ---------------------------------------------------------------------

def check_output_path(path: str | Path, overwrite: bool = False,
                      suffixes: tuple[str, ...] = SUFFIXES) -> Path:
    """Fail early (before any heavy work) if ``path`` cannot or must not be written."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise ChurnModelError(f"output {str(p)!r} must end in {' or '.join(suffixes)} (the format "
                              "follows the suffix).")
    if p.is_dir():
        raise ChurnModelError(f"output {str(p)!r} is a directory; give a file name such as "
                              f"{str(p / ('scores' + p.suffix))!r}.")
    if p.exists() and not overwrite:
        raise ChurnModelError(f"output {str(p)!r} exists; pass --overwrite to replace it.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ChurnModelError(f"output directory {str(parent)!r} does not exist; create it first.")
    try:  # a real probe: permission bits alone do not tell (root, read-only mounts, quotas)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{p.name}.probe."):
            pass
    except OSError as exc:
        raise ChurnModelError(f"output directory {str(parent)!r} is not writable "
                              f"({exc.strerror}); choose another --out.") from None
    remove_stale_temp_files(p)
    return p


def request_json(df: pd.DataFrame) -> str:
    """``df`` as the REST server's ``dataframe_split`` body, every float digit kept.

    pandas' ``to_json`` rounds to 10 significant digits, which moved 11 of 5,000 answers
    by up to 0.016; Python's float ``repr`` round-trips exactly. Missing values are null.

    >>> request_json(pd.DataFrame({"a": [0.1 + 0.2, None], "b": ["x", None]}))
    '{"dataframe_split": {"columns": ["a", "b"], "data": [[0.30000000000000004, "x"], [null, null]]}}'
    """
    import json

    def cell(v: object) -> object:
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, float | np.floating):
            return None if np.isnan(v) else float(v)
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        return v

    rows = [[cell(v) for v in row] for row in df.astype(object).itertuples(index=False, name=None)]
    return json.dumps({"dataframe_split": {"columns": [str(c) for c in df.columns],
                                           "data": rows}}, allow_nan=False)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV or Parquet (by suffix) atomically: temp file, then rename.

    A crash or kill mid-write leaves the previous file (if any) intact and no partial file
    at ``path``; a hidden temp file left by SIGKILL is removed by the next run's
    :func:`check_output_path`.
    """
    p = Path(path)
    if p.suffix.lower() == ".parquet":
        return atomic_write(p, lambda tmp: df.to_parquet(tmp, index=False))
    if p.suffix.lower() == ".json":  # the REST server's request body (churnmodel features)
        return atomic_write(p, lambda tmp: tmp.write_text(request_json(df)))
    return atomic_write(p, lambda tmp: df.to_csv(tmp, index=False))
