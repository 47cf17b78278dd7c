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
``rest``               (on request) ``churnmodel serve`` and the bare booster under REST load
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

The rooms: :mod:`~churnmodel.bench.job` (what one stage process is told),
:mod:`~churnmodel.bench.stages` (the measured work), :mod:`~churnmodel.bench.runner` (a fresh
process per stage, its seconds and peak memory), :mod:`~churnmodel.bench.data` (the cached
synthetic data), :mod:`~churnmodel.bench.compare` (engines compared, memory slope, targets,
machine facts), :mod:`~churnmodel.bench.rest` (the optional REST stage: ``churnmodel
serve`` under load against the bare booster), :mod:`~churnmodel.bench.printing` (the table) and
:mod:`~churnmodel.bench.command` (options and the run).
"""

from churnmodel.bench.command import DEFAULT_CAP, build_parser, main, run_bench
from churnmodel.bench.compare import (
    LIBRARIES,
    TARGETS,
    Target,
    busy_machine,
    check_targets,
    compare_frames,
    comparisons,
    machine_facts,
    memory_scaling,
)
from churnmodel.bench.data import data_cached, data_dir, ensure_data
from churnmodel.bench.job import TABLES, Job
from churnmodel.bench.printing import format_report
from churnmodel.bench.rest import rest_targets
from churnmodel.bench.runner import Runner
from churnmodel.bench.stages import (
    ALL_STAGES,
    LABELS,
    OPTIONAL_STAGES,
    RAW_COLUMNS,
    RAW_DUCKDB_RFM,
    STAGES,
    raw_duckdb_rfm,
    raw_duckdb_sql,
    resolve_stages,
)

__all__ = ["ALL_STAGES", "DEFAULT_CAP", "LABELS", "LIBRARIES", "OPTIONAL_STAGES", "RAW_COLUMNS",
           "RAW_DUCKDB_RFM", "STAGES", "TABLES", "TARGETS", "Job", "Runner", "Target", "build_parser",
           "busy_machine", "check_targets", "compare_frames", "comparisons", "data_cached", "data_dir",
           "ensure_data", "format_report", "machine_facts", "main", "memory_scaling", "raw_duckdb_rfm",
           "raw_duckdb_sql", "resolve_stages", "rest_targets", "run_bench"]
