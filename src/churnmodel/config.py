"""One configuration, loaded once from TOML into frozen, typed objects.

Every section has defaults, so an empty file (or none) is a valid configuration that
trains on the embedded synthetic data. Unknown keys are errors that suggest the nearest
valid key: a typo must never silently fall back to a default.

Relative paths are resolved against the directory of the config file (or the current
directory when there is no file).

Workspaces: a config names its project (``[project] name = "shop"``; without it, the
config file's name, e.g. ``shop.toml`` is project ``shop``; no config at all is project
``default``). Unless set explicitly, the project's model directory is
``models/<name>/``, its report ``reports/<name>/``, its MLflow experiment and registered
model ``churnmodel-<name>``, all under the workspace root (the current directory, or
``CHURNMODEL_ROOT``). Training one project never touches another's files or alias.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from churnmodel.contracts import CONTRACTS
from churnmodel.errors import ConfigError, nearest

SOURCE_OPTIONS = ("path", "query", "table", "sep", "encoding", "date_format", "na_values",
                  "missing_ids")
# what loading does with rows that have no customer id: refuse them (one error) or drop them
# (one note with the count)
MISSING_IDS = ("error", "drop")

# Seeds feed numpy's generators, which take 0 .. 2**32 - 1.
SEED_RANGE = (0, 2**32 - 1)
# Tracking URI schemes MLflow understands ("postgresql+psycopg2" counts as postgresql).
TRACKING_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql",
                    "databricks", "databricks-uc", "uc")


@dataclass(frozen=True)
class TableSource:
    """Where one table comes from and how its columns map onto the contract."""

    path: Path | None = None
    query: str | None = None
    table: str | None = None  # a Spark catalog table or view ([engine] name = "spark")
    columns: Mapping[str, str] = field(default_factory=dict)  # canonical -> source name
    sep: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    na_values: tuple[str, ...] | None = None  # texts read as missing (ids: none by default)
    missing_ids: str = "error"  # rows without a customer id: "error" or "drop" (MISSING_IDS)

    def describe(self) -> str:
        """Where the rows come from, for records: the resolved file, the query or the table."""
        if self.path is not None:
            return str(Path(self.path).resolve())
        if self.table is not None:
            return f"spark table {self.table}"
        return str(self.query)

    def short(self) -> str:
        """The same in a few words, for a page's header."""
        if self.path is not None:
            return Path(self.path).name
        return f"spark table {self.table}" if self.table is not None else "the query"


# a Spark table name: up to three parts (catalog.schema.name), each a plain or `quoted` name
TABLE_NAME = re.compile(r"^(?:(?:\w+|`[^`]+`)\.){0,2}(?:\w+|`[^`]+`)$")

# the fewest customers the synthetic generator accepts
SYNTH_MIN_CUSTOMERS = 10


@dataclass(frozen=True)
class SynthConfig:
    customers: int = 20_000
    seed: int = 42
    end: str = "2025-12-31"
    years: int = 3

    def __post_init__(self) -> None:
        check_date("data.synthetic.end", self.end)
        check_count("data.synthetic.customers", self.customers, SYNTH_MIN_CUSTOMERS)
        check_seed("data.synthetic.seed", self.seed)
        if not 1 <= self.years <= 20:
            raise ConfigError(f"data.synthetic.years must be between 1 and 20, got {self.years}.")


@dataclass(frozen=True)
class DataConfig:
    dir: Path = Path("data/default")
    tables: Mapping[str, TableSource] = field(default_factory=dict)
    synthetic: SynthConfig = field(default_factory=SynthConfig)

    @property
    def snapshot(self) -> bool:
        """True for snapshot mode: a customers table alone (with a ``churned`` flag to train)."""
        return "customers" in self.tables and "transactions" not in self.tables

    @property
    def uses_default(self) -> bool:
        """True when no table is configured: the embedded synthetic data in ``dir`` is used."""
        return not self.tables

    def source_id(self) -> str:
        """Where the data come from, for the champion duel: the folder of the embedded data,
        or each configured table's file (or query)."""
        if self.uses_default:
            return f"dir:{Path(self.dir).resolve()}"
        return ";".join(f"{n}={t.describe()}" for n, t in sorted(self.tables.items()))


