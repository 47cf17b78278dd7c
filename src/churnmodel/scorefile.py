"""Score files that know where they came from: what ``churnmodel evaluate`` needs later.

``churnmodel score`` writes, with the table, one JSON document of metadata
(:func:`score_file_metadata`): the as-of date, the horizon and activity lookback that
define churn for these probabilities, the at-risk threshold and risk bands, the project
and its data source, and the model's identity (registered name, version, run id and
logged-model id when the model was tracked; always a content fingerprint). In a Parquet
file it is the key-value metadata ``churnmodel.scores``; beside a CSV file it is the
sidecar ``<file>.meta.json``.

:func:`read_score_file` reads a score file back and refuses, with one clear error, a file
that is not a churnmodel score file, lacks a column evaluate needs, or holds impossible
probabilities; :func:`check_project` refuses a file of another project.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel.errors import ChurnModelError, DataError
from churnmodel.files import atomic_write

if TYPE_CHECKING:
    from churnmodel.config import Config
    from churnmodel.modeling.model import ChurnModel

FORMAT = "churnmodel.scores"
FORMAT_VERSION = 1
META_KEY = b"churnmodel.scores"
SIDECAR_SUFFIX = ".meta.json"
IDENTITY_FILE = "tracking.json"  # beside model.joblib: the MLflow identity of that model
REQUIRED_COLUMNS = ("customer_id", "churn_probability")


def project_name(cfg: Config) -> str:
    """The config's project (``[project] name`` once projects exist), else ``"default"``."""
    project = getattr(cfg, "project", None)
    name = getattr(project, "name", project)
    return str(name) if name else "default"


def data_source(cfg: Config) -> dict[str, str]:
    """Where each table is read from (paths resolved, the query or the Spark table)."""
    if cfg.data.uses_default:
        return {"default": str(Path(cfg.data.dir).resolve())}
    return {name: src.describe() for name, src in sorted(cfg.data.tables.items())}


def model_fingerprint(model: ChurnModel) -> str:
    """A content hash of a trained model: the same model gives the same fingerprint whether
    loaded from its directory, its exported pyfunc or the registry, in any process.

    Pickles are not byte-stable (they memoise by object identity, which differs between
    processes), so the hash walks the model's contents: arrays by their bytes, LightGBM
    boosters by their model text, objects by their attributes.
    """
    h = hashlib.sha256()
    _feed(h, [model.name, model.feature_names, model.categories, model.builders,
              model.horizon_days, model.activity_lookback_days, model.info,
              model.candidate, model.calibrator], set())
    return h.hexdigest()[:20]


def _feed(h: Any, obj: Any, seen: set[int]) -> None:
    """Feed a canonical form of ``obj`` into the hash ``h`` (cycles are cut)."""
    if obj is None or isinstance(obj, bool | int | float | str | bytes):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
        return
    if isinstance(obj, np.generic):
        h.update(f"{obj.dtype}:{obj.item()!r};".encode())
        return
    if id(obj) in seen:
        h.update(b"<cycle>;")
        return
    seen = seen | {id(obj)}
    if isinstance(obj, np.ndarray):
        h.update(f"array:{obj.dtype}:{obj.shape};".encode())
        if obj.dtype == object:
            for x in obj.ravel():
                _feed(h, x, seen)
        else:
            h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, pd.Series | pd.DataFrame | pd.Index):
        h.update(pd.util.hash_pandas_object(obj).to_numpy().tobytes()
                 if not isinstance(obj, pd.Index) else repr(obj.tolist()).encode())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=repr):
            _feed(h, k, seen)
            _feed(h, obj[k], seen)
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__}[{len(obj)}];".encode())
        for x in obj:
            _feed(h, x, seen)
    elif isinstance(obj, set | frozenset):
        _feed(h, sorted(obj, key=repr), seen)
    elif callable(getattr(obj, "model_to_string", None)):  # a LightGBM booster
        h.update(obj.model_to_string().encode())
    elif hasattr(obj, "__dict__") or hasattr(obj, "__slots__"):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__};".encode())
        state = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
        for slot in getattr(type(obj), "__slots__", ()):
            if hasattr(obj, slot):
                state[slot] = getattr(obj, slot)
        _feed(h, state, seen)
    else:
        h.update(repr(obj).encode())


