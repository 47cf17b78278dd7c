"""churnmodel: who is about to leave, why, and who they are.

Public API (everything else is an implementation detail)::

    import churnmodel as cm

    project = cm.Project("shop.toml")   # or cm.Project(): the embedded default data
    project.fit()                       # train and save to models/<project>
    scores = project.score()            # probability, state, action, drivers per customer
    project.call_list(10)               # whom to contact first

    from churnmodel import load_config, load_tables, tables_from_frames, train, ChurnModel
"""

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
from churnmodel.training_set import cutoff_dates, time_split, training_set

__version__ = "0.1.0"

__all__ = [
    "ChurnModel", "ChurnModelError", "Config", "ConfigError", "DataError", "ModelInputError",
    "Project", "Tables", "TrainResult", "active_customers", "build_features", "churn_labels",
    "cutoff_dates", "generate", "load_config", "load_tables", "tables_from_frames",
    "time_split", "train", "training_set",
]