@dataclass(frozen=True)
class LabelConfig:
    horizon_days: int = 90
    activity_lookback_days: int = 365

    def __post_init__(self) -> None:
        for name in ("horizon_days", "activity_lookback_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"labels.{name} must be at least 1 day, got {getattr(self, name)}.")


@dataclass(frozen=True)
class TrainingConfig:
    """Cutoffs, the ladder and the refit (:mod:`churnmodel.modeling.ladder`).

    ``n_cutoffs`` monthly cutoffs at most are labelled; with enough of them the run uses
    train / validation / test cutoffs, with fewer a customer hold-out and ``cv_folds``
    customer-grouped folds (``holdout_share`` of the customers test). ``refit`` refits the
    champion on the latest labelled cutoffs before it ships.
    """

    as_of: str | None = None
    n_cutoffs: int = 15
    cutoff_step_months: int = 1
    embargo: bool = True
    max_customers_per_cutoff: int | None = None
    seed: int = 42
    refit: bool = True
    cv_folds: int = 5
    holdout_share: float = 0.25

    def __post_init__(self) -> None:
        check_seed("training.seed", self.seed)
        if self.as_of is not None:
            check_date("training.as_of", self.as_of)
        if self.n_cutoffs < 1:
            raise ConfigError(f"training.n_cutoffs must be at least 1, got {self.n_cutoffs}; "
                              "12 or more is usual.")
        if not 3 <= self.cv_folds <= 20:
            raise ConfigError(f"training.cv_folds must be between 3 and 20, got {self.cv_folds}.")
        if not 0.05 <= self.holdout_share <= 0.5:
            raise ConfigError(f"training.holdout_share must be between 0.05 and 0.5, got "
                              f"{self.holdout_share}.")
        if self.cutoff_step_months < 1:
            raise ConfigError(f"training.cutoff_step_months must be at least 1, "
                              f"got {self.cutoff_step_months}.")
        if self.max_customers_per_cutoff is not None and self.max_customers_per_cutoff < 1:
            raise ConfigError("training.max_customers_per_cutoff must be at least 1 (or left out "
                              f"for all customers), got {self.max_customers_per_cutoff}.")


@dataclass(frozen=True)
class FeatureConfig:
    """Which feature families are built, and single features the model must not use.

    ``exclude`` drops features by name after building (e.g. one that leaks, one your
    scoring data cannot supply, or a cumulative count that drifts as customers age).
    """

    builders: tuple[str, ...] = ("rfm", "satisfaction", "service", "profile", "engagement",
                                 "contact")
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.builders:
            raise ConfigError("features.builders is empty: name at least one, e.g. "
                              "builders = [\"rfm\"].")


@dataclass(frozen=True)
class ModelConfig:
    """Candidates and LightGBM settings.

    ``learning_rate`` 0.1 with trees of ``max_depth`` 6 keeps the champion cheap to
    explain: TreeSHAP costs about trees x sum of squared leaf depths. Measured with the
    bench's training sets, against 0.05 with unlimited depth: test ROC AUC 0.9389 vs 0.9391
    at 1M customers and 0.9374 vs 0.9376 at 20k, with 3.8x faster explanations (0.52 vs
    1.96 ms per customer at 1M), so drivers for the top 10% of 1M customers fit in the
    scoring budget. ``max_depth = -1`` lifts the limit.
    """

    candidates: tuple[str, ...] = ("lightgbm", "logistic_rfm", "recency", "bgnbd")
    calibration: str = "sigmoid"
    # One LightGBM thread: on the 2-core machine shared with other work (load 5-10), 200 rounds
    # on 40k x 49 took 4.9 s with 1 thread vs 75.5 s with 2 and 34.9 s with OpenMP's default;
    # with one more busy core 13.2 s vs 208.7 s; at load 2-3.5, 2.2 s vs 126.7 s (2026-12-02,
    # README Performance). OpenMP threads spin-wait for each other, so a second thread only
    # pays on a machine that is truly idle.
    n_jobs: int = 1
    num_leaves: int = 31
    max_depth: int = 6
    learning_rate: float = 0.1
    n_estimators: int = 2000
    early_stopping_rounds: int = 100
    min_child_samples: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    # LightGBM features whose growth never lowers the predicted risk (monotone constraints)
    monotone_increasing: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ConfigError("model.candidates is empty: name at least one, e.g. "
                              '["lightgbm", "logistic_rfm", "recency", "bgnbd"].')
        if not self.learning_rate > 0:
            raise ConfigError(f"model.learning_rate must be above 0, got {self.learning_rate}.")
        if self.num_leaves < 2:
            raise ConfigError(f"model.num_leaves must be at least 2, got {self.num_leaves}.")
        if self.max_depth == 0 or self.max_depth < -1:
            raise ConfigError(f"model.max_depth must be at least 1, or -1 for no limit; got "
                              f"{self.max_depth}.")
        for name in ("n_estimators", "early_stopping_rounds", "n_jobs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, got {getattr(self, name)}.")
        for name in ("feature_fraction", "bagging_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise ConfigError(f"model.{name} must be in (0, 1], got {getattr(self, name)}.")


DEFAULT_PROJECT = "default"
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ProjectConfig:
    """The workspace: its name scopes the model directory, report, experiment and model."""

    name: str = DEFAULT_PROJECT

    def __post_init__(self) -> None:
        if not _PROJECT_NAME.fullmatch(self.name):
            raise ConfigError(f"project.name must be 1-64 letters, digits, '-', '_' or '.', "
                              f"starting with a letter or digit (it names folders and the MLflow "
                              f"model), got {self.name!r}.")


@dataclass(frozen=True)
class OutputConfig:
    """Where a training writes. ``report = false`` leaves out the HTML report and the figures
    it shows (``<model_dir>/plots``) after each training, e.g. in a scheduled retraining job
    or a test that does not look at them (``churnmodel train --no-report`` does the same for
    one run); ``churnmodel report`` still writes the page on demand."""

    model_dir: Path = Path("models") / DEFAULT_PROJECT
    report_dir: Path = Path("reports") / DEFAULT_PROJECT
    report: bool = True


@dataclass(frozen=True)
class ScoringConfig:
    """Who is flagged ``at_risk`` and what a retention offer is worth.

    The threshold maximises the expected campaign profit on the validation cutoff:
    contacting a customer costs ``offer_cost``; a contacted churner accepts with
    probability ``acceptance_rate`` and is then kept, saving their value: the ``value``
    column of the customers table when it is mapped (a CLV or margin figure), else their
    net spend over the last ``value_window_days``. ``top_k_percent`` replaces the profit
    rule by a fixed share: the threshold that flags that share on the validation cutoff.
    Either way the threshold is a probability fixed at training, so batch scoring and the
    REST server flag the same customers. Customers who have already lapsed (no purchase
    for a horizon) are never at risk: they go to the win-back list, where an offer is
    accepted with probability ``winback_acceptance_rate`` (lower than a retention offer's;
    :mod:`churnmodel.decisions`).

    ``currency`` is the unit of the money amounts (transaction amounts, customer value,
    offer cost), printed after them in the report and the command line's summaries, e.g.
    ``"EUR"``. The default ``""`` prints bare numbers: the data do not say their currency.
    """

    offer_cost: float = 30.0
    acceptance_rate: float = 0.25
    winback_acceptance_rate: float = 0.05
    value_window_days: int = 365
    top_k_percent: float | None = None
    n_drivers: int = 3
    risk_bands: tuple[float, ...] = (0.2, 0.5, 0.8)
    currency: str = ""

    def __post_init__(self) -> None:
        if len(self.currency) > 10 or self.currency != self.currency.strip() or "\n" in self.currency:
            raise ConfigError(f"scoring.currency must be a short code or symbol such as \"EUR\" or "
                              f"\"$\" (at most 10 characters, no surrounding spaces), got "
                              f"{self.currency!r}.")
        if not 0 < self.acceptance_rate <= 1:
            raise ConfigError(f"scoring.acceptance_rate must be in (0, 1], got {self.acceptance_rate}.")
        if not 0 < self.winback_acceptance_rate <= 1:
            raise ConfigError(f"scoring.winback_acceptance_rate must be in (0, 1], got "
                              f"{self.winback_acceptance_rate}.")
        if self.offer_cost < 0:
            raise ConfigError(f"scoring.offer_cost must be >= 0, got {self.offer_cost}.")
        if self.top_k_percent is not None and not 0 < self.top_k_percent <= 100:
            raise ConfigError(f"scoring.top_k_percent must be in (0, 100], got {self.top_k_percent}.")
        b = self.risk_bands
        if not b or any(not 0 < x < 1 for x in b) or list(b) != sorted(set(b)):
            raise ConfigError(f"scoring.risk_bands must be increasing probabilities in (0, 1), "
                              f"e.g. [0.2, 0.5, 0.8]; got {list(b)}.")
        if not 0 <= self.n_drivers <= 10:
            raise ConfigError(f"scoring.n_drivers must be between 0 and 10, got {self.n_drivers}.")


@dataclass(frozen=True)
class ValueConfig:
    """Customer lifetime value: BG/NBD purchases x Gamma-Gamma spend over ``months``.

    Each month's expected spend is discounted by ``(1 + discount_monthly) ** month``. The
    models are fitted on up to ``max_customers`` customers (a seeded sample) who bought by
    the cutoff. ``enabled = false`` (or a model that cannot be fitted) values customers by
    their trailing spend (``[scoring] value_window_days``); a mapped ``customers.value``
    column always wins.
    """

    enabled: bool = True
    months: int = 12
    discount_monthly: float = 0.01
    max_customers: int = 50_000
    penalizer: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.months <= 120:
            raise ConfigError(f"value.months must be between 1 and 120, got {self.months}.")
        if not 0 <= self.discount_monthly < 1:
            raise ConfigError(f"value.discount_monthly must be in [0, 1), e.g. 0.01 for 1 % a "
                              f"month; got {self.discount_monthly}.")
        if self.max_customers < 100:
            raise ConfigError(f"value.max_customers must be at least 100, got {self.max_customers}.")
        if self.penalizer < 0:
            raise ConfigError(f"value.penalizer must be >= 0, got {self.penalizer}.")


@dataclass(frozen=True)
class SurvivalConfig:
    """Time to churn: a discrete-time hazard LightGBM on monthly person-period rows.

    ``max_rows`` caps the person-period rows it is fitted on (a seeded sample of customers).
    """

    enabled: bool = True
    max_rows: int = 150_000
    n_rounds: int = 100
    learning_rate: float = 0.1

    def __post_init__(self) -> None:
        if self.max_rows < 1000:
            raise ConfigError(f"survival.max_rows must be at least 1000, got {self.max_rows}.")
        if not 1 <= self.n_rounds <= 5000:
            raise ConfigError(f"survival.n_rounds must be between 1 and 5000, got {self.n_rounds}.")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError(f"survival.learning_rate must be in (0, 1], got {self.learning_rate}.")


ENGINES = ("duckdb", "spark")


@dataclass(frozen=True)
class EngineConfig:
    """Where features, labels and populations are built: ``duckdb`` on this machine, or
    ``spark``, the same DuckDB builders run per customer bucket on a Spark cluster
    (:mod:`churnmodel.engine.spark`; needs the ``spark`` extra).

    Spark's session: the active one when run inside a cluster job; else ``remote`` (Spark
    Connect, ``sc://host:15002``: no JVM on this machine); else ``master`` (``local[2]``: a
    local JVM, Java 17+). ``buckets`` customer buckets (one Spark task each); 0 chooses
    them from the data size. Training fits on the driver, from at most ``sample_customers``
    customers (a seeded sample of whole customers, the same share at every cutoff; 0 keeps
    every customer).
    """

    name: str = "duckdb"
    master: str = "local[2]"
    remote: str = ""
    buckets: int = 0
    sample_customers: int = 1_000_000

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"engine.name must be one of {', '.join(ENGINES)}, got "
                              f"{self.name!r}.{nearest(self.name, ENGINES)}")
        if not self.master.strip():
            raise ConfigError('engine.master must name a Spark master, e.g. "local[2]" or '
                              '"spark://host:7077"; got an empty string.')
        if self.remote and not re.match(r"^sc://[^/\s:]+(:\d+)?(/.*)?$", self.remote):
            raise ConfigError(f"engine.remote must be a Spark Connect address such as "
                              f"\"sc://host:15002\" (or empty for master), got {self.remote!r}.")
        if not 0 <= self.buckets <= 100_000:
            raise ConfigError(f"engine.buckets must be between 0 (chosen from the data size) and "
                              f"100,000, got {self.buckets}.")
        if self.sample_customers != 0 and not 100 <= self.sample_customers <= 1_000_000_000:
            raise ConfigError(f"engine.sample_customers must be 0 (every customer) or between "
                              f"100 and 1,000,000,000, got {self.sample_customers:,}.")


@dataclass(frozen=True)
class SegmentConfig:
    """Behavioural clustering: k chosen by silhouette on a sample within ``[k_min, k_max]``."""

    k_min: int = 3
    k_max: int = 8
    silhouette_sample: int = 5000
    seed: int = 42

    def __post_init__(self) -> None:
        check_seed("segments.seed", self.seed)
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError(f"segments.k_min and k_max need 2 <= k_min <= k_max, got "
                              f"{self.k_min} and {self.k_max}.")


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow: ``tracking_uri`` default is ``sqlite:///mlflow.db`` in the current directory;
    the ``MLFLOW_TRACKING_URI`` environment variable overrides both."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = f"churnmodel-{DEFAULT_PROJECT}"
    model_name: str = f"churnmodel-{DEFAULT_PROJECT}"
    alias: str = "champion"

    def __post_init__(self) -> None:
        if self.tracking_uri is not None:
            problem = tracking_uri_problem(self.tracking_uri)
            if problem:
                raise ConfigError(f"tracking.tracking_uri {self.tracking_uri!r} {problem}.")


def check_seed(where: str, seed: int) -> None:
    """Seeds are integers in 0 .. 2**32 - 1 (what numpy's generators take)."""
    lo, hi = SEED_RANGE
    if not lo <= seed <= hi:
        raise ConfigError(f"{where} must be between {lo} and {hi:,}, got {seed}.")


def check_date(where: str, value: str) -> None:
    """A YYYY-MM-DD date between 1900 and 2100 (what every table's dates are checked against)."""
    import datetime

    try:
        day = datetime.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConfigError(f"{where} must be a date written YYYY-MM-DD, got {value!r}.") from None
    if not 1900 <= day.year <= 2100:
        raise ConfigError(f"{where} must be between 1900-01-01 and 2100-12-31, got {value!r}.")


def check_count(where: str, n: int, minimum: int, maximum: int = 100_000_000) -> None:
    if not minimum <= n <= maximum:
        raise ConfigError(f"{where} must be between {minimum:,} and {maximum:,}, got {n:,}.")


def tracking_uri_problem(uri: str) -> str:
    """What is wrong with an MLflow tracking URI (empty string when nothing is).

    >>> tracking_uri_problem("sqllite:///mlflow.db")[:58]
    "has an unknown scheme 'sqllite'; did you mean 'sqlite'? (u"
    >>> tracking_uri_problem("sqlite:///mlflow.db")
    ''
    """
    import difflib
    import re

    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
    if not uri.strip():
        return "is empty (use sqlite:///mlflow.db, a folder, or http(s)://host:port)"
    if m is None or len(m.group(1)) == 1:  # no scheme (or a Windows drive): a local folder
        return ""
    scheme = m.group(1).lower()
    if scheme.split("+")[0] not in TRACKING_SCHEMES:
        close = difflib.get_close_matches(scheme, TRACKING_SCHEMES, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        return (f"has an unknown scheme {scheme!r}{hint} (use sqlite:///mlflow.db, a folder, "
                "http(s)://host:port or postgresql://...)")
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        return "needs three slashes before the file: sqlite:///mlflow.db (or sqlite:////abs/path.db)"
    if scheme in ("http", "https") and not re.match(r"^https?://[^/\s]+", uri):
        return "has no host: use http://host:port"
    return ""


@dataclass(frozen=True)
class Config:
    project: ProjectConfig = field(default_factory=ProjectConfig)
    data: DataConfig = field(default_factory=DataConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    survival: SurvivalConfig = field(default_factory=SurvivalConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)

    def __post_init__(self) -> None:
        spark_tables = [n for n, t in self.data.tables.items() if t.table is not None]
        if spark_tables and self.engine.name != "spark":
            raise ConfigError(f"[data.{spark_tables[0]}] table names a Spark catalog table, which "
                              "only the Spark engine reads: set [engine] name = \"spark\" (or "
                              "give a path or query instead).")

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable view (paths as strings) for logging and metadata."""

        def plain(v: Any) -> Any:
            if dataclasses.is_dataclass(v) and not isinstance(v, type):
                return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
            if isinstance(v, Mapping):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, tuple | list):
                return [plain(x) for x in v]
            if isinstance(v, Path):
                return str(v)
            return v

        return plain(self)


def _build(cls: type, raw: Mapping[str, Any], where: str, base: Path) -> Any:
    """Instantiate dataclass ``cls`` from ``raw``, rejecting unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            valid = list(fields) + (list(CONTRACTS) if cls is DataConfig else [])
            raise ConfigError(
                f"unknown key '{key}' in {f'[{where}]' if where else 'the config file'}."
                f"{nearest(key, valid)} "
                f"Valid keys: {', '.join(valid)}."
            )
        default = getattr(cls(), key)
        kwargs[key] = _coerce(value, default, f"{where}.{key}" if where else key, base, hints[key])
    return cls(**kwargs)


def _coerce(value: Any, default: Any, where: str, base: Path, hint: Any = None) -> Any:
    if default is None:
        # optional setting: check against the non-None members of its annotation
        allowed = tuple(a for a in typing.get_args(hint) if a is not types.NoneType)
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            words = {int: "an integer", float: "a number", str: "a string"}
            names = " or ".join(words.get(a, a.__name__) for a in allowed)
            raise ConfigError(f"{where} must be {names}, got {value!r}.")
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        if not (isinstance(default, bool) and isinstance(value, bool)):
            want = "true or false" if isinstance(default, bool) else type(default).__name__
            raise ConfigError(f"{where} must be {want}, got {value!r}.")
        return value
    if dataclasses.is_dataclass(default):
        if not isinstance(value, Mapping):
            raise ConfigError(f"[{where}] must be a table (section), got {value!r}.")
        return _build(type(default), value, where, base)
    if isinstance(default, Path):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a path (a string), got {value!r}.")
        p = Path(value)
        return p if p.is_absolute() else base / p
    if isinstance(default, tuple):
        if default and isinstance(default[0], float):
            if not isinstance(value, list) or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) for x in value):
                raise ConfigError(f"{where} must be a list of numbers, got {value!r}.")
            return tuple(float(x) for x in value)
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}.")
        return tuple(value)
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"{where} must be an integer, got {value!r}.")
    if isinstance(default, float) and not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, got {value!r}.")
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}.")
    return value


