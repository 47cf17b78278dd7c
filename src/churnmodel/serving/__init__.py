"""The MLflow pyfunc of a trained churn model: the one scoring function that is logged,
registered, exported to ``models/<project>/mlflow_model`` and served over REST."""

from churnmodel.serving.pyfunc import ChurnPyfunc, load_churn_model, pip_requirements, save_pyfunc

__all__ = ["ChurnPyfunc", "load_churn_model", "pip_requirements", "save_pyfunc"]
