"""Where features, labels and populations are built (``[engine] name``).

``duckdb`` (the default) runs the builders of :mod:`churnmodel.features` on this machine.
``spark`` (:mod:`churnmodel.engine.spark`) runs the same builders, unchanged, one customer
bucket per Spark task; it needs the ``spark`` extra (PySpark), which is imported only when
that engine is used.
"""

from __future__ import annotations

from churnmodel.config import Config


def uses_spark(cfg: Config) -> bool:
    """True when ``cfg`` chooses the Spark engine."""
    return cfg.engine.name == "spark"