def _table_source(name: str, raw: Any, base: Path) -> TableSource:
    contract = CONTRACTS[name]
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[data.{name}] must be a section with at least a path, e.g. "
                          f'[data.{name}]\npath = "{name}.csv"; got {raw!r}.')
    opts: dict[str, Any] = {}
    columns: dict[str, str] = {}
    for key, value in raw.items():
        if key == "na_values":
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ConfigError(f"[data.{name}] na_values must be a list of strings, e.g. "
                                  f'["NA", "NULL"]; got {value!r}.')
            opts[key] = tuple(value)
        elif key in SOURCE_OPTIONS:
            if not isinstance(value, str):
                raise ConfigError(f"[data.{name}] {key} must be a string, got {value!r}.")
            _check_source_option(name, key, value)
            opts[key] = value
        elif key in contract.columns:
            if not isinstance(value, str):
                raise ConfigError(
                    f"[data.{name}] {key} must name a column of your file (a string), "
                    f"got {value!r}."
                )
            columns[key] = value
        else:
            valid = SOURCE_OPTIONS + contract.columns
            raise ConfigError(
                f"unknown key '{key}' in [data.{name}].{nearest(key, valid)} "
                f"Valid keys: options {', '.join(SOURCE_OPTIONS)}; "
                f"columns {', '.join(contract.columns)}."
            )
    if sum(k in opts for k in ("path", "query", "table")) != 1:
        raise ConfigError(f"[data.{name}] needs exactly one of 'path' (CSV/Parquet), 'query' "
                          "(DuckDB SQL) or 'table' (a Spark catalog table: catalog.schema.name).")
    if "table" in opts and not TABLE_NAME.match(opts["table"]):
        raise ConfigError(f"[data.{name}] table must name a Spark table or view, e.g. "
                          f"\"main.sales.orders\" or \"orders\"; got {opts['table']!r}.")
    path = opts.pop("path", None)
    if path is not None:
        path = Path(path) if Path(path).is_absolute() else base / path
    return TableSource(path=path, columns=columns, **opts)


