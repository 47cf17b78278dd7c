"""churnmodel: who is about to leave, why, and who they are.

Public API (everything else is an implementation detail)::

    import churnmodel as cm

    project = cm.Project("shop.toml")   # or cm.Project(): the embedded default data
    project.fit()                       # train and save to models/<project>
    scores = project.score()            # probability, state, action, drivers per customer
    project.call_list(10)               # whom to contact first

    from churnmodel import load_config, load_tables, tables_from_frames, train, ChurnModel
"""

import importlib
from typing import TYPE_CHECKING

# The public names load on first use (PEP 562): `import churnmodel.cli` for `--help` or a bad
# config then costs a few hundred milliseconds, not the 3 s of pandas, scikit-learn, SciPy
# and LightGBM that training needs (each command imports what it uses).
_WHERE = {
    "Project": "churnmodel.api",
    "Config": "churnmodel.config", "load_config": "churnmodel.config",
    "load_tables": "churnmodel.data.io", "tables_from_frames": "churnmodel.data.io",
    "generate": "churnmodel.data.synthetic",
    "Tables": "churnmodel.data.tables",
    "ChurnModelError": "churnmodel.errors", "ConfigError": "churnmodel.errors",
    "DataError": "churnmodel.errors", "ModelInputError": "churnmodel.errors",
    "build_features": "churnmodel.features",
    "active_customers": "churnmodel.labels", "churn_labels": "churnmodel.labels",
    "ChurnModel": "churnmodel.modeling.model",
    "TrainResult": "churnmodel.modeling.train", "train": "churnmodel.modeling.train",
}
# ...except the names of the `training_set` module: importing a submodule sets the package's
# attribute of its name to the module, which must not hide the function of the same name
from churnmodel.training_set import cutoff_dates, time_split, training_set  # noqa: E402

if TYPE_CHECKING:
    from churnmodel.api import Project
    from churnmodel.config import Config, load_config
    from churnmodel.data.io import load_tables, tables_from_frames
    from churnmodel.data.synthetic import generate
    from churnmodel.data.tables import Tables
    from churnmodel.errors import ChurnModelError, ConfigError, DataError, ModelInputError
    from churnmodel.features import build_features
    from churnmodel.labels import active_customers, churn_labels
    from churnmodel.modeling.model import ChurnModel
    from churnmodel.modeling.train import TrainResult, train


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'churnmodel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__version__ = "0.1.0"

__all__ = [
    "ChurnModel", "ChurnModelError", "Config", "ConfigError", "DataError", "ModelInputError",
    "Project", "Tables", "TrainResult", "active_customers", "build_features", "churn_labels",
    "cutoff_dates", "generate", "load_config", "load_tables", "tables_from_frames",
    "time_split", "train", "training_set",
]
