"""Where features, labels and populations are built (``[engine] name``).

``duckdb`` (the default) runs the builders of :mod:`churnmodel.features` on this machine.
``spark`` (:mod:`churnmodel.engine.spark`) runs the same builders, unchanged, one customer
bucket per Spark task; it needs the ``spark`` extra (PySpark), which is imported only when
that engine is used. Training and scoring call the functions below, which choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnmodel.config import Config
from churnmodel.data.tables import Tables
from churnmodel.errors import ConfigError

if TYPE_CHECKING:
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.training_set import CutoffCache


def uses_spark(cfg: Config) -> bool:
    """True when ``cfg`` chooses the Spark engine."""
    return cfg.engine.name == "spark"


def training_set(tables: Tables, cutoffs: Sequence[pd.Timestamp], builders: Sequence[str],
                 cfg: Config, progress: bool = False, cache: CutoffCache | None = None
                 ) -> pd.DataFrame:
    """The labelled rows of ``cutoffs`` on the configured engine: Spark builds them and
    the driver gets a sample of whole customers (``[engine] sample_customers``); locally,
    ``[training] max_customers_per_cutoff`` samples per cutoff, and ``cache`` keeps the
    frames for the next training on the same tables (the backtest's folds)."""
    H, L, tc = cfg.labels.horizon_days, cfg.labels.activity_lookback_days, cfg.training
    if uses_spark(cfg):
        from churnmodel.engine import spark

        if tc.max_customers_per_cutoff is not None:
            raise ConfigError("[training] max_customers_per_cutoff samples on this machine; with "
                              "[engine] name = \"spark\" set [engine] sample_customers instead.")
        return spark.training_set(tables, cutoffs, builders, H, L, cfg.engine, tc.seed)
    from churnmodel.training_set import training_set as local

    return local(tables, cutoffs, builders, H, L, tc.max_customers_per_cutoff, tc.seed,
                 progress=progress, cache=cache)


def features_at(tables: Tables, as_of: pd.Timestamp, builders: Sequence[str], cfg: Config
                ) -> pd.DataFrame:
    """The features of every customer active at ``as_of`` (index ``customer_id``) on the
    configured engine; a :class:`~churnmodel.errors.DataError` when nobody is active."""
    H, L = cfg.labels.horizon_days, cfg.labels.activity_lookback_days
    if uses_spark(cfg):
        from churnmodel.engine import spark

        return spark.features(tables, as_of, builders, H, L, cfg.engine)
    from churnmodel.training_set import cutoff_frame

    return cutoff_frame(tables, as_of, builders, H, L, with_labels=False).droplevel("cutoff")


def score_customers(model: ChurnModel, tables: Tables, as_of: pd.Timestamp, cfg: Config,
                    **kwargs: Any) -> pd.DataFrame:
    """:func:`churnmodel.scoring.score_customers` on the configured engine (the same rows)."""
    if uses_spark(cfg):
        from churnmodel.engine import spark

        return spark.score_customers(model, tables, as_of, cfg.scoring, engine=cfg.engine,
                                     **kwargs)
    from churnmodel.scoring import score_customers as local

    return local(model, tables, as_of, cfg.scoring, **kwargs)