def _check_source_option(table: str, key: str, value: str) -> None:
    """sep, encoding, date_format and missing_ids are checked when read, not when pandas (or
    the loader) trips on them."""
    where = f"[data.{table}] {key}"
    if key == "sep" and len(value) != 1:
        raise ConfigError(f"{where} must be one character (e.g. \";\", \"|\" or \"\\t\"), got "
                          f"{value!r}; a multi-character separator is not supported.")
    if key == "encoding":
        import codecs
        import encodings

        try:
            codecs.lookup(value)
        except LookupError:
            known = sorted(set(encodings.aliases.aliases.values()) | {"utf-8", "latin-1"})
            raise ConfigError(f"{where} {value!r} is not a known encoding."
                              f"{nearest(value.lower().replace('-', '_'), known)} Use e.g. "
                              "\"utf-8\", \"latin-1\" or \"cp1252\".") from None
    if key == "missing_ids" and value not in MISSING_IDS:
        raise ConfigError(f"{where} must be \"error\" (refuse rows without a customer id) or "
                          f"\"drop\" (drop them, saying how many), got {value!r}.")
    if key == "date_format":
        import datetime

        if "%" not in value:
            raise ConfigError(f"{where} {value!r} has no strptime code; use e.g. \"%d/%m/%Y\".")
        try:
            datetime.datetime.strptime("", value)
        except ValueError as exc:
            text = str(exc)
            if "directive" in text or "stray %" in text:
                raise ConfigError(f"{where} {value!r} is not a valid strptime format "
                                  f"({text}); use codes such as %Y %m %d %H %M %S.") from None


