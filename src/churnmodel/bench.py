"""The benchmark: how fast and how lean every stage is, up to 1M customers / 20M transactions.

``python -m churnmodel.bench --customers 1000000`` (``make bench``) generates the synthetic
data once per size and seed (cached under ``bench/data/<customers>_<seed>/``), then measures
each stage as a separate figure, each in a fresh process so that its peak memory is its own:

=====================  ========================================================================
``load``               read the Parquet tables and validate them against the contracts
``features_<family>``  one feature family at one cutoff (the as-of date) for the active customers
``features_all``       the population at the cutoff plus every family (what scoring computes)
``rfm_pandas``         the pandas reference of the RFM builder (:mod:`churnmodel.features.reference`)
``rfm_duckdb``         one raw DuckDB query of the core RFM features (:data:`RAW_DUCKDB_RFM`)
``training_set``       features and labels stacked over the default training cutoffs
``train``              ``churnmodel train`` end to end: load, validate, ``modeling.train.train``
``score``              batch scoring: features at the as-of date + calibrated probabilities
``explain_at_risk``    TreeSHAP and plain-sentence drivers of the customers flagged at risk
``explain_top10``      the same for the riskiest 10% of the customers scored
``score_e2e``          ``churnmodel score`` end to end: load, features, predict, drivers, write
``write``              writing the scored table (Parquet, the default; CSV as an extra figure)
=====================  ========================================================================

Figures per stage: wall seconds of the stage itself (its input is loaded before the clock
starts, except in the end-to-end stages, where loading is part of the job), rows and rows
per second (the unit is named: input rows for feature engines, customers for scoring and
explaining), and ``peak_rss_mb``: the peak resident memory of the stage's process,
including Python, the imported libraries and loading its input (``stage_peak_rss_mb`` is
the peak while the stage ran, input resident; ``input_rss_mb`` the memory holding the input).
Memory is in MiB (2**20 bytes); "GB" targets are GiB.

Processes are forked from a server that has imported the libraries once (multiprocessing
``forkserver``), so a stage pays no import time and starts from the same footprint a fresh
``python`` with those imports would have.

The run prints a table and writes ``bench/results.json`` (machine facts, the settings, every
stage, the comparisons as ratios, the targets of issue 5 and whether each is met).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from churnmodel.config import Config
    from churnmodel.data.tables import Tables

FAMILIES = ("rfm", "satisfaction", "service", "profile")
TABLES = ("transactions", "feedback", "tickets", "customers")
FAMILY_TABLE = {"rfm": "transactions", "satisfaction": "feedback", "service": "tickets",
                "profile": "customers"}
STAGES = ("load", *(f"features_{f}" for f in FAMILIES), "features_all", "rfm_pandas", "rfm_duckdb",
          "training_set", "train", "score", "explain_at_risk", "explain_top10", "score_e2e", "write")
LABELS = {
    "generate": "generate synthetic data", "load": "load + validate",
    **{f"features_{f}": f"features: {f}" for f in FAMILIES},
    "features_all": "features: all (+ population)", "rfm_pandas": "RFM: pandas reference",
    "rfm_duckdb": "RFM: raw DuckDB query", "training_set": "training set (all cutoffs)",
    "train": "train end to end (load+fit)", "score": "score: features + predict",
    "explain_at_risk": "explain at-risk customers", "explain_top10": "explain top 10% by risk",
    "score_e2e": "score end to end (+write)", "write": "write scores (parquet)",
}
LIBRARIES = ("pandas", "numpy", "pyarrow", "duckdb", "lightgbm", "scikit-learn", "scipy", "mlflow",
             "shap")
PRELOAD = ["pandas", "numpy", "pyarrow", "duckdb", "lightgbm", "sklearn", "scipy.special",
           "churnmodel.features", "churnmodel.features.reference", "churnmodel.data.io",
           "churnmodel.data.synthetic", "churnmodel.modeling.train", "churnmodel.explain",
           "churnmodel.scoring", "churnmodel.segmentation"]
GIB = 1024.0  # MiB


@dataclass(frozen=True)
class Target:
    """A goal of issue 5, measured on one stage."""

    name: str
    stage: str
    max_seconds: float
    max_rss_mb: float


TARGETS = (
    Target("features at one cutoff, all families", "features_all", 15.0, 3 * GIB),
    Target("churnmodel score end to end", "score_e2e", 90.0, 6 * GIB),
    Target("churnmodel train end to end", "train", 600.0, 12 * GIB),
)
# Training rows: a sample of this many active customers per cutoff (at 1M customers about
# 700k are active at each cutoff; uncapped, LightGBM alone would take well over 10 minutes).
DEFAULT_CAP = 100_000
DUCKDB_RATIO_LIMIT = 1.5  # the project's RFM builder vs the raw DuckDB query
LINEAR_TOLERANCE = 1.05  # memory exponent allowed above 1 before growth counts as super-linear

# The core RFM features in one plain query: what a data scientist would write by hand in
# DuckDB, close to the practical limit on this machine. Same definitions as the builder
# (a purchase is a distinct day with positive spend; windows hold ages < w; sample std).
RAW_DUCKDB_RFM = """
WITH buys AS (
    SELECT customer_id, CAST(ts AS DATE) AS day, sum(amount) AS spend
    FROM tx SEMI JOIN pop USING (customer_id)
    WHERE ts < $end AND amount > 0
    GROUP BY customer_id, day
),
g AS (
    SELECT customer_id, spend, date_diff('day', day, $cut) AS age,
           CAST(date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day)
                AS DOUBLE) AS gap
    FROM buys
)
SELECT customer_id,
    CAST(min(age) AS DOUBLE) AS recency_days,
    CAST(count(*) AS DOUBLE) AS frequency,
    sum(spend) AS monetary_total,
    avg(spend) AS monetary_mean,
    CAST(max(age) AS DOUBLE) AS tenure_days,
    {windows},
    avg(gap) AS gap_mean_days,
    stddev_samp(gap) AS gap_std_days
