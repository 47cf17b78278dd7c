"""The Python way in, for notebooks and scripts: one object per project.

The CLI and this API call the same functions; a :class:`Project` only remembers the
config, the tables and the model so a notebook does not pass them around::

    import churnmodel as cm

    project = cm.Project("shop.toml")      # or cm.Project() for the embedded default data
    project.fit()                          # train, choose, calibrate; save to models/shop
    scores = project.score()               # every active customer: p, state, action, drivers
    project.call_list(10)                  # whom to contact first, with the top lever
    project.explain([1001, 1002])          # why, both directions
    project.segment().table                # RFM, clusters, NPS groups, risk x value
    project.report()                       # reports/shop/churn_report.html

Estimator conventions where they fit (scikit-learn): :meth:`Project.fit` returns the
project, fitted attributes end in ``_`` (``model_``, ``result_``), and on a feature frame
:meth:`Project.predict_proba` returns one column per class and :meth:`Project.predict`
the at-risk flag. :meth:`Project.features` gives exactly the rows the model scores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from churnmodel.config import Config, load_config, with_overrides
from churnmodel.errors import ChurnModelError, ConfigError

if TYPE_CHECKING:
    from churnmodel.data.tables import Tables
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.modeling.train import TrainResult
    from churnmodel.scoring import Segments

__all__ = ["Project", "find_root"]


def find_root(start: Path | None = None) -> Path:
    """The workspace root: ``CHURNMODEL_ROOT``, else the nearest folder at or above
    ``start`` (the current directory) holding ``pyproject.toml`` or ``data/``, else ``start``.
    A notebook runs in ``notebooks/`` but its project's folders live one level up."""
    env = os.environ.get("CHURNMODEL_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() or (d / "models").is_dir() and (d / "data").is_dir():
            return d
    return here


class Project:
    """One project's config, tables and model (see the module docstring).

    ``config``: a TOML path, a :class:`~churnmodel.config.Config`, or ``None`` for the
    embedded default data (project ``default``). ``root``: where the project's default
    folders live (default :func:`find_root`). ``as_of``: the default date of scoring,
    explaining and segmenting (default: the latest event in the data).
    """

    def __init__(self, config: str | Path | Config | None = None, root: str | Path | None = None,
                 as_of: str | pd.Timestamp | None = None) -> None:
        self.root = Path(root).resolve() if root is not None else find_root()
        previous = os.environ.get("CHURNMODEL_ROOT")
        os.environ["CHURNMODEL_ROOT"] = str(self.root)  # defaults resolve under the root
        try:
            self.config = config if isinstance(config, Config) else load_config(config)
        finally:
            if previous is None:
                os.environ.pop("CHURNMODEL_ROOT", None)
            else:
                os.environ["CHURNMODEL_ROOT"] = previous
        self._as_of = None if as_of is None else pd.Timestamp(as_of).normalize()
        self._tables: Tables | None = None
        self.model_: ChurnModel | None = None
        self.result_: TrainResult | None = None

    @classmethod
    def from_env(cls) -> Project:
        """The notebooks' settings, from environment variables: ``CHURNMODEL_CONFIG`` (your
        TOML), ``CHURNMODEL_AS_OF``, and for tests ``CHURNMODEL_DATA_DIR`` /
        ``CHURNMODEL_MODEL_DIR`` (the default project's data and model folders),
        ``CHURNMODEL_TREES`` (a cap on boosting rounds, early stopping after a fifth of them,
        at least 10) and ``CHURNMODEL_CUTOFFS`` (``[training] n_cutoffs``)."""
        project = cls(os.environ.get("CHURNMODEL_CONFIG") or None,
                      as_of=os.environ.get("CHURNMODEL_AS_OF") or None)
        data_dir, model_dir = (os.environ.get("CHURNMODEL_DATA_DIR"),
                               os.environ.get("CHURNMODEL_MODEL_DIR"))
        cfg = project.config
        if data_dir and cfg.data.uses_default:
            cfg = with_overrides(cfg, data={"dir": Path(data_dir).resolve()})
        if model_dir:
            cfg = with_overrides(cfg, output={"model_dir": Path(model_dir).resolve()})
        trees, cutoffs = _env_int("CHURNMODEL_TREES"), _env_int("CHURNMODEL_CUTOFFS")
        if trees:
            cfg = with_overrides(cfg, model={"n_estimators": trees,
                                             "early_stopping_rounds": max(10, trees // 5)})
        if cutoffs:
            cfg = with_overrides(cfg, training={"n_cutoffs": cutoffs})
        project.config = cfg
        return project

    def __repr__(self) -> str:
        return (f"Project({self.name!r}, model_dir={str(self.config.output.model_dir)!r}, "
                f"fitted={self.model_ is not None})")

    # --- what the project holds --------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.project.name

    @property
    def tables(self) -> Tables:
        """The project's tables, loaded (and validated) once."""
        if self._tables is None:
            from churnmodel.data.io import load_tables

            if self.config.data.uses_default and not (
                    Path(self.config.data.dir) / "transactions.parquet").exists():
                raise ChurnModelError(f"no data in {str(self.config.data.dir)!r}: run `churnmodel "
                                      "data synth` first, or use a config with your own tables.")
            self._tables = load_tables(self.config)
        return self._tables

    @property
    def as_of(self) -> pd.Timestamp:
        """The date scoring looks from: the one given, else the latest event in the data."""
        return self._as_of if self._as_of is not None else self.tables.max_event_ts().normalize()

    @property
    def model(self) -> ChurnModel:
        """The fitted model, else the one saved in the project's model directory."""
        if self.model_ is None:
            from churnmodel.modeling.model import ChurnModel
            from churnmodel.scoring import check_model_project

            path = Path(self.config.output.model_dir)
            if not (path / "model.joblib").exists():
                raise ChurnModelError(f"no trained model in {str(path)!r} for project "
                                      f"'{self.name}': call fit() or run `churnmodel train`.")
            self.model_ = ChurnModel.load(path)
            check_model_project(self.model_, self.config, path)
        return self.model_

    # --- fit and predict -----------------------------------------------------------------

    def fit(self, as_of: str | pd.Timestamp | None = None, save: bool = True) -> Project:
        """Train (the ladder, candidates, champion on validation, calibration, refit) on the
        project's tables; save to the model directory unless ``save=False``. No MLflow run:
        ``churnmodel train`` tracks. Returns the project (``result_``, ``model_`` set)."""
        from churnmodel.modeling.train import train

        cfg = self.config if as_of is None else with_overrides(
            self.config, training={"as_of": str(pd.Timestamp(as_of).date())})
        self.result_ = train(self.tables, cfg)
        self.model_ = self.result_.model
        if save:
            self.model_.save(Path(cfg.output.model_dir), self.result_.metrics_json())
        return self

    def features(self, as_of: str | pd.Timestamp | None = None,
                 customers: Sequence[object] | None = None) -> pd.DataFrame:
        """The feature rows the model scores at ``as_of`` (index ``customer_id``), with the
        ``customer_value`` scoring uses: what ``churnmodel features`` writes and the REST
        server takes."""
        from churnmodel.scoring import feature_rows

        return feature_rows(self.model, self.tables, self._date(as_of), self.config.scoring,
                            customers)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[[1 - p, p], ...]`` for the rows of a feature frame (scikit-learn's shape)."""
        p = self.model.predict_proba(X.drop(columns=["customer_value"], errors="ignore"))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The at-risk flag for the rows of a feature frame (as scoring sets it)."""
        return self.decide(X)["at_risk"].to_numpy()

    def decide(self, X: pd.DataFrame) -> pd.DataFrame:
        """Probability, risk band, state, at-risk flag and action for a feature frame (with
        an optional ``customer_value`` column)."""
        from churnmodel.risk import risk_frame

        value = X["customer_value"].to_numpy() if "customer_value" in X.columns else None
        return risk_frame(self.model, X.drop(columns=["customer_value"], errors="ignore"), value)

    # --- what a retention team uses ------------------------------------------------------

    def score(self, as_of: str | pd.Timestamp | None = None, explain: bool = True) -> pd.DataFrame:
        """Every active customer: probability, band, state, at-risk, action, value, drivers."""
        from churnmodel.scoring import score_customers

        return score_customers(self.model, self.tables, self._date(as_of), self.config.scoring,
                               explain=explain)

    def call_list(self, n: int = 20, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
        """The ``n`` customers to contact first (:func:`churnmodel.scoring.call_list`)."""
        from churnmodel.scoring import call_list

        return call_list(self.score(as_of), n, self.model.policy())

    def explain(self, customers: Sequence[object], n: int = 3,
                as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
        """Why these customers have their risk: ``n`` factors each way, in sentences."""
        from churnmodel.explain import explain_customers

        return explain_customers(self.model, self.tables, self._date(as_of), customers, n)

    def segment(self, as_of: str | pd.Timestamp | None = None, explain: bool = False) -> Segments:
        """RFM segments, clusters, NPS groups and risk x value of every active customer."""
        from churnmodel.scoring import customer_segments

        return customer_segments(self.tables, self._date(as_of), self.config, self.model,
                                 explain=explain)

    def report(self, as_of: str | pd.Timestamp | None = None, out: str | Path | None = None) -> Path:
        """Write the HTML report (default ``reports/<project>/churn_report.html``)."""
        from churnmodel.report import REPORT_FILE, churn_report, write_report

        as_of = self._date(as_of)
        path = Path(out) if out is not None else Path(self.config.output.report_dir) / REPORT_FILE
        rep = churn_report(self.tables.until(as_of), self.config, self.model,
                           self.config.output.model_dir, as_of)
        write_report(rep, path)
        return path

    def _date(self, as_of: Any) -> pd.Timestamp:
        return pd.Timestamp(as_of).normalize() if as_of is not None else self.as_of


def _env_int(name: str) -> int | None:
    """The whole number in environment variable ``name``; ``None`` when it is unset or empty."""
    text = os.environ.get(name) or None
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a whole number. Fix: set it to one, "
                          "e.g. 60, or unset it.") from None