def workspace_root() -> Path:
    """Where a project's default folders and the default MLflow store live: the current
    directory, or ``CHURNMODEL_ROOT`` (notebooks run in ``notebooks/`` and set it)."""
    root = os.environ.get("CHURNMODEL_ROOT")
    return Path(root).resolve() if root else Path.cwd()


def project_name_from(path: str | Path) -> str:
    """The project a config file names when it has no ``[project] name``: its file name.

    >>> project_name_from("configs/My Shop.toml")
    'My_Shop'
    """
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip("_.-")[:64]
    return stem or DEFAULT_PROJECT


def config_from_dict(raw: Mapping[str, Any], base: Path | None = None,
                     project: str = DEFAULT_PROJECT, root: Path | None = None) -> Config:
    """Build a :class:`Config` from a parsed TOML mapping (see module docstring).

    ``project`` is the project name when the mapping has no ``[project] name``; the
    project's folders default to ``root`` (the workspace root) ``/models/<name>`` and
    ``/reports/<name>``.
    """
    base = base or Path.cwd()
    raw = dict(raw)
    cfg = _config_from_dict(raw, base)
    raw_project = raw.get("project") or {}
    if "name" not in raw_project:
        cfg = dataclasses.replace(cfg, project=ProjectConfig(name=project))
    return _workspace_defaults(cfg, raw, root or workspace_root())