FROM g GROUP BY customer_id
"""
WINDOWS = (30, 90, 180, 365)
RAW_COLUMNS = ("recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days",
               *(f"{k}_{w}d" for w in WINDOWS for k in ("n", "spend")), "gap_mean_days",
               "gap_std_days")


def raw_duckdb_sql() -> str:
    """:data:`RAW_DUCKDB_RFM` with its window columns filled in."""
    parts = []
    for w in WINDOWS:
        parts.append(f"CAST(count(*) FILTER (WHERE age < {w}) AS DOUBLE) AS n_{w}d")
        parts.append(f"coalesce(sum(spend) FILTER (WHERE age < {w}), 0) AS spend_{w}d")
    return RAW_DUCKDB_RFM.format(windows=",\n    ".join(parts))


# --- one job = one stage in one process --------------------------------------------------

@dataclass(frozen=True)
class Job:
    """What a stage process needs to know (picklable)."""

    stage: str  # the stage function (a key of STAGE_FUNCTIONS)
    key: str  # its name in the results (e.g. "train_cap_50000" for a cap-study run)
    data_dir: str
    customers: int
    seed: int
    cap: int | None = None
    candidates: tuple[str, ...] | None = None
    config: str | None = None  # a TOML config for labels, training, model and scoring settings

    @property
    def raw(self) -> Path:
        return Path(self.data_dir)

    @property
    def validated(self) -> Path:
        return Path(self.data_dir) / "validated"

    @property
    def run(self) -> Path:
        return Path(self.data_dir) / "run"


# A stage is a generator: the code before the first ``yield`` loads its input (not timed),
# the code up to the second ``yield`` is the measured stage, which yields its figures; the
# code after it saves outputs later stages read (not timed, not in the peak).
Stage = Callable[[Job], Iterator[dict[str, Any] | None]]
STAGE_FUNCTIONS: dict[str, Stage] = {}


def _stage(*names: str) -> Callable[[Stage], Stage]:
    def deco(fn: Stage) -> Stage:
        for name in names:
            STAGE_FUNCTIONS[name] = fn
        return fn

    return deco


def _rss_mb() -> float:
    """Current resident memory of this process (MiB)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _maxrss_mb()


def _maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (Linux ``clear_refs``); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child(job: Job, result_path: str) -> None:
    """Run one stage in this (fresh) process and write its figures to ``result_path``."""
    import warnings

    warnings.filterwarnings("ignore")
    _silence_stdout()
    out: dict[str, Any] = {"stage": job.key}
    try:
        rss_start = _rss_mb()
        t0 = time.perf_counter()
        steps = STAGE_FUNCTIONS[job.stage](job)
        next(steps)
        input_seconds = time.perf_counter() - t0
        rss_input = _rss_mb()
        peak_input = _maxrss_mb()
        reset = _reset_peak()
        load0, cpu0, t1 = os.getloadavg()[0], _cpu_seconds(), time.perf_counter()
        figures = next(steps)
        seconds = time.perf_counter() - t1
        cpu = _cpu_seconds() - cpu0
        stage_peak = _maxrss_mb()  # since the reset: the stage, its input resident
        assert figures is not None
        rows = figures.pop("rows")
        out.update(
            seconds=round(seconds, 4), rows=int(rows),
            rows_per_second=round(rows / seconds, 1) if seconds > 0 else None,
            unit=figures.pop("unit"),
            peak_rss_mb=round(max(peak_input, stage_peak), 1),
            stage_peak_rss_mb=round(stage_peak, 1) if reset else None,
            input_rss_mb=round(rss_input, 1), start_rss_mb=round(rss_start, 1),
            input_seconds=round(input_seconds, 3),
            cpu_seconds=round(cpu, 2), cpu_per_wall=round(cpu / seconds, 2) if seconds > 0 else None,
            load_average=[round(load0, 2), round(os.getloadavg()[0], 2)],
            **figures,
        )
        next(steps, None)
        # figures the untimed tail added (e.g. the cap study's AUC on the full test population)
        out.update({k: v for k, v in figures.items() if k not in out and k not in ("rows", "unit")})
    except BaseException as exc:  # report any failure (MemoryError too) to the parent
        out = {"stage": job.key, "error": f"{type(exc).__name__}: {exc}",
               "traceback": traceback.format_exc()}
    Path(result_path).write_text(json.dumps(out, default=_json_default))


def _silence_stdout() -> None:
    """Keep progress bars (DuckDB draws one for long queries) out of the bench's table."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    os.dup2(devnull, 1)
    os.close(devnull)


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


# --- inputs ------------------------------------------------------------------------------

def _validated_tables(job: Job) -> Tables:
    """The tables exactly as validation produced them (saved by the ``load`` stage).

    Arrow's allocator keeps the buffers freed while reading (about 0.3 GB at 1M customers);
    they are handed back so the stage starts from the memory its input really holds.
    """
    import pandas as pd
    import pyarrow as pa

    from churnmodel.data.tables import Tables

    frames = {n: pd.read_parquet(job.validated / f"{n}.parquet") for n in TABLES
              if (job.validated / f"{n}.parquet").exists()}
    pa.default_memory_pool().release_unused()
    return Tables(**frames)


def _cutoff_inputs(job: Job) -> tuple[Tables, pd.Timestamp, pd.Index]:
    """Validated tables, the as-of date (the latest event) and the active customers at it."""
    from churnmodel.labels import active_customers

    tables = _validated_tables(job)
    as_of = tables.max_event_ts().normalize()
    return tables, as_of, active_customers(tables, as_of, _config(job).labels.activity_lookback_days)


def _rows(tables: Tables, names: Sequence[str] = TABLES) -> int:
    return sum(len(getattr(tables, n)) for n in names if getattr(tables, n) is not None)


def _config(job: Job) -> Config:
    """The configuration of ``--config`` (or the defaults) on the bench's data and cap."""
    from churnmodel.config import DataConfig, load_config

    cfg = load_config(job.config)
    cfg = replace(cfg, data=DataConfig(dir=job.raw),
                  training=replace(cfg.training, max_customers_per_cutoff=job.cap))
    if job.candidates:
        cfg = replace(cfg, model=replace(cfg.model, candidates=job.candidates))
    return cfg


def _model(job: Job) -> Any:
    from churnmodel.modeling.model import ChurnModel

    return ChurnModel.load(job.run / "model")


# --- the stages --------------------------------------------------------------------------

