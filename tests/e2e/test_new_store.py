"""A new embedded SQLite store starts as a copy of an empty store MLflow built itself
(``churnmodel.tracking.seed_new_store``): MLflow must not be able to tell it from a store it
created by running its migrations, and an existing store is never touched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from churnmodel import tracking


def _schema(db: Path) -> tuple[list[tuple[str, str]], list[tuple[str, ...]]]:
    con = sqlite3.connect(db)
    try:
        objects = con.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()
        version = con.execute("SELECT * FROM alembic_version").fetchall()
    finally:
        con.close()
    return objects, version


def _use(db: Path) -> list[tuple[str, str, str]]:
    """What a training does first (experiment, run, registered model); the experiments after."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    exp = client.create_experiment("shop")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "roc_auc", 0.9)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("shop")
    assert [m.name for m in client.search_registered_models()] == ["shop"]
    return sorted((e.experiment_id, e.name, e.artifact_location)
                  for e in client.search_experiments())


def test_a_seeded_store_is_what_mlflow_would_have_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default experiment's artifacts go under ./mlruns
    seeded, created = tmp_path / "seeded.db", tmp_path / "created.db"
    assert tracking.seed_new_store(f"sqlite:///{seeded}")
    assert _schema(seeded) == _schema(tracking._empty_store())
    seeded_use, created_use = _use(seeded), _use(created)  # created: MLflow's migrations
    assert _schema(seeded) == _schema(created)
    assert seeded_use == created_use
    assert ("0", "Default", str(tmp_path / "mlruns" / "0")) in seeded_use
    assert not list(tmp_path.glob(".seeded.db.*"))  # no temp copy left


def test_an_existing_store_is_never_replaced(tmp_path):
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not touched")
    assert not tracking.seed_new_store(f"sqlite:///{db}")
    assert db.read_bytes() == b"not touched"
    assert not tracking.seed_new_store("http://127.0.0.1:5000")  # servers keep their own


def test_a_failed_seed_leaves_no_file_for_mlflow_to_trip_on(tmp_path, monkeypatch):
    def broken() -> Path:
        raise OSError("no space left on device")

    monkeypatch.setattr(tracking, "_empty_store", broken)
    db = tmp_path / "mlflow.db"
    assert not tracking.seed_new_store(f"sqlite:///{db}")  # MLflow creates it as before
    assert not db.exists() and not list(tmp_path.iterdir())


def test_a_store_in_a_missing_folder_is_left_to_the_preflight(tmp_path):
    db = tmp_path / "missing" / "mlflow.db"
    assert not tracking.seed_new_store(f"sqlite:///{db}")
    assert not db.parent.exists()


def test_pointing_mlflow_at_a_missing_store_creates_no_file(tmp_path, monkeypatch):
    import mlflow

    from churnmodel.config import Config, TrackingConfig

    db = tmp_path / "mlflow.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    pointed: list[str] = []  # MLflow's global URIs stay as they were for the other tests
    monkeypatch.setattr(mlflow, "set_tracking_uri", pointed.append)
    monkeypatch.setattr(mlflow, "set_registry_uri", pointed.append)
    assert tracking.configure(Config(tracking=TrackingConfig(tracking_uri=f"sqlite:///{db}"))) \
        == f"sqlite:///{db}"
    assert pointed == [f"sqlite:///{db}"] * 2
    assert not db.exists()  # `churnmodel serve --model <folder>` writes no store


def test_a_copy_that_fails_half_way_leaves_no_partial_file(tmp_path, monkeypatch):
    import shutil

    def half(src, dst):
        Path(dst).write_bytes(Path(src).read_bytes()[:100])
        raise OSError("no space left on device")

    tracking._empty_store()  # built before the copy breaks
    monkeypatch.setattr(shutil, "copyfile", half)
    db = tmp_path / "mlflow.db"
    assert not tracking.seed_new_store(f"sqlite:///{db}")
    assert not db.exists() and not list(tmp_path.glob(".mlflow.db.*"))  # no temp copy


@pytest.mark.parametrize("planted_as", ["link", "another user's file"])
def test_a_template_owned_by_another_user_or_linked_is_not_used(tmp_path, monkeypatch, planted_as):
    """The temp folder is shared: a planted file must not become this user's store."""
    import os

    import mlflow

    monkeypatch.setattr(tracking.tempfile, "gettempdir", lambda: str(tmp_path))
    planted = tmp_path / f"churnmodel-mlflow-{mlflow.__version__}-{os.getuid()}.db"
    if planted_as == "link":
        planted.symlink_to(tmp_path / "elsewhere.db")
    else:
        planted.write_bytes(b"planted")
        if os.getuid() != 0:
            pytest.skip("only root can hand the planted file to another user (CI runs as root)")
        os.chown(planted, 65534, 65534)
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    assert not tracking.seed_new_store(f"sqlite:///{db}")
    assert not db.exists()
