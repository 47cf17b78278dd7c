"""The pyfunc wrapper: a per-customer feature frame in, risk, band and drivers out.

Logged with MLflow's "models from code" (``entry.py``) rather than a pickled class; the
trained :class:`~churnmodel.modeling.model.ChurnModel` travels as an artifact
(``model.joblib``) and the package source as ``code_paths``, so a served model needs
only the pinned pip requirements.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
from pathlib import Path
from typing import Any

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from churnmodel.errors import ChurnModelError
from churnmodel.modeling.model import MODEL_FILE, ChurnModel

ENTRY = Path(__file__).with_name("entry.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS = ("mlflow", "lightgbm", "pandas", "numpy", "scikit-learn", "scipy", "joblib",
                "pyarrow", "duckdb")


def max_request_rows() -> int | None:
    """Row limit per REST request (``CHURNMODEL_MAX_REQUEST_ROWS``, default 10,000; 0 = none).

    Applies only inside ``mlflow models serve``; in-process and Spark scoring are unlimited.
    """
    if os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "").lower() != "true":
        return None
    return int(os.environ.get("CHURNMODEL_MAX_REQUEST_ROWS", "10000")) or None


def pip_requirements() -> list[str]:
    """Pinned requirements of the serving environment (given explicitly: logging is fast)."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]


class ChurnPyfunc(PythonModel):
    """``predict(features)`` returns ``churn_probability, risk_band, state, at_risk,
    action`` and drivers.

    Input: one row per customer with the model's feature columns, an optional
    ``customer_id`` column (passed through) and an optional ``customer_value`` (what
    ``churnmodel features`` writes beside the features). Drivers are filled for the
    customers to contact (at risk, or to win back).
    """

    model: ChurnModel

    def load_context(self, context) -> None:
        self.model = joblib.load(context.artifacts["model"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException

        from churnmodel.scoring import score_frame

        X = pd.DataFrame(model_input)
        limit = max_request_rows()
        if limit and len(X) > limit:
            # an HTTP 400, not an out-of-memory server: split big jobs or use batch scoring
            raise MlflowException.invalid_parameter_value(
                f"request has {len(X):,} rows; the server accepts at most {limit:,} per request "
                "(CHURNMODEL_MAX_REQUEST_ROWS). Send smaller batches or use `churnmodel score`.")
        ids = X.pop("customer_id") if "customer_id" in X.columns else None
        # what the customer is worth (``churnmodel features`` writes it): decides win back
        # or let go, nurture or monitor; without it those use an unknown value
        value = (pd.to_numeric(X.pop("customer_value"), errors="coerce").to_numpy(dtype=float)
                 if "customer_value" in X.columns else None)
        try:
            out = score_frame(self.model, X.reset_index(drop=True), value=value)
        except ChurnModelError as exc:  # a clear 400 instead of a stack trace
            raise MlflowException.invalid_parameter_value(str(exc)) from None
        # the answer built in one constructor, not a column insert each (per REST request)
        columns: dict[str, Any] = {} if ids is None else {"customer_id": ids.to_numpy()}
        for c in out.columns:
            columns[c] = out[c]
            if c.endswith(("_contribution", "_value")):  # JSON has no NaN: empty ones become null
                v = out[c].to_numpy(dtype="float64")
                columns[c] = v.astype(object)
                columns[c][np.isnan(v)] = None
        for c in ("risk_band", "state", "action"):
            columns[c] = out[c].astype("string")
        return pd.DataFrame(columns, index=out.index)


def _examples(model: ChurnModel, X: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """Input example (5 customers) and signature; ``customer_id`` is an optional input."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    from churnmodel.scoring import score_frame

    example = X[model.feature_names].head(5).copy()
    for c in model.categories:
        example[c] = example[c].astype("string")
    out = score_frame(model, example)
    for c in ("risk_band", "state", "action"):
        out[c] = out[c].astype("string")
    ids = pd.Series(X.index[:5], name="customer_id")
    example.insert(0, "customer_id", ids.to_numpy())
    example["customer_value"] = np.zeros(len(example))
    out.insert(0, "customer_id", ids.to_numpy())
    sig = infer_signature(example, out)
    optional = ("customer_id", "customer_value")
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(c.type, c.name, required=c.name not in optional) for c in sig.inputs.inputs]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec(c.type, c.name, required=False) for c in sig.outputs.inputs]
    return example.reset_index(drop=True), ModelSignature(Schema(inputs), Schema(outputs))


def save_pyfunc(model: ChurnModel, X: pd.DataFrame, path: str | Path) -> Path:
    """Export the pyfunc to ``path`` (replacing it as a whole) for use without a tracking store."""
    path = Path(path)
    example, signature = _examples(model, X)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        art = Path(tmp) / MODEL_FILE
        joblib.dump(model, art)
        staged = Path(tmp) / "model"
        mlflow.pyfunc.save_model(
            path=str(staged), python_model=str(ENTRY), artifacts={"model": str(art)},
            code_paths=[str(PACKAGE_DIR)], signature=signature, input_example=example,
            pip_requirements=pip_requirements())
        old = Path(tmp) / "old"
        if path.exists():
            path.rename(old)
        staged.rename(path)
    return path


def log_pyfunc(model: ChurnModel, X: pd.DataFrame, model_path: str | Path):
    """Log the pyfunc in the active MLflow run; returns MLflow's ``ModelInfo``."""
    example, signature = _examples(model, X)
    return mlflow.pyfunc.log_model(
        name="model", python_model=str(ENTRY), artifacts={"model": str(Path(model_path))},
        code_paths=[str(PACKAGE_DIR)], signature=signature, input_example=example,
        pip_requirements=pip_requirements())


def load_churn_model(uri: str | Path) -> ChurnModel:
    """A :class:`ChurnModel` from a directory, an exported pyfunc or an MLflow model URI.

    ``models:/churnmodel-default@champion`` and ``runs:/…`` resolve through the tracking URI.
    """
    s = str(uri)
    if "://" in s or s.startswith(("models:/", "runs:/")):
        try:
            pm = mlflow.pyfunc.load_model(s)
        except Exception as exc:  # MLflow raises many types; say what to do
            raise ChurnModelError(f"cannot load model {s!r} from the tracking store "
                                  f"{mlflow.get_tracking_uri()!r}: {exc}. Run `churnmodel train` "
                                  "first or check MLFLOW_TRACKING_URI.") from None
        return _churn_model(pm, s)
    p = Path(s)
    if (p / "MLmodel").exists():
        try:
            pm = mlflow.pyfunc.load_model(str(p))
        except Exception as exc:  # a damaged MLmodel / missing artifacts: say what to do
            raise ChurnModelError(f"cannot load the MLflow model in {s!r} ({type(exc).__name__}: "
                                  f"{exc}); it looks damaged. Re-export it with `churnmodel train` "
                                  "or pass another --model.") from None
        return _churn_model(pm, s)
    return ChurnModel.load(p)


def _churn_model(pm: Any, source: str) -> ChurnModel:
    """The :class:`ChurnModel` inside a loaded pyfunc, or a clear error for other models."""
    try:
        model = pm.unwrap_python_model().model
    except Exception:
        model = None
    # duck-typed: MLflow may re-import the package from the model's code_paths
    if not all(hasattr(model, a) for a in ("feature_names", "predict_proba", "builders")):
        raise ChurnModelError(f"{source!r} is an MLflow model but not a churnmodel model; pass "
                              "a model trained by `churnmodel train`.")
    return model
