"""The stages of the benchmark: each loads its input, then runs the measured work.

A stage is a generator registered under its name(s) in :data:`STAGE_FUNCTIONS`: the code
before the first ``yield`` loads its input (not timed), the code up to the second ``yield``
is the measured stage, which yields its figures; the code after it saves outputs later
stages read (not timed, not in the peak). :func:`resolve_stages` adds the stages whose
outputs a requested stage needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from churnmodel.config import Config
    from churnmodel.data.tables import Tables

from churnmodel.bench.job import TABLES, Job

FAMILIES = ("rfm", "satisfaction", "service", "profile", "engagement", "contact")
FAMILY_TABLE = {"rfm": "transactions", "satisfaction": "feedback", "service": "tickets",
                "profile": "customers", "engagement": "events", "contact": "transactions"}
STAGES = ("load", *(f"features_{f}" for f in FAMILIES), "features_all", "rfm_pandas", "rfm_duckdb",
          "training_set", "train", "score", "explain_at_risk", "explain_top10", "score_e2e", "write")
#: The Spark engine next to features_all and score_e2e (``--engine spark``: local[2]).
SPARK_STAGES = ("features_all_spark", "score_e2e_spark")
#: Run only when asked for (``--stages rest`` or ``--rest``): it starts servers and takes minutes.
OPTIONAL_STAGES = ("rest", *SPARK_STAGES)
ALL_STAGES = (*STAGES, *OPTIONAL_STAGES)
LABELS = {
    "generate": "generate synthetic data", "load": "load + validate",
    **{f"features_{f}": f"features: {f}" for f in FAMILIES},
    "features_all": "features: all (+ population)", "rfm_pandas": "RFM: pandas reference",
    "rfm_duckdb": "RFM: raw DuckDB query", "training_set": "training set (all cutoffs)",
    "train": "train end to end (load+fit)", "score": "score: features + predict",
    "explain_at_risk": "explain at-risk customers", "explain_top10": "explain top 10% by risk",
    "score_e2e": "score end to end (+write)", "write": "write scores (parquet)",
    "rest": "REST: serve vs bare booster",
    "features_all_spark": "features: all, Spark engine", "score_e2e_spark": "score end to end, Spark",
}


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


Stage = Callable[[Job], Iterator[dict[str, Any] | None]]
STAGE_FUNCTIONS: dict[str, Stage] = {}


def _stage(*names: str) -> Callable[[Stage], Stage]:
    def deco(fn: Stage) -> Stage:
        for name in names:
            STAGE_FUNCTIONS[name] = fn
        return fn

    return deco


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
    data = generate(customers=job.customers, seed=job.seed, events=job.events)
    t1 = time.perf_counter()
    write_synthetic(job.raw, data)
    tables = {n: len(getattr(data, n)) for n in TABLES if getattr(data, n) is not None}
    yield {"rows": tables["transactions"], "unit": "transactions", "tables": tables,
           "generate_seconds": round(t1 - t0, 3), "write_seconds": round(time.perf_counter() - t1, 3)}


@_stage("load")
def _load(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.data.io import load_default_tables

    yield None
    tables = load_default_tables(job.raw)
    yield {"rows": _rows(tables), "unit": f"rows ({len(tables.names())} tables)",
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
    yield {"rows": _rows(tables), "unit": f"rows ({len(tables.names())} tables)", "customers": len(pop),
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


def _score_to_file(job: Job, cfg: Config, out: Path) -> tuple[Any, dict[str, float], Tables]:
    """`churnmodel score` end to end on ``cfg``'s engine: load the model and the tables,
    (open the Spark session), score with drivers, drift measured as `score` does, write
    ``out`` and its ``<stem>_drift.csv``; the scores, each step's seconds and the tables."""
    from churnmodel import engine
    from churnmodel.data.io import load_default_tables
    from churnmodel.drift import against_model
    from churnmodel.scoring import write_table

    t0 = time.perf_counter()
    model = _model(job)
    tables = load_default_tables(job.raw)
    t1 = time.perf_counter()
    extra: dict[str, Any] = {}
    if engine.uses_spark(cfg):
        from churnmodel.engine import spark as es

        extra["spark"] = es.spark_session(cfg.engine)
    t2 = time.perf_counter()
    as_of = tables.max_event_ts().normalize()
    found: dict[str, Any] = {}
    scores = engine.score_customers(
        model, tables, as_of, cfg, explain=True,
        on_features=lambda X: found.update(drift=against_model(model.info, X)), **extra)
    t3 = time.perf_counter()
    write_table(scores, out)
    if found["drift"] is not None:
        write_table(found["drift"][0], out.with_name(f"{out.stem}_drift.csv"))
    seconds = {"load_seconds": t1 - t0, "score_seconds": t3 - t2,
               "write_seconds": time.perf_counter() - t3}
    if extra:
        seconds["session_seconds"] = t2 - t1
    return scores, {k: round(v, 3) for k, v in seconds.items()}, tables


