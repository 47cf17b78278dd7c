"""The Spark engine: the DuckDB builders, unchanged, one customer bucket per Spark task.

Every builder, the population (:func:`~churnmodel.labels.active_customers`) and the label
(:func:`~churnmodel.labels.churn_labels`) aggregate within one customer, so the rows of one
customer, from every table, make a self-contained piece of work. This engine hashes
``customer_id`` into buckets, ships each bucket's rows of every table to one Spark task
(``groupBy(bucket).applyInArrow``), rebuilds a :class:`~churnmodel.data.tables.Tables` of that
bucket there and calls the very functions the local engine calls
(:func:`~churnmodel.training_set.cutoff_frame`, :func:`~churnmodel.scoring.score_rows`).
Nobody writes a second implementation of a feature, and the results are the local
engine's, row for row (tests/spark checks every builder).

What a bucket cannot know is fixed on the driver first and handed to every task:

* the builder names with what they learn from the data (the event types of
  ``engagement``), learned from the whole table at each cutoff, as locally;
* the latest event in any table (the label's "do the data reach the window end" check);
* each output column's type and category levels: the driver runs the same builders for
  one customer at each cutoff, and the frame it gets is the template every bucket's rows
  are cast back to (so ``region`` has the levels of all customers, not of one bucket's);
* when scoring, the threshold, bands and decision rules, which the model already carries;
  the RFM segment (quantiles over everyone scored) and drift are computed on the driver
  from the collected features, as locally.

Tables travel as Arrow (no pandas conversion inside PySpark; PySpark 4.3 does not yet
support pandas 3 there), timestamps as integers in their own unit and categories as text,
so each task's tables have exactly the driver's dtypes. PySpark is imported only here,
when the engine is used.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnmodel.config import EngineConfig, ScoringConfig
from churnmodel.data.tables import Tables
from churnmodel.errors import ChurnModelError, DataError, one_line
from churnmodel.features.base import fix_builders
from churnmodel.labels import active_customers
from churnmodel.training_set import cutoff_frame, nobody_active, stack_cutoffs

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel

log = logging.getLogger(__name__)

TABLES = ("transactions", "feedback", "tickets", "customers", "events")
# Rows (of all tables) per bucket when [engine] buckets = 0: a bucket is held in one task's
# memory, pandas and DuckDB included; 2M rows of these tables is about 1 GB there.
ROWS_PER_BUCKET = 2_000_000
MIN_BUCKETS = 2
_PANDAS3 = "PySpark does not yet fully support pandas"
_NAT = np.iinfo(np.int64).min
_ARROW = {"string": pa.string(), "bool": pa.bool_(), "long": pa.int64(), "double": pa.float64(),
          "time": pa.int64()}
_DDL = {"string": "string", "bool": "boolean", "long": "bigint", "double": "double",
        "time": "bigint"}
LOG4J = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")
INSTALL_JAVA = ("install Java 17 or later (Debian/Ubuntu: `sudo apt-get install -y "
                "openjdk-17-jre-headless`, or run scripts/ensure-java), or set JAVA_HOME; or "
                "use a Spark Connect server ([engine] remote = \"sc://host:15002\")")


# --- the session -------------------------------------------------------------------------

def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise ChurnModelError("[engine] name = \"spark\" needs PySpark, which is not installed. "
                              "Fix: pip install 'churnmodel[spark]' (or set [engine] name = "
                              "\"duckdb\")") from None
    return pyspark


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """PySpark 4.3 warns at each Arrow hand-over that pandas 3 is not fully supported; the
    engine passes Arrow only and checks its results against the local engine (tests/spark)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS3, category=FutureWarning)
        yield


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (some containers)
        return "user"


# Where a local master's JVM writes its stderr when the command is not --verbose (one file
# per user: another user's file in a shared temporary directory could not be opened)
SPARK_LOG = os.path.join(tempfile.gettempdir(), f"churnmodel-spark-{_user()}.log")


