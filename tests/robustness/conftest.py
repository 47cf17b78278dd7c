"""Shared data for the robustness suite: a small valid synthetic set and one small model."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from churnmodel.config import Config, ModelConfig, TrackingConfig, TrainingConfig
from churnmodel.data.io import tables_from_frames
from churnmodel.data.synthetic import SyntheticData, generate
from churnmodel.modeling.train import TrainResult, train


@pytest.fixture(scope="session")
def small_synth() -> SyntheticData:
    """400 customers over three years to 2025-12-31: the tables the bad inputs start from."""
    return generate(customers=400, seed=1)


@pytest.fixture
def tx(small_synth: SyntheticData) -> pd.DataFrame:
    """A valid transactions table (canonical columns) to spoil; a fresh copy per test."""
    return small_synth.transactions[["customer_id", "ts", "amount", "category"]].copy()


@pytest.fixture(scope="session")
def trained() -> TrainResult:
    """One small LightGBM model on all four tables, for the model-input cases."""
    d = generate(customers=800, seed=3)
    tables = tables_from_frames({"transactions": d.transactions, "feedback": d.feedback,
                                 "tickets": d.tickets, "customers": d.customers})
    cfg = Config(model=ModelConfig(n_estimators=50, candidates=("lightgbm",)),
                 training=TrainingConfig(n_cutoffs=7), tracking=TrackingConfig(enabled=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return train(tables, cfg)


@pytest.fixture(scope="session")
def model_dir(trained: TrainResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained model exported as ``churnmodel train`` does (model.joblib + metadata)."""
    d = tmp_path_factory.mktemp("model")
    trained.model.save(d)
    return d
