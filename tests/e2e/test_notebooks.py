"""The notebooks run top to bottom (on a small data set) and are saved without outputs.

Each notebook reads its data and model directories from environment variables
(CHURNMODEL_DATA_DIR, CHURNMODEL_MODEL_DIR); notebook 03 trains with few trees
(CHURNMODEL_TREES) on fewer monthly cutoffs (CHURNMODEL_CUTOFFS), backtests fewer folds
(CHURNMODEL_FOLDS; 3 by default) and exports the
model (CHURNMODEL_SAVE_MODEL=1) that notebook 04 scores with.
They run in the venv's `python3` kernel through nbclient, in a temporary working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import cli_process

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = ["01_explore_data", "02_features_and_segments", "03_train_and_explain", "04_score_and_act"]


def test_the_four_notebooks_are_there():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("path", sorted(NOTEBOOK_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_saved_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert dirty == [], f"{path.name}: cells {dirty} hold outputs; clear them before saving " \
                        "(Kernel > Restart & Clear Output, or `jupyter nbconvert --clear-output --inplace`)"
    assert "churnmodel" in "".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.fixture(scope="module")
def run_notebook(small_data_dir, tmp_path_factory):
    """Execute a notebook once (cached by name) on the small data set; returns the executed copy."""
    work = tmp_path_factory.mktemp("notebooks")
    env = dict(os.environ, CHURNMODEL_DATA_DIR=str(small_data_dir),
               CHURNMODEL_MODEL_DIR=str(work / "model"), CHURNMODEL_TREES="60",
               CHURNMODEL_FOLDS="2", CHURNMODEL_CUTOFFS="8", CHURNMODEL_SAVE_MODEL="1")
    env.pop("CHURNMODEL_CONFIG", None)
    env.pop("CHURNMODEL_AS_OF", None)
    done: dict[str, nbformat.NotebookNode] = {}

    def run(name: str) -> nbformat.NotebookNode:
        if name not in done:
            nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
            client = NotebookClient(nb, kernel_name="python3", timeout=300,
                                    resources={"metadata": {"path": str(work)}})
            try:
                client.execute(env=env)
            except CellExecutionError as exc:
                pytest.fail(f"notebook {name} failed:\n{str(exc)[-3000:]}")
            done[name] = nb
        return done[name]

    run.model_dir = work / "model"  # type: ignore[attr-defined]
    return run


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))


def test_01_explore_data_runs(run_notebook):
    nb = run_notebook("01_explore_data")
    assert "transactions" in _text(nb) and "churn rate" in _text(nb)


def test_02_features_and_segments_runs(run_notebook):
    nb = run_notebook("02_features_and_segments")
    text = _text(nb)
    assert "Champions" in text and "silhouette" in text


def test_03_train_and_explain_runs_and_exports_the_model(run_notebook):
    nb = run_notebook("03_train_and_explain")
    assert "oracle (true probability)" in _text(nb)
    assert _images(nb) >= 6  # ROC, PR, calibration, gains, profit, SHAP
    assert (run_notebook.model_dir / "model.joblib").exists()


def test_04_score_and_act_runs_with_the_model_of_03(run_notebook):
    run_notebook("03_train_and_explain")
    nb = run_notebook("04_score_and_act")
    text = _text(nb)
    assert "at risk" in text and "retain now" in text


@pytest.mark.slow
def test_the_four_notebooks_run_on_a_project_whose_config_lives_in_another_folder(
        small_data_dir, tmp_path):
    """`make notebooks CONFIG=elsewhere/shop.toml`: the config's relative paths resolve
    against the file and the project's model folder against the workspace root, not the
    kernel's working directory (notebooks/)."""

    import pandas as pd

    ws = tmp_path / "ws"
    conf = ws / "elsewhere" / "conf"
    conf.mkdir(parents=True)
    tx = pd.read_parquet(small_data_dir / "transactions.parquet")
    tx.to_csv(ws / "elsewhere" / "orders.csv", index=False)
    (conf / "shop.toml").write_text('[data.transactions]\npath = "../orders.csv"\n'
                                    "[model]\nn_estimators = 60\n[training]\nn_cutoffs = 8\n"
                                    "[tracking]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURNMODEL_")}
    r = cli_process.run("train", "--config", "elsewhere/conf/shop.toml", "--quiet", "--no-report",
                        cwd=ws, unset=tuple(k for k in os.environ if k.startswith("CHURNMODEL_")))
    assert r.returncode == 0, r.stderr
    assert (ws / "models" / "shop" / "model.joblib").exists()
    kernel_dir = ws / "notebooks"
    kernel_dir.mkdir()
    env.update(CHURNMODEL_CONFIG=str(conf / "shop.toml"), CHURNMODEL_ROOT=str(ws),
               CHURNMODEL_TREES="40", CHURNMODEL_FOLDS="1")
    for name in NAMES:
        nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        client = NotebookClient(nb, kernel_name="python3", timeout=600,
                                resources={"metadata": {"path": str(kernel_dir)}})
        try:
            client.execute(env=env)
        except CellExecutionError as exc:
            pytest.fail(f"notebook {name} failed on the project config:\n{str(exc)[-3000:]}")
        if name == "04_score_and_act":
            assert "retain now" in _text(nb) and "Project('shop'" in _text(nb)
    assert sorted(p.name for p in kernel_dir.iterdir()) == []  # nothing written beside the kernel