def _workspace_defaults(cfg: Config, raw: Mapping[str, Any], root: Path) -> Config:
    """Fill what the config leaves unset from the project name (see the module docstring)."""
    name = cfg.project.name
    out, trk = dict(raw.get("output") or {}), dict(raw.get("tracking") or {})
    output = dataclasses.replace(
        cfg.output,
        model_dir=cfg.output.model_dir if "model_dir" in out else root / "models" / name,
        report_dir=cfg.output.report_dir if "report_dir" in out else root / "reports" / name)
    tracking = dataclasses.replace(
        cfg.tracking,
        experiment=cfg.tracking.experiment if "experiment" in trk else f"churnmodel-{name}",
        model_name=cfg.tracking.model_name if "model_name" in trk else f"churnmodel-{name}")
    return dataclasses.replace(cfg, output=output, tracking=tracking)


def _config_from_dict(raw: dict[str, Any], base: Path) -> Config:
    data_raw = dict(raw.pop("data", {}) or {})
    if "tables" in data_raw:
        raise ConfigError("[data.tables] is not a section: configure each table directly as "
                          "[data.transactions], [data.feedback], [data.tickets], [data.customers].")
    tables: dict[str, TableSource] = {}
    for name in list(data_raw):
        if name in CONTRACTS:
            tables[name] = _table_source(name, data_raw.pop(name), base)
    # snapshot mode: one row per customer with a churn flag, no purchase log
    snapshot = "transactions" not in tables and "customers" in tables and set(tables) == {"customers"}
    if tables and "transactions" not in tables and not snapshot:
        raise ConfigError(
            "[data] configures tables but not [data.transactions]; transactions are the one "
            "mandatory table. Add a [data.transactions] section with its path and columns "
            "(or configure [data.customers] alone, with churned = \"<flag column>\", for "
            "snapshot mode)."
        )
    data = _build(DataConfig, data_raw, "data", base)
    data = dataclasses.replace(data, tables=tables)
    cfg = _build(Config, raw, "", base)
    return dataclasses.replace(cfg, data=data)


def load_config(path: str | Path | None = None) -> Config:
    """Read a TOML config file; ``None`` gives the defaults (embedded synthetic data, the
    project ``default``)."""
    if path is None:
        root = workspace_root()
        return _workspace_defaults(Config(data=DataConfig(dir=root / "data/default")), {}, root)
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist.")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r} is not valid TOML: {exc}.") from None
    return config_from_dict(raw, base=p.resolve().parent, project=project_name_from(p))


def with_overrides(cfg: Config, **sections: Mapping[str, Any]) -> Config:
    """Return ``cfg`` with some fields replaced, e.g. ``training={"as_of": "2025-06-30"}``."""
    for name, values in sections.items():
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            cfg = dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **values)})
    return cfg