@contextlib.contextmanager
def stderr_to(path: str) -> Iterator[None]:
    """File descriptor 2 points at ``path`` (appended) while inside: a process started here
    (the JVM) keeps it for its whole life; this process's stderr comes back afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def java_problem() -> str:
    """Why a local Spark cannot start here ("" when ``java`` is found)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.path.exists(os.path.join(home, "bin", "java")):
        return ""
    if shutil.which("java"):
        return ""
    return "Spark's local master needs Java, and `java` is not on PATH (nor in JAVA_HOME)"


def spark_session(engine: EngineConfig | None = None) -> Any:
    """The Spark session to run on: the active one (inside a cluster job), else a Spark
    Connect session at ``[engine] remote``, else a local JVM at ``[engine] master`` whose
    workers run this very Python (``PYSPARK_PYTHON``). Session time zone: UTC."""
    engine = engine or EngineConfig(name="spark")
    _pyspark()
    from pyspark.sql import SparkSession

    with _quiet():
        session = SparkSession.getActiveSession()
        if session is None and engine.remote:
            reach(engine.remote)
            try:
                session = SparkSession.builder.remote(engine.remote).getOrCreate()
            except Exception as exc:  # no server there, or pyspark without Connect's extras
                raise ChurnModelError(f"cannot open a Spark Connect session at {engine.remote!r} "
                                      f"({type(exc).__name__}: {_first_line(exc)}). Fix: check "
                                      "[engine] remote and that the server runs (Spark Connect "
                                      "also needs pyspark's connect extras: grpcio, "
                                      "grpcio-status, googleapis-common-protos)") from None
        elif session is None:
            problem = java_problem()
            if problem:
                raise ChurnModelError(f"{problem}. Fix: {INSTALL_JAVA}")
            if engine.master.startswith("local"):
                # the workers must import churnmodel, pyarrow and duckdb: this interpreter's
                os.environ["PYSPARK_PYTHON"] = sys.executable
                os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = (SparkSession.builder.master(engine.master).appName("churnmodel")
                       .config("spark.sql.session.timeZone", "UTC")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.adaptive.enabled", "true")
                       .config("spark.driver.extraJavaOptions",
                               f"-Dlog4j2.configurationFile=file:{LOG4J}")
                       .config("spark.driver.memory",
                               os.environ.get("CHURNMODEL_SPARK_DRIVER_MEMORY", "2g")))
            # the JVM writes its start-up notes to stderr before any log configuration
            # ("Using incubator modules", "Setting default log level"): unless logging is at
            # INFO (--verbose), its stderr, and its Python workers', go to SPARK_LOG
            verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
            try:
                with contextlib.nullcontext() if verbose else stderr_to(SPARK_LOG):
                    session = builder.getOrCreate()
            except Exception as exc:
                raise ChurnModelError(f"cannot start Spark at master {engine.master!r} "
                                      f"({type(exc).__name__}: {_first_line(exc)}). Fix: check "
                                      f"[engine] master; {INSTALL_JAVA}; Spark's own log: "
                                      f"{SPARK_LOG}") from None
            with contextlib.suppress(Exception):
                session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    return session


def reach(remote: str, timeout: float = 10.0) -> None:
    """Refuse a Spark Connect address nobody answers at, at once: the client would otherwise
    retry for minutes (its default policy backs off up to a minute, 15 times)."""
    import socket

    m = re.match(r"^sc://([^/\s:]+)(?::(\d+))?", remote)
    host, port = (m.group(1), int(m.group(2) or 15002)) if m else ("", 0)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ChurnModelError(f"no Spark Connect server answers at {host}:{port} ([engine] remote "
                              f"= {remote!r}: {exc.strerror or type(exc).__name__}). Fix: start "
                              "the server (sbin/start-connect-server.sh) or correct the address; "
                              "the default port is 15002") from None


# Spark's error classes for a table name that leads nowhere
_NO_TABLE = ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND", "CATALOG_NOT_FOUND",
             "REQUIRES_SINGLE_PART_NAMESPACE")