def write_model_identity(model_dir: str | Path, identity: dict[str, Any]) -> Path:
    """Record the MLflow identity (run id, registered version...) of the model in ``model_dir``."""
    p = Path(model_dir) / IDENTITY_FILE
    return atomic_write(p, lambda tmp: tmp.write_text(json.dumps(identity, indent=2)))


def read_model_identity(model_dir: str | Path, fingerprint: str) -> dict[str, Any]:
    """The recorded identity of the model in ``model_dir`` if it is this very model (same
    fingerprint: a later untracked training leaves a stale file that must not be trusted)."""
    p = Path(model_dir) / IDENTITY_FILE
    try:
        identity = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return identity if isinstance(identity, dict) and identity.get("fingerprint") == fingerprint else {}


def score_file_metadata(cfg: Config, model: ChurnModel, as_of: pd.Timestamp,
                        identity: dict[str, Any] | None = None,
                        estimate: dict[str, float] | None = None) -> dict[str, Any]:
    """Everything ``churnmodel evaluate`` needs to judge a score file, as one JSON document.

    ``identity``: the model's MLflow identity (``registered_model, version, run_id,
    model_id, tracking_uri, source``) when known; ``estimate``: the CBPE estimate of the
    scored population, kept for comparison with what happens.
    """
    from churnmodel import __version__

    sc = model.info.get("scoring", {})
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "project": project_name(cfg),
        "data_source": data_source(cfg),
        "as_of": str(pd.Timestamp(as_of).date()),
        "horizon_days": int(model.horizon_days),
        "activity_lookback_days": int(model.activity_lookback_days),
        "threshold": float(sc.get("threshold", 0.5)),
        "risk_bands": [float(x) for x in sc.get("risk_bands", (0.2, 0.5, 0.8))],
        "model": {"name": model.name, "fingerprint": model_fingerprint(model),
                  "trained_as_of": model.info.get("as_of"), **(identity or {})},
        "estimate": estimate or {},
        "churnmodel_version": __version__,
    }


def sidecar_path(path: str | Path) -> Path:
    p = Path(path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def write_score_file(df: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> list[Path]:
    """Write the scores with their metadata, atomically (Parquet: inside; CSV: sidecar first,
    so a score file never exists without its metadata)."""
    p = Path(path)
    doc = json.dumps(meta, sort_keys=True, default=str)
    if p.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               META_KEY: doc.encode()})
        return [atomic_write(p, lambda tmp: pq.write_table(table, tmp))]
    side = atomic_write(sidecar_path(p), lambda tmp: tmp.write_text(doc))
    return [atomic_write(p, lambda tmp: df.to_csv(tmp, index=False)), side]