@_stage("generate")
def _generate(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.data.synthetic import generate, write_synthetic

    yield None
    t0 = time.perf_counter()
    data = generate(customers=job.customers, seed=job.seed)
    t1 = time.perf_counter()
    write_synthetic(job.raw, data)
    tables = {n: len(getattr(data, n)) for n in TABLES}
    yield {"rows": tables["transactions"], "unit": "transactions", "tables": tables,
           "generate_seconds": round(t1 - t0, 3), "write_seconds": round(time.perf_counter() - t1, 3)}


@_stage("load")
def _load(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.data.io import load_default_tables

    yield None
    tables = load_default_tables(job.raw)
    yield {"rows": _rows(tables), "unit": "rows (4 tables)",
           "tables": {n: len(getattr(tables, n)) for n in tables.names()}}
    job.validated.mkdir(parents=True, exist_ok=True)
    for name in tables.names():
        tmp = job.validated / f".{name}.parquet.tmp"
        getattr(tables, name).to_parquet(tmp, index=False)
        tmp.replace(job.validated / f"{name}.parquet")


def _save(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)


@_stage(*(f"features_{f}" for f in FAMILIES))
def _features_family(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.features import build_features

    family = job.stage.removeprefix("features_")
    tables, as_of, pop = _cutoff_inputs(job)
    yield None
    feats = build_features(tables, as_of, pop, [family])
    yield {"rows": _rows(tables, [FAMILY_TABLE[family]]), "unit": f"{FAMILY_TABLE[family]} rows",
           "customers": len(pop), "columns": feats.shape[1], "cutoff": str(as_of.date())}
    if family == "rfm":
        _save(feats, job.run / "rfm_project.parquet")


@_stage("features_all")
def _features_all(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.features import build_features
    from churnmodel.labels import active_customers

    tables = _validated_tables(job)
    as_of = tables.max_event_ts().normalize()
    lookback = _config(job).labels.activity_lookback_days
    yield None
    t0 = time.perf_counter()
    pop = active_customers(tables, as_of, lookback)
    t1 = time.perf_counter()
    feats = build_features(tables, as_of, pop, FAMILIES)
    yield {"rows": _rows(tables), "unit": "rows (4 tables)", "customers": len(pop),
           "columns": feats.shape[1], "cutoff": str(as_of.date()),
           "population_seconds": round(t1 - t0, 3),
           "builders_seconds": round(time.perf_counter() - t1, 3)}


@_stage("rfm_pandas")
def _rfm_pandas(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.features.reference import rfm_features_pandas

    tables, as_of, pop = _cutoff_inputs(job)
    yield None
    feats = rfm_features_pandas(tables, as_of, pop)
    yield {"rows": len(tables.transactions), "unit": "transactions rows", "customers": len(pop),
           "columns": feats.shape[1]}
    _save(feats, job.run / "rfm_pandas.parquet")


def raw_duckdb_rfm(transactions: pd.DataFrame, population: pd.Index, cutoff: pd.Timestamp,
                   threads: int = 2) -> pd.DataFrame:
    """The core RFM features of ``population`` at ``cutoff`` by :data:`RAW_DUCKDB_RFM`.

    One row per customer of ``population`` (index ``customer_id``), columns
    :data:`RAW_COLUMNS`; every customer in an active population has a purchase.

    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1], "amount": [10.0, 20.0, -5.0],
    ...     "ts": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-20"])})
    >>> f = raw_duckdb_rfm(tx, pd.Index([1]), pd.Timestamp("2025-01-31"))
    >>> f.loc[1, ["recency_days", "frequency", "gap_mean_days", "n_30d"]].tolist()
    [20.0, 2.0, 10.0, 1.0]
    """
    import duckdb
    import pandas as pd

    from churnmodel.data.tables import day_end

    con = duckdb.connect()
    try:
        con.execute(f"SET threads TO {threads}")
        con.register("tx", transactions)
        con.register("pop", pd.DataFrame({"customer_id": population.to_numpy()}))
        df = con.execute(raw_duckdb_sql(), {"end": day_end(cutoff), "cut": cutoff.date()}).df()
    finally:
        con.close()
    df = df.set_index("customer_id")
    df.index = df.index.astype(population.dtype)
    return df.reindex(population)


@_stage("rfm_duckdb")
def _rfm_duckdb(job: Job) -> Iterator[dict[str, Any] | None]:
    tables, as_of, pop = _cutoff_inputs(job)
    yield None
    feats = raw_duckdb_rfm(tables.transactions, pop, as_of)
    yield {"rows": len(tables.transactions), "unit": "transactions rows", "customers": len(pop),
           "columns": feats.shape[1]}
    _save(feats, job.run / "rfm_duckdb.parquet")


@_stage("training_set")
def _training_set(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.features import available_builders
    from churnmodel.training_set import cutoff_dates, time_split, training_set

    tables = _validated_tables(job)
    cfg = _config(job)
    H, L = cfg.labels.horizon_days, cfg.labels.activity_lookback_days
    # the cutoffs train() uses with the default config
    as_of = tables.max_event_ts().normalize()
    cutoffs = cutoff_dates(as_of, H, cfg.training.n_cutoffs, cfg.training.cutoff_step_months)
    first = tables.transactions["ts"].min().normalize()
    split = time_split([c for c in cutoffs if c > first], H, cfg.training.embargo)
    used = [*split.train, split.valid, split.test]
    builders = available_builders(tables, cfg.features.builders)
    yield None
    data = training_set(tables, used, builders, H, L, job.cap, cfg.training.seed)
    yield {"rows": len(data), "unit": "customer-cutoff rows", "cutoffs": len(used),
           "columns": data.shape[1], "max_customers_per_cutoff": job.cap,
           "frame_mb": round(data.memory_usage(deep=True).sum() / 2**20, 1)}


@_stage("train")
def _train(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.data.io import load_default_tables
    from churnmodel.modeling.train import train

    cfg = _config(job)
    yield None
    t0 = time.perf_counter()
    tables = load_default_tables(job.raw)
    t1 = time.perf_counter()
    result = train(tables, cfg)
    fig: dict[str, Any] = {
        "rows": result.rows["train"], "unit": "training rows", "rows_split": result.rows,
        "max_customers_per_cutoff": job.cap, "candidates": list(cfg.model.candidates),
        "load_seconds": round(t1 - t0, 3), "train_seconds": round(time.perf_counter() - t1, 3),
        "train_breakdown_seconds": {k: round(v, 3) for k, v in result.seconds.items()},
        "champion": result.champion, "best_iteration": result.model.info.get("best_iteration"),
        "test_roc_auc": {k: round(v["roc_auc"], 5) for k, v in result.test_metrics.items()},
        "test_cutoff": str(result.split.test.date()),
        "at_risk_threshold": result.model.info["scoring"]["threshold"],
    }
    yield fig
    if job.key == "train":
        result.model.save(job.run / "model")
    if job.cap is not None:
        # The cap also samples the test cutoff; score the whole test population as well, so
        # runs with different caps are compared on the same customers.
        fig["test_roc_auc_full_population"] = _full_test_auc(tables, result)


def _full_test_auc(tables: Tables, result: Any) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from churnmodel.training_set import cutoff_frame

    m = result.model
    frame = cutoff_frame(tables.until(result.as_of), result.split.test, m.builders, m.horizon_days,
                         m.activity_lookback_days)
    return {"roc_auc": round(float(roc_auc_score(frame["churned"], m.predict_proba(frame))), 5),
            "n": len(frame)}


@_stage("score")
def _score(job: Job) -> Iterator[dict[str, Any] | None]:
    import pandas as pd

    tables = _validated_tables(job)
    model = _model(job)
    as_of = tables.max_event_ts().normalize()
    yield None
    t0 = time.perf_counter()
    X = model.features(tables, as_of)
    t1 = time.perf_counter()
    p = model.predict_proba(X)
    yield {"rows": len(X), "unit": "customers scored", "features_seconds": round(t1 - t0, 3),
           "predict_seconds": round(time.perf_counter() - t1, 3), "columns": X.shape[1]}
    _save(X, job.run / "score_features.parquet")
    _save(pd.DataFrame({"p": p}, index=X.index), job.run / "score_proba.parquet")


@_stage("explain_at_risk", "explain_top10")
def _explain(job: Job) -> Iterator[dict[str, Any] | None]:
    import numpy as np
    import pandas as pd

    from churnmodel.explain import drivers, explain

    model = _model(job)
    X = pd.read_parquet(job.run / "score_features.parquet")
    p = pd.read_parquet(job.run / "score_proba.parquet")["p"].to_numpy()
    if job.stage == "explain_at_risk":
        chosen = X[p >= model.info["scoring"]["threshold"]]
    else:
        k = max(1, math.ceil(0.1 * len(X)))
        chosen = X.iloc[np.sort(np.argsort(-p, kind="stable")[:k])]
    n = model.info["scoring"].get("n_drivers", 3)
    yield None
    t0 = time.perf_counter()
    expl = explain(model, chosen)
    t1 = time.perf_counter()
    if expl is not None:
        drivers(expl, n)
    yield {"rows": len(chosen), "unit": "customers explained", "scored": len(X),
           "share_explained": round(len(chosen) / max(len(X), 1), 4), "n_drivers": n,
           "shap_seconds": round(t1 - t0, 3), "sentences_seconds": round(time.perf_counter() - t1, 3),
           "model": model.name}


@_stage("score_e2e")
def _score_e2e(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.data.io import load_default_tables
    from churnmodel.drift import against_model
    from churnmodel.scoring import score_customers, write_table

    out = job.run / "scores.parquet"
    scoring = _config(job).scoring
    yield None
    t0 = time.perf_counter()
    model = _model(job)
    tables = load_default_tables(job.raw)
    t1 = time.perf_counter()
    as_of = tables.max_event_ts().normalize()
    found: dict[str, Any] = {}  # drift, measured while scoring as `churnmodel score` does
    scores = score_customers(model, tables, as_of, scoring, explain=True,
                             on_features=lambda X: found.update(drift=against_model(model.info, X)))
    t2 = time.perf_counter()
    write_table(scores, out)
    if found["drift"] is not None:
        write_table(found["drift"][0], job.run / "scores_drift.csv")
    yield {"rows": len(scores), "unit": "customers scored",
           "at_risk": int(scores["at_risk"].sum()), "load_seconds": round(t1 - t0, 3),
           "score_seconds": round(t2 - t1, 3), "write_seconds": round(time.perf_counter() - t2, 3)}


@_stage("write")
def _write(job: Job) -> Iterator[dict[str, Any] | None]:
    import pandas as pd

    from churnmodel.scoring import write_table

    scores = pd.read_parquet(job.run / "scores.parquet")
    yield None
    write_table(scores, job.run / "scores_copy.parquet")
    fig = {"rows": len(scores), "unit": "rows written", "columns": scores.shape[1],
           "bytes": (job.run / "scores_copy.parquet").stat().st_size}
    yield fig
    t0 = time.perf_counter()  # CSV, the other output format: an extra figure, not the stage's
    write_table(scores, job.run / "scores_copy.csv")
    fig["csv_seconds"] = round(time.perf_counter() - t0, 3)
    for suffix in (".parquet", ".csv"):
        (job.run / f"scores_copy{suffix}").unlink(missing_ok=True)


# --- the parent: data cache, dependencies, processes -------------------------------------

class Runner:
    """Runs jobs in fresh processes forked from a server that preloaded the libraries."""

    def __init__(self, start_method: str = "forkserver") -> None:
        self.ctx: Any = mp.get_context(start_method)
        if start_method == "forkserver":
            self.ctx.set_forkserver_preload(PRELOAD)

    def run(self, job: Job, verbose: bool = True) -> dict[str, Any]:
        import tempfile

        if verbose:
            print(f"  {LABELS.get(job.stage, job.key):<34} ...", end="", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.json")
            t0 = time.perf_counter()
            proc = self.ctx.Process(target=_child, args=(job, path), name=f"bench-{job.key}")
            proc.start()
            proc.join()
            wall = time.perf_counter() - t0
            if os.path.exists(path):
                rec = json.loads(Path(path).read_text())
            else:  # killed (e.g. out of memory) before it could report
                rec = {"stage": job.key, "error": f"process exited with code {proc.exitcode}"
                       + (" (killed: out of memory?)" if proc.exitcode == -9 else "")}
        rec["process_seconds"] = round(wall, 3)
        if verbose:
            print(" " + _stage_summary(rec), flush=True)
        return rec


def _stage_summary(rec: dict[str, Any]) -> str:
    if "error" in rec:
        return f"FAILED: {rec['error']}"
    return (f"{rec['seconds']:8.2f} s  {rec['rows']:>12,} {rec['unit']}  "
            f"peak {rec['peak_rss_mb']:,.0f} MB")


def data_dir(cache: Path, customers: int, seed: int) -> Path:
    """Where the synthetic data of one size and seed are cached."""
    return cache / f"{customers}_{seed}"


def data_cached(d: Path, customers: int, seed: int) -> bool:
    meta = d / "meta.json"
    if not meta.exists() or not all((d / f"{n}.parquet").exists() for n in TABLES):
        return False
    m = json.loads(meta.read_text())
    return m.get("customers") == customers and m.get("seed") == seed


def ensure_data(runner: Runner, d: Path, customers: int, seed: int,
                verbose: bool = True) -> dict[str, Any]:
    """Generate the data set in its own process unless cached; the generation record."""
    record = d / "generate.json"
    if data_cached(d, customers, seed):
        rec = json.loads(record.read_text()) if record.exists() else {}
        return {**rec, "cached": True}
    d.mkdir(parents=True, exist_ok=True)
    for stale in ("validated", "run"):
        _remove_tree(d / stale)
    rec = runner.run(Job("generate", "generate", str(d), customers, seed), verbose)
    if "error" not in rec:
        record.write_text(json.dumps(rec, indent=2))
    return {**rec, "cached": False}


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def resolve_stages(requested: Sequence[str], d: Path) -> list[str]:
    """The requested stages plus those whose outputs they need and that are missing."""
    want = set(requested)
    run = d / "run"
    needs_validated = {s for s in STAGES if s.startswith(("features_", "rfm_"))} | {"training_set",
                                                                                    "score"}
    if "write" in want and not (run / "scores.parquet").exists():
        want.add("score_e2e")
    if want & {"explain_at_risk", "explain_top10"} and not (run / "score_features.parquet").exists():
        want.add("score")
    if want & {"score", "explain_at_risk", "explain_top10", "score_e2e"} and not (
            run / "model" / "model.joblib").exists():
        want.add("train")
    if want & needs_validated and not (d / "validated" / "transactions.parquet").exists():
        want.add("load")
    return [s for s in STAGES if s in want]


# --- comparisons, scaling, targets -------------------------------------------------------

def compare_frames(a: pd.DataFrame, b: pd.DataFrame, columns: Sequence[str] | None = None,
                   tol: float = 1e-9) -> dict[str, Any]:
    """Do two feature frames agree (same index, columns; values to ``tol``, NaN = NaN)?

    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1.0, float("nan")]}, index=[1, 2])
    >>> compare_frames(a, a + 1e-12)["agree"]
    True
    """
    import numpy as np

    cols = list(columns) if columns is not None else list(a.columns)
    same_shape = (a.index.equals(b.index) and all(c in b.columns for c in cols)
                  and (columns is not None or list(a.columns) == list(b.columns)))
    if not same_shape:
        return {"agree": False, "reason": "index or columns differ", "columns": len(cols)}
    x = a[cols].to_numpy(dtype="float64")
    y = b[cols].to_numpy(dtype="float64")
    both_nan = np.isnan(x) & np.isnan(y)
    diff = np.where(both_nan, 0.0, np.abs(x - y))
    diff = np.where(np.isnan(diff), np.inf, diff)  # NaN on one side only
    rel = diff / np.maximum(np.abs(np.nan_to_num(y)), 1.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    return {"agree": bool(max_rel <= tol), "tolerance": tol, "max_abs_diff": max_abs,
            "max_rel_diff": max_rel, "rows": len(a), "columns": len(cols)}


def comparisons(stages: dict[str, dict[str, Any]], run: Path) -> dict[str, Any]:
    """The project's RFM builder against the pandas reference and the raw DuckDB query."""
    import pandas as pd

    fast = stages.get("features_rfm", {})
    out: dict[str, Any] = {}
    files = {k: run / f"rfm_{k}.parquet" for k in ("project", "pandas", "duckdb")}
    for other, limit in (("pandas", None), ("duckdb", DUCKDB_RATIO_LIMIT)):
        ref = stages.get(f"rfm_{other}", {})
        if "seconds" not in fast or "seconds" not in ref:
            continue
        rec: dict[str, Any] = {
            "project_seconds": fast["seconds"], f"{other}_seconds": ref["seconds"],
            "project_peak_rss_mb": fast["peak_rss_mb"], f"{other}_peak_rss_mb": ref["peak_rss_mb"],
            # > 1: the project is that many times faster / leaner than the other engine
            "speedup": round(ref["seconds"] / fast["seconds"], 3),
            "memory_ratio": round(ref["peak_rss_mb"] / fast["peak_rss_mb"], 3),
            # the project's time as a multiple of the other's (the 1.5x bar is on this one)
            "ratio": round(fast["seconds"] / ref["seconds"], 3),
        }
        if limit is not None:
            rec.update(limit=limit, met=bool(rec["ratio"] <= limit))
        if files["project"].exists() and files[other].exists():
            a, b = pd.read_parquet(files["project"]), pd.read_parquet(files[other])
            rec["agreement"] = compare_frames(a, b, None if other == "pandas" else RAW_COLUMNS)
        out[f"rfm_vs_{other}"] = rec
    return out


def memory_scaling(points: list[dict[str, Any]], stage: str) -> dict[str, Any]:
    """Slope of peak RSS against customers, and whether growth is at most linear.

    ``exponent`` is the log-log slope of the memory above the process's starting footprint
    (imports) against customers: 1 is linear, below 1 sub-linear.

    >>> pts = [{"customers": n, stage: {"peak_rss_mb": 300 + n / 1000, "start_rss_mb": 300}}
    ...        for n, stage in [(100_000, "s"), (300_000, "s"), (1_000_000, "s")]]
    >>> r = memory_scaling(pts, "s")
    >>> r["mb_per_100k_customers"], r["exponent"], r["at_most_linear"]
    (100.0, 1.0, True)
    """
    import numpy as np

    ok = [p for p in points if "peak_rss_mb" in p.get(stage, {})]
    if len(ok) < 2:
        return {"stage": stage, "points": len(ok)}
    n = np.array([p["customers"] for p in ok], dtype=float)
    peak = np.array([p[stage]["peak_rss_mb"] for p in ok])
    net = np.maximum(peak - np.array([p[stage]["start_rss_mb"] for p in ok]), 1.0)
    slope, intercept = np.polyfit(n, peak, 1)
    exponent = float(np.polyfit(np.log(n), np.log(net), 1)[0])
    return {"stage": stage, "points": len(ok), "customers": n.astype(int).tolist(),
            "peak_rss_mb": peak.round(1).tolist(),
            "mb_per_100k_customers": round(float(slope) * 100_000, 1),
            "intercept_mb": round(float(intercept), 1), "exponent": round(exponent, 3),
            "at_most_linear": bool(exponent <= LINEAR_TOLERANCE)}


def check_targets(stages: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured figures and whether it is met."""
    out = []
    for t in TARGETS:
        rec: dict[str, Any] = {**asdict(t)}
        s = stages.get(t.stage, {})
        if "seconds" not in s:
            rec.update(met=None, note="stage not run" if not s else s.get("error", "failed"))
        else:
            rec.update(seconds=s["seconds"], peak_rss_mb=s["peak_rss_mb"],
                       seconds_met=s["seconds"] <= t.max_seconds,
                       rss_met=s["peak_rss_mb"] <= t.max_rss_mb)
            rec["met"] = rec["seconds_met"] and rec["rss_met"]
        out.append(rec)
    return out


def busy_machine(res: dict[str, Any]) -> dict[str, Any]:
    """Was the machine shared while stages ran? (load average above cores + 1: the bench uses
    at most the cores, so the excess is other work competing with it, and timings are inflated)."""
    loads = [x for s in res["stages"].values() for x in s.get("load_average", [])]
    loads += res["machine"]["load_average"][:1] + res["load_average_end"][:1]
    cores = res["machine"].get("cores_available") or res["machine"].get("cores") or 1
    worst = max(loads, default=0.0)
    return {"max_load_average": worst, "cores": cores, "busy": bool(worst > cores + 1)}


def machine_facts() -> dict[str, Any]:
    """Cores, memory, CPU, OS, Python and library versions of this machine."""
    from importlib import metadata

    facts: dict[str, Any] = {"cores": os.cpu_count(), "platform": platform.platform(),
                             "python": platform.python_version()}
    with contextlib.suppress(AttributeError):
        facts["cores_available"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        meminfo = Path("/proc/meminfo").read_text().split("\n")
        kb = {ln.split(":")[0]: int(ln.split()[1]) for ln in meminfo if ln.strip()}
        facts["ram_gb"] = round(kb["MemTotal"] / 2**20, 1)
        facts["ram_available_gb"] = round(kb.get("MemAvailable", 0) / 2**20, 1)
    with contextlib.suppress(OSError):
        for ln in Path("/proc/cpuinfo").read_text().split("\n"):
            if ln.startswith("model name"):
                facts["cpu"] = ln.split(":", 1)[1].strip()
                break
    facts["load_average"] = [round(x, 2) for x in os.getloadavg()]
    versions: dict[str, str | None] = {}
    for lib in ("churnmodel", *LIBRARIES):
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    facts["libraries"] = versions
    return facts


# --- the report ----------------------------------------------------------------------------

def _busy_note(res: dict[str, Any]) -> list[str]:
    b = res.get("busy", {})
    if not b.get("busy"):
        return []
    return [f"NOTE: the machine was busy (load average up to {b['max_load_average']:.1f} on {b['cores']} "
            "cores): timings are inflated"]


def _fmt_target(t: Target | None, rec: dict[str, Any]) -> str:
    if t is None or "seconds" not in rec:
        return ""
    ok = rec["seconds"] <= t.max_seconds and rec["peak_rss_mb"] <= t.max_rss_mb
    return f"<= {t.max_seconds:g} s, {t.max_rss_mb / GIB:g} GB: {'met' if ok else 'MISSED'}"


def format_report(res: dict[str, Any]) -> str:
    """The results as a plain-text table (what the run prints)."""
    m = res["machine"]
    d = res["data"]
    lines = [
        f"churnmodel bench: {res['customers']:,} customers (seed {res['seed']}), "
        + ", ".join(f"{v:,} {k}" for k, v in d.get("tables", {}).items()),
        f"machine: {m.get('cores')} cores, {m.get('ram_gb')} GiB RAM, {m.get('cpu', '?')}; "
        f"Python {m['python']}; load average {m['load_average'][0]} at start, "
        f"{res['load_average_end'][0]} at end",
        *_busy_note(res),
        "peak MB = peak RSS of the stage's own process (fresh per stage), including Python, libraries "
        "and loading its input;",
        "input MB = RSS once the input is loaded, before the clock starts (end-to-end stages load "
        "inside the clock); MB = MiB, GB = GiB",
        "",
        f"{'stage':<34}{'seconds':>9}{'rows':>13}  {'unit':<22}{'rows/s':>12}{'input MB':>10}"
        f"{'peak MB':>9}  target",
    ]
    targets = {t.stage: t for t in TARGETS}
    gen = res.get("generate", {})
    if "seconds" in gen:
        lines.append(f"{'generate synthetic data' + (' (cached)' if gen.get('cached') else ''):<34}"
                     f"{gen['seconds']:>9.1f}{gen['rows']:>13,}  {'transactions':<22}"
                     f"{gen['rows'] / gen['seconds']:>12,.0f}{'':>10}{gen['peak_rss_mb']:>9,.0f}")
    for key, rec in res["stages"].items():
        label = LABELS.get(key, key)
        if "error" in rec:
            lines.append(f"{label:<34} FAILED: {rec['error']}")
            continue
        lines.append(f"{label:<34}{rec['seconds']:>9.2f}{rec['rows']:>13,}  {rec['unit']:<22}"
                     f"{rec['rows_per_second'] or 0:>12,.0f}{rec['input_rss_mb']:>10,.0f}"
                     f"{rec['peak_rss_mb']:>9,.0f}  " + _fmt_target(targets.get(key), rec))
    cmp = res.get("comparisons", {})
    if cmp:
        lines += ["", "comparisons (same run, same machine):"]
    if "rfm_vs_pandas" in cmp:
        c = cmp["rfm_vs_pandas"]
        agree = c.get("agreement", {})
        lines.append(f"  RFM builder vs pandas reference: {c['project_seconds']:.2f} s vs "
                     f"{c['pandas_seconds']:.2f} s = {c['speedup']:.2f}x faster; peak "
                     f"{c['project_peak_rss_mb']:,.0f} vs {c['pandas_peak_rss_mb']:,.0f} MB = "
                     f"{c['memory_ratio']:.2f}x leaner; values agree to 1e-9: "
                     f"{'yes' if agree.get('agree') else 'NO'} (max rel diff "
                     f"{agree.get('max_rel_diff', float('nan')):.1e})")
    if "rfm_vs_duckdb" in cmp:
        c = cmp["rfm_vs_duckdb"]
        agree = c.get("agreement", {})
        lines.append(f"  RFM builder vs raw DuckDB query: {c['project_seconds']:.2f} s vs "
                     f"{c['duckdb_seconds']:.2f} s = {c['ratio']:.2f}x its time (limit "
                     f"{c['limit']}x: {'met' if c['met'] else 'MISSED'}); peak "
                     f"{c['project_peak_rss_mb']:,.0f} vs {c['duckdb_peak_rss_mb']:,.0f} MB; core "
                     f"columns agree: {'yes' if agree.get('agree') else 'NO'}")
    ex = res["stages"].get("explain_top10", {})
    if "rows_per_second" in ex and ex["rows_per_second"]:
        lines.append(f"  drivers per second: {ex['rows_per_second']:,.0f} (top 10%: {ex['rows']:,} "
                     f"customers in {ex['seconds']:.1f} s)")
    tr = res["stages"].get("train", {})
    if "test_roc_auc" in tr:
        capped = tr.get("max_customers_per_cutoff")
        lines.append(f"  training: champion {tr['champion']}, test ROC AUC "
                     + ", ".join(f"{k} {v:.4f}" for k, v in tr["test_roc_auc"].items())
                     + f"; {tr['rows']:,} training rows, cap per cutoff: {capped or 'none'}")
    for name in ("scaling", "cap_study"):
        if res.get(name):
            lines += ["", _format_extra(name, res[name])]
    lines += ["", "targets (issue 5):"]
    for t in res["targets"]:
        if t.get("met") is None:
            lines.append(f"  {t['name']:<40} not measured ({t.get('note')})")
            continue
        miss = []
        if not t["seconds_met"]:
            miss.append(f"{t['seconds'] - t['max_seconds']:.1f} s over")
        if not t["rss_met"]:
            miss.append(f"{t['peak_rss_mb'] - t['max_rss_mb']:,.0f} MB over")
        lines.append(f"  {t['name']:<40} {t['seconds']:8.1f} s / {t['max_seconds']:g} s, "
                     f"{t['peak_rss_mb']:7,.0f} / {t['max_rss_mb']:,.0f} MB: "
                     + ("met" if t["met"] else "MISSED (" + ", ".join(miss) + ")"))
    if "rfm_vs_duckdb" in cmp:
        c = cmp["rfm_vs_duckdb"]
        lines.append(f"  {'RFM builder within 1.5x of raw DuckDB':<40} {c['ratio']:.2f}x: "
                     + ("met" if c["met"] else "MISSED"))
    for s in (res.get("scaling") or {}).get("slopes", []):
        lines.append(f"  {'memory at most linear (' + s['stage'] + ')':<40} exponent "
                     f"{s.get('exponent', float('nan')):.2f}: "
                     + ("met" if s.get("at_most_linear") else "MISSED"))
    return "\n".join(lines)


def _format_extra(name: str, block: dict[str, Any]) -> str:
    if name == "scaling":
        lines = ["memory scaling (peak RSS MB; each point a fresh process):",
                 f"  {'customers':>10}{'transactions':>14}{'load':>10}{'features':>10}{'feat s':>9}"]
        for p in block["points"]:
            ld, ft = p.get("load", {}), p.get("features_all", {})
            lines.append(f"  {p['customers']:>10,}{p.get('transactions', 0):>14,}"
                         f"{ld.get('peak_rss_mb', float('nan')):>10,.0f}"
                         f"{ft.get('peak_rss_mb', float('nan')):>10,.0f}"
                         f"{ft.get('seconds', float('nan')):>9.2f}")
        for s in block["slopes"]:
            if "exponent" in s:
                lines.append(f"  {s['stage']}: {s['mb_per_100k_customers']:,.1f} MB per 100k customers, "
                             f"exponent {s['exponent']:.2f} "
                             f"({'at most linear' if s['at_most_linear'] else 'SUPER-LINEAR'})")
        return "\n".join(lines)
    lines = ["training-row cap per cutoff (LightGBM only; AUC on the full test population):",
             f"  {'cap':>10}{'train rows':>12}{'seconds':>9}{'peak MB':>9}{'test AUC':>10}{'vs best':>9}"]
    for r in block["runs"]:
        if "error" in r:
            lines.append(f"  {r.get('cap') or 'none':>10} FAILED: {r['error']}")
            continue
        lines.append(f"  {str(r['cap'] or 'none'):>10}{r['rows']:>12,}{r['seconds']:>9.1f}"
                     f"{r['peak_rss_mb']:>9,.0f}{r['auc']:>10.4f}{r['auc_cost']:>9.4f}")
    return "\n".join(lines)


# --- the command -----------------------------------------------------------------------------

# At the full size, the memory slope over customers (issue 5) comes with every run.
FULL_SIZE_SCALING = (100_000, 300_000, 1_000_000)


def _scaling_arg(text: str) -> list[int] | str:
    """``auto`` (the slope at the full size only), ``none``, or a list of sizes."""
    word = text.strip().lower()
    return word if word in ("auto", "none") else _int_list(text)


def _int_list(text: str) -> list[int]:
    try:
        return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None


def _cap(text: str) -> int | None:
    return None if text.strip().lower() in ("none", "0") else _int_list(text)[0]


def _cap_list(text: str) -> list[int | None]:
    out: list[int | None] = []
    for x in text.split(","):
        x = x.strip().lower()
        if x:
            out.append(None if x == "none" else _int_list(x)[0])
    return out


def build_parser() -> argparse.ArgumentParser:
    """Options of ``python -m churnmodel.bench`` (and ``churnmodel bench``)."""
    p = argparse.ArgumentParser(
        prog="churnmodel bench",
        description="Measure every stage (seconds, rows/second, peak RSS) on synthetic data, "
                    "compare the RFM engine with pandas and raw DuckDB, check the targets.")
    p.add_argument("--customers", type=int, default=1_000_000,
                   help="synthetic customers (default 1000000: about 20M transactions)")
    p.add_argument("--seed", type=int, default=42, help="seed of the synthetic data (default 42)")
    p.add_argument("--out", default="bench/results.json", help="results JSON (default bench/results.json)")
    p.add_argument("--data-cache", default="bench/data",
                   help="where generated data are cached, per size and seed (default bench/data)")
    p.add_argument("--stages", nargs="+", choices=(*STAGES, "none"), metavar="STAGE",
                   help=f"stages to run (default all; needed inputs are added; 'none' with --scaling or "
                        f"--cap-study runs only those): {', '.join(STAGES)}")
    p.add_argument("--max-customers-per-cutoff", type=_cap, default=DEFAULT_CAP, metavar="N|none",
                   help="customers sampled per cutoff in training_set and train ([training] "
                        f"max_customers_per_cutoff; default {DEFAULT_CAP}, which keeps training at 1M "
                        "customers near 1M rows; 'none' = every active customer)")
    p.add_argument("--config", help="TOML config whose [labels], [training], [model] and [scoring] "
                   "settings to benchmark (its data sections are ignored; default: built-in defaults)")
    p.add_argument("--scaling", type=_scaling_arg, default="auto", metavar="N,N,...|auto|none",
                   help="also run load + features_all at these sizes and report the memory slope, "
                        "e.g. 100000,300000,1000000 (default auto: those three when --customers "
                        "is 1000000, none otherwise)")
    p.add_argument("--cap-study", type=_cap_list, metavar="CAP,...",
                   help="also train LightGBM alone with these per-cutoff caps ('none' = no cap) "
                        "and report the test AUC each costs, e.g. none,50000,100000")
    p.add_argument("--start-method", choices=("forkserver", "spawn"), default="forkserver",
                   help="how stage processes start (default forkserver: libraries imported once)")
    p.add_argument("--quiet", action="store_true", help="print only the final table")
    return p


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark described by parsed ``args``; return the results (also written)."""
    from churnmodel.config import load_config

    started = datetime.now(UTC)
    if args.scaling == "auto":
        args.scaling = list(FULL_SIZE_SCALING) if args.customers == FULL_SIZE_SCALING[-1] else None
    elif args.scaling == "none":
        args.scaling = None
    if args.config:
        args.config = str(Path(args.config).resolve())
        load_config(args.config)  # a bad config fails now, not in every stage
    machine = machine_facts()
    runner = Runner(args.start_method)
    verbose = not args.quiet
    cache = Path(args.data_cache)
    d = data_dir(cache, args.customers, args.seed)
    say = print if verbose else (lambda *a, **k: None)
    say(f"churnmodel bench: {args.customers:,} customers, seed {args.seed}, data in {d}")
    gen = ensure_data(runner, d, args.customers, args.seed, verbose)
    if "error" in gen:
        raise SystemExit(f"error: generating the data failed: {gen['error']}")
    if gen.get("cached"):
        say(f"  using cached data in {d}")
    stages: dict[str, dict[str, Any]] = {}
    requested = [s for s in (args.stages or STAGES) if s != "none"]
    for stage in resolve_stages(requested, d) if requested else []:
        job = Job(stage, stage, str(d), args.customers, args.seed, config=args.config,
                  cap=args.max_customers_per_cutoff if stage in ("training_set", "train") else None)
        stages[stage] = runner.run(job, verbose)
    results: dict[str, Any] = {
        "churnmodel_bench": 1, "started": started.isoformat(timespec="seconds"),
        "arguments": {k: v for k, v in vars(args).items()},
        "customers": args.customers, "seed": args.seed, "data_dir": str(d),
        "data": {"tables": gen.get("tables") or stages.get("load", {}).get("tables", {})},
        "settings": {
            "max_customers_per_cutoff": args.max_customers_per_cutoff,
            "start_method": args.start_method,
            "peak_rss": "peak resident memory of the stage's own process (fresh per stage), "
                        "including Python, the imported libraries and loading the stage's input",
            "units": {"seconds": "wall seconds of the stage (input loaded before the clock "
                                 "starts, except train and score_e2e, which load as part of the job)",
                      "rss": "MiB (2**20 bytes)"},
        },
        "machine": machine, "generate": gen, "stages": stages,
    }
    results["comparisons"] = comparisons(stages, d / "run")
    if args.scaling:
        results["scaling"] = _scaling(runner, args, cache, stages, verbose)
    if args.cap_study:
        results["cap_study"] = _cap_study(runner, args, d, verbose)
    results["targets"] = check_targets(stages)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    results["busy"] = busy_machine(results)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=_json_default))
    tmp.replace(out)
    return results


def _scaling(runner: Runner, args: argparse.Namespace, cache: Path,
             main_stages: dict[str, dict[str, Any]], verbose: bool) -> dict[str, Any]:
    points = []
    for n in sorted(set(args.scaling)):
        if verbose:
            print(f"scaling: {n:,} customers")
        d = data_dir(cache, n, args.seed)
        gen = ensure_data(runner, d, n, args.seed, verbose)
        point: dict[str, Any] = {"customers": n,
                                 "transactions": (gen.get("tables") or {}).get("transactions", 0)}
        for stage in ("load", "features_all"):
            if n == args.customers and "seconds" in main_stages.get(stage, {}):
                point[stage] = main_stages[stage]
            else:
                point[stage] = runner.run(Job(stage, stage, str(d), n, args.seed, config=args.config),
                                          verbose)
        points.append(point)
    keep = ("seconds", "rows", "peak_rss_mb", "start_rss_mb", "input_rss_mb", "error")
    slim = [{k: ({f: v for f, v in p[k].items() if f in keep} if isinstance(p[k], dict) else p[k])
             for k in p} for p in points]
    return {"points": slim, "slopes": [memory_scaling(slim, s) for s in ("features_all", "load")]}


def _cap_study(runner: Runner, args: argparse.Namespace, d: Path, verbose: bool) -> dict[str, Any]:
    runs = []
    for cap in args.cap_study:
        key = f"train_cap_{cap or 'none'}"
        if verbose:
            print(f"cap study: {f'{cap:,} customers' if cap else 'every active customer'} per cutoff, "
                  "LightGBM only")
        rec = runner.run(Job("train", key, str(d), args.customers, args.seed, cap=cap,
                             candidates=("lightgbm",), config=args.config), verbose)
        if "error" in rec:
            runs.append({"cap": cap, "error": rec["error"]})
            continue
        full = rec.get("test_roc_auc_full_population")
        auc = full["roc_auc"] if full else rec["test_roc_auc"]["lightgbm"]
        runs.append({"cap": cap, "rows": rec["rows"], "seconds": rec["seconds"],
                     "peak_rss_mb": rec["peak_rss_mb"], "auc": auc,
                     "auc_on": "full test population" if full else "test population (uncapped)",
                     "best_iteration": rec.get("best_iteration")})
    best = max((r["auc"] for r in runs if "auc" in r), default=float("nan"))
    for r in runs:
        if "auc" in r:
            r["auc_cost"] = round(best - r["auc"], 5)
    return {"customers": args.customers, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 if every stage ran (targets may still be missed: see the table)."""
    from churnmodel.errors import ChurnModelError

    args = build_parser().parse_args(argv)
    try:
        res = run_bench(args)
    except ChurnModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_report(res))
    print(f"\nwrote {args.out}")
    failed = [k for k, v in res["stages"].items() if "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
