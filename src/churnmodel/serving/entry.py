"""MLflow "models from code" entry point: MLflow runs this file to build the model.

It holds no logic; the class lives in :mod:`churnmodel.serving.pyfunc`.
"""

from mlflow.models import set_model

from churnmodel.serving.pyfunc import ChurnPyfunc

set_model(ChurnPyfunc())