def read_score_file(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A score file and its metadata, checked: one clear error for anything evaluate cannot use."""
    p = Path(path)
    if p.suffix.lower() not in (".csv", ".parquet"):
        raise ChurnModelError(f"score file {str(p)!r} (--scores) must be a .parquet or .csv file "
                              "written by `churnmodel score`.")
    if not p.is_file():
        raise ChurnModelError(f"score file {str(p)!r} (--scores) does not exist"
                              + (" (it is a directory)" if p.is_dir() else "")
                              + "; pass a file written by `churnmodel score --out`.")
    not_ours = (f"{str(p)!r} is not a churnmodel score file: it carries no churnmodel metadata "
                "(as-of date, horizon, model, project)")
    if p.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p)
        except Exception as exc:  # pyarrow raises many types for a damaged or foreign file
            raise ChurnModelError(f"score file {str(p)!r} cannot be read as Parquet "
                                  f"({type(exc).__name__}: {exc}).") from None
        raw = (table.schema.metadata or {}).get(META_KEY)
        if raw is None:
            raise ChurnModelError(f"{not_ours}. Evaluate a file written by `churnmodel score` "
                                  "(score again with this version if it predates the metadata).")
        df = table.to_pandas()
    else:
        side = sidecar_path(p)
        if not side.is_file():
            raise ChurnModelError(f"{not_ours}: its sidecar {str(side)!r} is missing. Keep the "
                                  "sidecar `churnmodel score` writes beside a CSV file, or score "
                                  "to .parquet.")
        raw = side.read_bytes()
        try:
            df = pd.read_csv(p, dtype={"customer_id": "string"})
        except Exception as exc:
            raise ChurnModelError(f"score file {str(p)!r} cannot be read as CSV "
                                  f"({type(exc).__name__}: {exc}).") from None
    try:
        meta = json.loads(raw)
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ChurnModelError(f"{not_ours} (its metadata is damaged or of another tool).")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ChurnModelError(f"score file {str(p)!r} was written by a newer churnmodel (format "
                              f"{meta['format_version']}); upgrade churnmodel to evaluate it.")
    _check_columns(df, p)
    return df, meta


def _check_columns(df: pd.DataFrame, p: Path) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError("scores", ", ".join(missing), f"is missing from {str(p)!r}",
                        "evaluate the file exactly as `churnmodel score` wrote it (customer_id "
                        "and churn_probability are needed)")
    if len(df) == 0:
        raise DataError("scores", None, f"{str(p)!r} has no rows", "score a population first")
    ids = df["customer_id"]
    if ids.isna().any():
        raise DataError("scores", "customer_id", "has empty customer ids",
                        "evaluate the file as `churnmodel score` wrote it", n_rows=int(ids.isna().sum()))
    dup = ids.duplicated()
    if dup.any():
        raise DataError("scores", "customer_id", "has duplicate customer ids (one row per customer)",
                        "evaluate the file as `churnmodel score` wrote it", n_rows=int(dup.sum()),
                        example=ids[dup].iloc[0])
    p_ = pd.to_numeric(df["churn_probability"], errors="coerce")
    bad = ~np.isfinite(p_.to_numpy(dtype="float64", na_value=np.nan)) | (p_ < 0).to_numpy() \
        | (p_ > 1).to_numpy()
    if bad.any():
        raise DataError("scores", "churn_probability", "must be probabilities in [0, 1]",
                        "evaluate the file as `churnmodel score` wrote it", n_rows=int(bad.sum()),
                        example=df.loc[bad, "churn_probability"].iloc[0])


def check_project(meta: dict[str, Any], cfg: Config, path: str | Path) -> None:
    """Refuse a score file made by another project than the config's."""
    mine, theirs = project_name(cfg), str(meta.get("project"))
    if theirs != mine:
        raise ChurnModelError(f"score file {str(path)!r} was made by project {theirs!r}, but the "
                              f"config is project {mine!r}: its customers, data and model are "
                              f"another project's. Evaluate it with project {theirs!r}'s config "
                              "(--config).")


def record_training_identity(model_dir: str | Path, report: Any, model_name: str) -> Path:
    """After a tracked training: which registered version the model in ``model_dir`` is
    (``report``: :class:`churnmodel.tracking.RunReport`), so its score files can say so."""
    from churnmodel.modeling.model import ChurnModel

    model_id = str(report.model_uri).removeprefix("models:/") \
        if str(report.model_uri).startswith("models:/m-") else None
    return write_model_identity(model_dir, {
        "registered_model": model_name, "version": str(report.version), "run_id": report.run_id,
        "model_id": model_id, "tracking_uri": report.tracking_uri,
        "fingerprint": model_fingerprint(ChurnModel.load(model_dir))})


def local_identity(source: str | Path, model: ChurnModel) -> dict[str, Any]:
    """The identity recorded beside a model directory (or its exported ``mlflow_model``)."""
    fp = model_fingerprint(model)
    p = Path(source)
    found = read_model_identity(p, fp) or read_model_identity(p.parent, fp)
    return {**found, "fingerprint": fp}