def read_table(name: str, table: str, engine: EngineConfig | None = None) -> pd.DataFrame:
    """``[data.<name>] table``: a Spark catalog table or view, read as it is stored (the
    loader then maps, coerces and validates it as any file). It comes to this process as
    Arrow: the driver holds the tables, as with files (README "Limits today")."""
    spark = spark_session(engine or EngineConfig(name="spark"))
    with _spark_errors(f"reading [data.{name}] table {table!r}"):
        try:  # classic sessions resolve the name at once, Spark Connect when collecting
            arrow = spark.table(table).toArrow()
        except Exception as exc:
            missing = [c for c in _NO_TABLE if c in str(exc)]
            if not missing:
                raise
            raise DataError(name, None, f"Spark has no table or view {table!r} ({missing[0]})",
                            f"check [data.{name}] table: catalog.schema.name as `SHOW TABLES` "
                            "lists it in the session the engine uses") from None
    df = arrow.to_pandas()
    for c in df.columns:  # Spark's session-zone timestamps: naive UTC, like the files' ones
        if isinstance(df[c].dtype, pd.DatetimeTZDtype):
            df[c] = df[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return df


def check_remote(engine: EngineConfig) -> None:
    """Before any reading: the ``[engine] remote`` server answers (:func:`reach`), unless an
    active session (a cluster job) will be used instead."""
    if not engine.remote:
        return
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # spark_session says how to install it
        return
    if SparkSession.getActiveSession() is None:
        reach(engine.remote)


def bucket_count(tables: Tables, engine: EngineConfig) -> int:
    """``[engine] buckets``, or one bucket per :data:`ROWS_PER_BUCKET` rows (at least 2)."""
    if engine.buckets:
        return engine.buckets
    rows = sum(len(getattr(tables, n)) for n in tables.names())
    return max(MIN_BUCKETS, math.ceil(rows / ROWS_PER_BUCKET))


# --- errors ------------------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return one_line(text.splitlines()[0] if text else type(exc).__name__)[:400]


_RAISED = re.compile(r"^(?:churnmodel\.errors\.)(\w+): (.+)$", re.M)
_PY_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$", re.M)


def spark_failure(exc: BaseException, what: str) -> ChurnModelError:
    """One clear error for a failed Spark job: the worker's own churnmodel error when a task
    raised one (its message says what to fix), else the first line of Spark's error."""
    text = str(exc)
    ours = _RAISED.findall(text)
    if ours:
        return ChurnModelError(ours[-1][1])
    if "OutOfMemoryError" in text or "Java heap space" in text:
        return ChurnModelError(f"Spark ran out of memory while {what}. Fix: more, smaller buckets "
                               "([engine] buckets), more memory for Spark's driver "
                               "(CHURNMODEL_SPARK_DRIVER_MEMORY, default 2g, on a local master) or "
                               "executors (spark.executor.memory / memoryOverhead on a cluster)")
    caused = re.findall(r"^Caused by: ([\w.$]+): (.+)$", text, re.M)
    raised = [m for m in _PY_RAISED.findall(text) if not m[0].startswith(("py4j", "org.apache"))]
    if raised:
        cause = f"{raised[-1][0].rsplit('.', 1)[-1]}: {raised[-1][1]}"
    elif caused:
        cause = f"{caused[-1][0].rsplit('.', 1)[-1]}: {caused[-1][1]}"
    else:
        cause = _first_line(exc)
    return ChurnModelError(f"the Spark engine failed while {what}: {one_line(cause)[:500]}. Fix: "
                           "check the input tables and [engine] settings (workers need churnmodel, "
                           "duckdb and pyarrow installed, the same versions as here); rerun with "
                           f"--debug for Spark's trace (a local master's own log: {SPARK_LOG})")


@contextlib.contextmanager
def _spark_errors(what: str) -> Iterator[None]:
    try:
        with _quiet():
            yield
    except ChurnModelError:
        raise
    except Exception as exc:
        module = type(exc).__module__.split(".")[0]
        if module not in ("pyspark", "py4j"):
            raise
        raise spark_failure(exc, what) from None


# --- moving frames through Spark: exact dtypes both ways --------------------------------

def _kind(dtype: Any) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "long"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if isinstance(dtype, np.dtype) and dtype.kind in "mM":
        return "time"
    return "string"


def _encode(s: pd.Series, kind: str) -> pa.Array:
    """One column as Arrow of ``kind`` (missing values as nulls)."""
    if kind == "time":
        raw = s.to_numpy()
        return pa.array(raw.view("int64"), pa.int64(), mask=np.isnat(raw))
    if kind == "double":
        return pa.array(s.to_numpy(dtype="float64", na_value=np.nan), pa.float64(), from_pandas=True)
    if kind == "long":
        if pd.api.types.is_float_dtype(s.dtype):  # a count that came back as float in one bucket
            s = s.round()
        return pa.array(s.astype("Int64"), pa.int64())
    if kind == "bool":
        return pa.array(s.astype("boolean"), pa.bool_())
    if isinstance(s.dtype, pd.CategoricalDtype):  # each level's text once; code -1 is missing
        levels = np.array([str(c) for c in s.cat.categories] + [None], dtype=object)
        return pa.array(levels[s.cat.codes.to_numpy()], pa.string())
    if isinstance(s.dtype, pd.StringDtype):
        return pa.array(s.to_numpy(dtype=object, na_value=None), pa.string())
    values = s.astype(object).to_numpy()
    missing = pd.isna(values)
    text: list[str | None] = [None if m else str(v) for v, m in zip(values, missing, strict=True)]
    return pa.array(text, pa.string())


def _decode(arr: pa.ChunkedArray | pa.Array, like: pd.Series) -> Any:
    """Arrow of :func:`_encode` back to ``like``'s dtype (categories included)."""
    dtype = like.dtype
    kind = _kind(dtype)
    if kind == "time":
        return pc.fill_null(arr, _NAT).to_numpy().astype("int64").view(dtype)
    if kind == "double":
        values = np.asarray(arr.to_numpy(zero_copy_only=False), dtype="float64")
        return values if dtype == np.float64 else pd.array(values).astype(dtype)
    if kind in ("long", "bool"):
        nullable = "Int64" if kind == "long" else "boolean"
        values = pd.array(arr.to_pylist(), dtype=nullable) if len(arr) else pd.array([], dtype=nullable)
        if isinstance(dtype, np.dtype) and values.isna().any():
            return values.astype("float64") if kind == "long" else values.astype(object)
        return values.astype(dtype)
    text = arr.to_numpy(zero_copy_only=False) if len(arr) else np.array([], dtype=object)
    if isinstance(dtype, pd.CategoricalDtype):
        levels = pd.Index([str(c) for c in dtype.categories], dtype=object)
        codes = levels.get_indexer(pd.Index(text, dtype=object))
        codes[pd.isna(text)] = -1
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return text
    return pd.array(text, dtype=dtype)


@dataclass(frozen=True)
class _Columns:
    """A frame's columns under safe Spark names (``c0``, ``c1``, ...) with their kinds."""

    names: tuple[str, ...]
    keys: tuple[str, ...]
    kinds: tuple[str, ...]

    @staticmethod
    def of(templates: Sequence[pd.DataFrame], fixed: Sequence[str] = ()) -> _Columns:
        names: list[str] = list(fixed)
        kinds: dict[str, str] = {}
        for t in templates:
            for c in t.columns:
                if c not in kinds:
                    kinds[c] = _kind(t[c].dtype)
                    if c not in names:
                        names.append(c)
        keys = [c if c in fixed else f"c{i}" for i, c in enumerate(names)]
        return _Columns(tuple(names), tuple(keys), tuple(kinds[c] for c in names))

    def ddl(self) -> str:
        return ", ".join(f"`{k}` {_DDL[t]}" for k, t in zip(self.keys, self.kinds, strict=True))

    def schema(self) -> pa.Schema:
        return pa.schema([(k, _ARROW[t]) for k, t in zip(self.keys, self.kinds, strict=True)])

    def encode(self, df: pd.DataFrame) -> pa.Table:
        n = len(df)
        arrays = [_encode(df[c], t) if c in df.columns else pa.nulls(n, _ARROW[t])
                  for c, t in zip(self.names, self.kinds, strict=True)]
        return pa.Table.from_arrays(arrays, schema=self.schema())

    def decode(self, tbl: pa.Table, template: pd.DataFrame) -> pd.DataFrame:
        key = dict(zip(self.names, self.keys, strict=True))
        data = {c: _decode(tbl.column(key[c]), template[c]) for c in template.columns}
        return pd.DataFrame(data, columns=template.columns)

    def empty(self) -> pa.Table:
        return self.schema().empty_table()


# --- the tables, bucketed ----------------------------------------------------------------

@dataclass(frozen=True)
class _BucketTables(Tables):
    """One bucket's rows of every table; the latest event is the whole data's."""

    last_event: pd.Timestamp | None = None

    def max_event_ts(self) -> pd.Timestamp:
        return self.last_event if self.last_event is not None else super().max_event_ts()


@dataclass(frozen=True)
class _Shipped:
    """What a task needs to rebuild its bucket's tables exactly."""

    templates: dict[str, pd.DataFrame]  # zero-row frames with every table's dtypes
    columns: dict[str, _Columns]
    last_event: pd.Timestamp

    def tables(self, tbl: pa.Table) -> _BucketTables:
        frames = {}
        for i, name in enumerate(TABLES):
            if name not in self.templates:
                continue
            rows = tbl.filter(pc.equal(tbl.column("_t"), i)).sort_by("_row")
            frames[name] = self.columns[name].decode(rows, self.templates[name])
        return _BucketTables(**frames, last_event=self.last_event)


@contextlib.contextmanager
def _ship(spark: Any, tables: Tables, buckets: int) -> Iterator[tuple[Any, _Shipped]]:
    """Every table as one Spark frame (``_t`` tags the table, ``_row`` keeps the row order),
    with a ``_bucket`` column from a hash of ``customer_id``, one partition per bucket.

    On a local master the tables go through Parquet files in a temporary directory, which
    Spark's tasks read (removed afterwards); elsewhere (Spark Connect, a cluster) they go as
    Arrow from this process (``createDataFrame``), held by the Spark driver until read.
    """
    from pyspark.sql import functions as F

    parts, templates, columns = {}, {}, {}
    id_kind = _kind(tables.transactions["customer_id"].dtype)
    for i, name in enumerate(TABLES):
        df = getattr(tables, name)
        if df is None:
            continue
        if _kind(df["customer_id"].dtype) != id_kind:
            raise ChurnModelError(f"table '{name}' has customer_id of type {df['customer_id'].dtype}, "
                                  f"transactions {tables.transactions['customer_id'].dtype}: the "
                                  "Spark engine needs one id type in every table")
        templates[name] = df.iloc[:0].reset_index(drop=True)
        cols = _Columns.of([templates[name]], fixed=("customer_id",))
        # each table's own columns get their own names: t<i>_<column key>
        cols = _Columns(cols.names, tuple(k if k == "customer_id" else f"t{i}_{k}" for k in cols.keys),
                        cols.kinds)
        columns[name] = cols
        body = cols.encode(df.reset_index(drop=True))
        body = body.append_column("_t", pa.array(np.full(len(df), i, dtype=np.int8)))
        body = body.append_column("_row", pa.array(np.arange(len(df), dtype=np.int64)))
        parts[name] = body
    staging = tempfile.mkdtemp(prefix="churnmodel-spark-") if _local(spark) else None
    try:
        with _spark_errors("loading the tables into Spark"):
            if staging is not None:
                import pyarrow.parquet as pq

                frames = []
                for name, body in parts.items():
                    path = os.path.join(staging, f"{name}.parquet")
                    pq.write_table(body, path)
                    frames.append(spark.read.parquet(path))
                frame = frames[0]
                for other in frames[1:]:
                    frame = frame.unionByName(other, allowMissingColumns=True)
            else:
                frame = spark.createDataFrame(pa.concat_tables(list(parts.values()),
                                                               promote_options="default"))
            del parts
            frame = frame.withColumn("_bucket", F.pmod(F.xxhash64(F.col("customer_id")),
                                                       F.lit(buckets)))
            # one partition per bucket (the grouping reuses it: no second shuffle, and the
            # session's spark.sql.shuffle.partitions is left as the user set it)
            frame = frame.repartition(buckets, "_bucket")
        yield frame, _Shipped(templates, columns, tables.max_event_ts())
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _local(spark: Any) -> bool:
    """A classic session on a local master: its tasks read this machine's files."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return False
    try:
        return str(spark.sparkContext.master).startswith("local")
    except Exception:  # no SparkContext here (a shared cluster's restricted session)
        return False


def _run(frame: Any, fn: Callable[[pa.Table], pa.Table], out: _Columns, what: str) -> pa.Table:
    """``fn`` on each bucket's rows (one Spark task each); the results, collected as Arrow."""
    with _spark_errors(what):
        result = frame.groupBy("_bucket").applyInArrow(fn, out.ddl())
        return result.toArrow()


# --- features, labels and populations ----------------------------------------------------

def _probe(tables: Tables) -> pd.Index:
    """One customer, as :func:`active_customers` would give its id (dtype and name)."""
    ids = pd.Index(tables.transactions["customer_id"].iloc[:1].unique()).sort_values()
    ids.name = "customer_id"
    return ids


def fixed_builders(tables: Tables, cutoff: pd.Timestamp, builders: Sequence[str]) -> list[str]:
    """:func:`~churnmodel.features.fix_builders` on everything dated up to ``cutoff``, as
    the local engine learns it there: each bucket then builds the same columns. A family
    with nothing to learn from yet keeps its plain name (nobody is active there either)."""
    seen = tables.until(cutoff)
    out = []
    for n in builders:
        try:
            out.extend(fix_builders(seen, [n]))
        except DataError:
            out.append(n)
    return out


@dataclass(frozen=True)
class _Cutoff:
    cutoff: pd.Timestamp
    builders: list[str]
    template: pd.DataFrame  # zero rows: cutoff, customer_id, features (, churned)


def _plan(tables: Tables, cutoffs: Sequence[pd.Timestamp], builders: Sequence[str], horizon_days: int,
          lookback_days: int, with_labels: bool) -> list[_Cutoff]:
    """Per cutoff, the fixed builders and the output template, from one customer on the
    driver (the same errors as locally, e.g. labels past the end of the data, raise here)."""
    probe = _probe(tables)
    plan = []
    for c in cutoffs:
        names = fixed_builders(tables, pd.Timestamp(c), builders)
        frame = cutoff_frame(tables, pd.Timestamp(c), names, horizon_days, lookback_days,
                             with_labels=with_labels, population=probe)
        plan.append(_Cutoff(pd.Timestamp(c), names, frame.reset_index().iloc[:0]))
    return plan


def _uniform(ids: pd.Index, seed: int) -> np.ndarray:
    """A seeded number in [0, 1) per customer id, the same wherever it is computed."""
    key = f"{seed:016d}"[-16:]
    h = pd.util.hash_array(np.asarray(ids.astype(str), dtype=object), hash_key=key)
    return h.astype(np.float64) / 2.0**64


def _sample_threshold(frame: Any, shipped: _Shipped, cutoffs: Sequence[pd.Timestamp],
                      lookback_days: int, seed: int, cap: int) -> float | None:
    """The largest seeded number kept so that at most ``cap`` customers are (None: all)."""
    out = _Columns(("u",), ("u",), ("double",))

    def per_bucket(tbl: pa.Table) -> pa.Table:
        tables = shipped.tables(tbl)
        ids = [active_customers(tables, c, lookback_days) for c in cutoffs]
        every = ids[0].append(ids[1:]).unique() if ids else pd.Index([])
        return out.encode(pd.DataFrame({"u": _uniform(pd.Index(every), seed)}))

    u = _run(frame, per_bucket, out, "sampling customers").column("u").to_numpy()
    if len(u) <= cap:
        return None
    return float(np.partition(u, cap - 1)[cap - 1])


def _frames(tbl: pa.Table, out: _Columns, plan: Sequence[_Cutoff]) -> list[pd.DataFrame]:
    """The collected rows, cut back into one frame per cutoff, each as the local engine
    builds it: its dtypes and category levels, index ``(cutoff, customer_id)`` in id order."""
    frames = []
    cut = tbl.column("_cutoff")
    for p in plan:
        unit = p.template["_cutoff"].dtype  # the index level's own unit
        key = int(pd.Series([p.cutoff]).astype(unit).to_numpy().view("int64")[0])
        rows = tbl.filter(pc.equal(cut, pa.scalar(key, pa.int64())))
        if rows.num_rows == 0:
            continue
        f = out.decode(rows, p.template).sort_values("customer_id", kind="stable")
        ids = pd.Index(f["customer_id"].to_numpy(), name="customer_id", dtype=p.template["customer_id"].dtype)
        f = f.drop(columns=[p.template.columns[0], "customer_id"])
        f.index = pd.MultiIndex.from_arrays([np.full(len(f), p.cutoff), ids], names=["cutoff", "customer_id"])
        frames.append(f)
    return frames


def cutoff_frames(tables: Tables, cutoffs: Sequence[pd.Timestamp], builders: Sequence[str],
                  horizon_days: int, activity_lookback_days: int, engine: EngineConfig,
                  with_labels: bool = True, seed: int = 0, sample: bool = False,
                  spark: Any = None) -> list[pd.DataFrame]:
    """:func:`~churnmodel.training_set.cutoff_frame` at each cutoff, built on Spark: one
    frame per cutoff that has active customers, equal to the local engine's.

    ``sample``: keep at most ``[engine] sample_customers`` customers (whole customers, by a
    seeded number per customer: the same share of every cutoff in expectation).
    """
    spark = spark if spark is not None else spark_session(engine)
    plan = [_Cutoff(p.cutoff, p.builders, p.template.rename(columns={"cutoff": "_cutoff"}))
            for p in _plan(tables, cutoffs, builders, horizon_days, activity_lookback_days,
                           with_labels)]
    with _ship(spark, tables, bucket_count(tables, engine)) as (frame, shipped):
        return _cutoff_frames(frame, shipped, tables, plan, horizon_days, activity_lookback_days,
                              engine, with_labels, seed, sample)


def _cutoff_frames(frame: Any, shipped: _Shipped, tables: Tables, plan: list[_Cutoff],
                   horizon_days: int, activity_lookback_days: int, engine: EngineConfig,
                   with_labels: bool, seed: int, sample: bool) -> list[pd.DataFrame]:
    threshold = None
    cap = engine.sample_customers
    if sample and cap and tables.transactions["customer_id"].nunique() > cap:
        threshold = _sample_threshold(frame, shipped, [p.cutoff for p in plan],
                                      activity_lookback_days, seed, cap)
    out = _Columns.of([p.template for p in plan], fixed=("_cutoff", "customer_id"))
    H, L = horizon_days, activity_lookback_days

    def per_bucket(tbl: pa.Table) -> pa.Table:
        tables_b = shipped.tables(tbl)
        parts = []
        for p in plan:
            pop = active_customers(tables_b, p.cutoff, L)
            if threshold is not None:
                pop = pop[_uniform(pop, seed) <= threshold]
            if len(pop) == 0:
                continue
            f = cutoff_frame(tables_b, p.cutoff, p.builders, H, L, with_labels=with_labels,
                             population=pop).reset_index()
            parts.append(out.encode(f.rename(columns={"cutoff": "_cutoff"})))
        return pa.concat_tables(parts) if parts else out.empty()

    return _frames(_run(frame, per_bucket, out, "building features"), out, plan)


def training_set(tables: Tables, cutoffs: Sequence[pd.Timestamp], builders: Sequence[str],
                 horizon_days: int, activity_lookback_days: int, engine: EngineConfig,
                 seed: int = 0, spark: Any = None) -> pd.DataFrame:
    """:func:`churnmodel.training_set.training_set` on Spark, from a sample of at most
    ``[engine] sample_customers`` customers: what training fits on, on the driver."""
    frames = cutoff_frames(tables, cutoffs, builders, horizon_days, activity_lookback_days,
                           engine, with_labels=True, seed=seed, sample=True, spark=spark)
    return stack_cutoffs(frames, cutoffs, activity_lookback_days)


def features(tables: Tables, as_of: pd.Timestamp | str, builders: Sequence[str], horizon_days: int,
             activity_lookback_days: int, engine: EngineConfig, spark: Any = None) -> pd.DataFrame:
    """:meth:`ChurnModel.features <churnmodel.modeling.model.ChurnModel.features>` on Spark:
    the features of every customer active at ``as_of`` (index ``customer_id``)."""
    as_of = pd.Timestamp(as_of).normalize()
    seen = tables.until(as_of)
    frames = cutoff_frames(seen, [as_of], builders, horizon_days, activity_lookback_days, engine,
                           with_labels=False, spark=spark)
    if not frames:
        raise nobody_active(seen, as_of, activity_lookback_days)
    return frames[0].droplevel("cutoff")


# --- scoring -----------------------------------------------------------------------------

def score_customers(model: ChurnModel, tables: Tables, as_of: pd.Timestamp | str,
                    cfg: ScoringConfig | None = None, explain: bool = True,
                    on_step: Callable[[str], Any] | None = None,
                    on_features: Callable[[pd.DataFrame], Any] | None = None,
                    engine: EngineConfig | None = None, spark: Any = None) -> pd.DataFrame:
    """:func:`churnmodel.scoring.score_customers` on Spark: each bucket builds its
    customers' features and scores them with the same :class:`ChurnModel` through
    :func:`~churnmodel.scoring.score_rows` (probability, band, state, action, value,
    drivers, time to churn); the driver adds what needs everyone (the RFM segment) and
    orders the rows, so the result equals the local engine's row for row."""
    from churnmodel.scoring import finish_scores, score_rows

    cfg = cfg or ScoringConfig()
    engine = engine or EngineConfig(name="spark")
    step = on_step or (lambda name: None)
    spark = spark if spark is not None else spark_session(engine)
    as_of = pd.Timestamp(as_of).normalize()
    seen = tables.until(as_of)
    H, L = model.horizon_days, model.activity_lookback_days
    plan = _plan(seen, [as_of], model.builders, H, L, with_labels=False)[0]
    X_like = plan.template.drop(columns=["cutoff"]).set_index("customer_id")
    probe_X = cutoff_frame(seen, as_of, plan.builders, H, L, with_labels=False,
                           population=_probe(seen)).droplevel("cutoff")
    probe_scores, source = score_rows(model, seen, as_of, probe_X, cfg, explain)
    S_like = probe_scores.iloc[:0]
    # one output per customer: the scores ("s:"), then the features the driver needs ("x:")
    like = pd.DataFrame({"customer_id": pd.Series(X_like.index, dtype=X_like.index.dtype),
                         **{f"s:{c}": S_like[c].reset_index(drop=True) for c in S_like.columns},
                         **{f"x:{c}": X_like[c].reset_index(drop=True) for c in X_like.columns}})
    out = _Columns.of([like], fixed=("customer_id",))

    def per_bucket(tbl: pa.Table) -> pa.Table:
        tables_b = shipped.tables(tbl)
        pop = active_customers(tables_b, as_of, L)
        if len(pop) == 0:
            return out.empty()
        X = cutoff_frame(tables_b, as_of, plan.builders, H, L, with_labels=False,
                         population=pop).droplevel("cutoff")
        scored, _ = score_rows(model, tables_b, as_of, X, cfg, explain)
        both = pd.concat([scored.add_prefix("s:"), X.add_prefix("x:")], axis=1)
        return out.encode(both.reset_index(names="customer_id"))

    with _ship(spark, seen, bucket_count(seen, engine)) as (frame, shipped):
        tbl = _run(frame, per_bucket, out, "scoring")
    if tbl.num_rows == 0:
        raise nobody_active(seen, as_of, L)
    both = out.decode(tbl.take(pc.sort_indices(tbl, sort_keys=[("customer_id", "ascending")])),
                      like)
    ids = pd.Index(both["customer_id"], name="customer_id")
    X = both[[f"x:{c}" for c in X_like.columns]].set_axis(X_like.columns, axis=1).set_axis(ids)
    scored = both[[f"s:{c}" for c in S_like.columns]].set_axis(S_like.columns, axis=1).set_axis(ids)
    if on_features is not None:
        on_features(X)
    step("features")
    step("predict + explain")
    return finish_scores(scored, X, model, source)