@_stage("score_e2e")
def _score_e2e(job: Job) -> Iterator[dict[str, Any] | None]:
    cfg = _config(job)
    yield None
    scores, seconds, _ = _score_to_file(job, cfg, job.run / "scores.parquet")
    yield {"rows": len(scores), "unit": "customers scored",
           "at_risk": int(scores["at_risk"].sum()), **seconds}


class _TreePeak:
    """Peak resident memory of this process's descendants (Spark's JVM and its Python
    workers), sampled twice a second from /proc while the stage runs."""

    def __init__(self) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, _descendants_rss_mb())


def _descendants_rss_mb() -> float:
    import os

    parent: dict[int, int] = {}
    rss: dict[int, float] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # from field 3 (state) on
            parent[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, IndexError, ValueError):
            continue
    me, total = os.getpid(), 0.0
    for pid, mb in rss.items():
        p: int | None = parent.get(pid)
        while p is not None and p not in (0, 1, me):
            p = parent.get(p)
        if p == me and pid != me:
            total += mb
    return total


def _spark_engine(job: Job) -> Any:
    from churnmodel.config import EngineConfig

    return EngineConfig(name="spark", master="local[2]")


@_stage("features_all_spark")
def _features_all_spark(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.engine import spark as es
    from churnmodel.features import fix_builders

    tables = _validated_tables(job)
    as_of = tables.max_event_ts().normalize()
    labels = _config(job).labels
    builders = fix_builders(tables, list(FAMILIES))
    engine = _spark_engine(job)
    yield None
    with _TreePeak() as jvm:
        t0 = time.perf_counter()
        spark = es.spark_session(engine)
        t1 = time.perf_counter()
        feats = es.features(tables, as_of, builders, labels.horizon_days,
                            labels.activity_lookback_days, engine, spark=spark)
        t2 = time.perf_counter()
    yield {"rows": _rows(tables), "unit": f"rows ({len(tables.names())} tables)",
           "customers": len(feats), "columns": feats.shape[1], "cutoff": str(as_of.date()),
           "buckets": es.bucket_count(tables, engine), "session_seconds": round(t1 - t0, 3),
           "job_seconds": round(t2 - t1, 3), "spark_peak_rss_mb": round(jvm.peak_mb, 1)}


@_stage("score_e2e_spark")
def _score_e2e_spark(job: Job) -> Iterator[dict[str, Any] | None]:
    from churnmodel.engine import spark as es

    cfg = replace(_config(job), engine=_spark_engine(job))
    out = job.run / "scores_spark.parquet"
    yield None
    with _TreePeak() as jvm:
        scores, seconds, tables = _score_to_file(job, cfg, out)
    local = job.run / "scores.parquet"
    same = local.read_bytes() == out.read_bytes() if local.exists() else None
    yield {"rows": len(scores), "unit": "customers scored", "at_risk": int(scores["at_risk"].sum()),
           **seconds, "buckets": es.bucket_count(tables, cfg.engine),
           "spark_peak_rss_mb": round(jvm.peak_mb, 1), "same_file_as_duckdb": same}


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


def resolve_stages(requested: Sequence[str], d: Path) -> list[str]:
    """The requested stages plus those whose outputs they need and that are missing."""
    want = set(requested)
    if "features_all_spark" in want:
        want.add("features_all")  # the DuckDB engine beside it, in the same run
    run = d / "run"
    needs_validated = {s for s in STAGES if s.startswith(("features_", "rfm_"))} | {"training_set",
                                                                                    "score"}
    if "write" in want and not (run / "scores.parquet").exists():
        want.add("score_e2e")
    if want & {"explain_at_risk", "explain_top10"} and not (run / "score_features.parquet").exists():
        want.add("score")
    if "score_e2e_spark" in want and not (run / "scores.parquet").exists():
        want.add("score_e2e")  # the DuckDB engine's file, to compare with
    if want & {"score", "explain_at_risk", "explain_top10", "score_e2e", "rest",
               "score_e2e_spark"} and not (run / "model" / "model.joblib").exists():
        want.add("train")
    needs_validated |= {"rest", "features_all_spark"}
    if want & needs_validated and not (d / "validated" / "transactions.parquet").exists():
        want.add("load")
    return [s for s in ALL_STAGES if s in want]
