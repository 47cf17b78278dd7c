"""Configuration: defaults, the minimal TOML file, typos with suggestions, wrong types."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnmodel.config import (
    Config,
    TableSource,
    config_from_dict,
    load_config,
    with_overrides,
)
from churnmodel.errors import ConfigError

MINIMAL = """\
[data.transactions]
path = "orders.csv"
customer_id = "cust"
ts = "order_date"
amount = "dollars"
"""

TX = {"path": "orders.csv"}


def test_defaults_train_on_the_embedded_synthetic_data():
    cfg = Config()
    assert cfg.data.uses_default and dict(cfg.data.tables) == {}
    assert cfg.labels.horizon_days == 90 and cfg.labels.activity_lookback_days == 365
    assert cfg.training.n_cutoffs == 15 and cfg.training.embargo is True
    assert cfg.training.as_of is None and cfg.training.max_customers_per_cutoff is None
    assert cfg.features.builders == ("rfm", "satisfaction", "service", "profile", "engagement",
                                     "contact")
    assert cfg.model.calibration == "sigmoid"


def test_no_file_and_an_empty_mapping_give_the_defaults(tmp_path):
    cfg = load_config(None)
    assert cfg.data.dir == Path.cwd() / "data/default"
    assert cfg.output.model_dir == Path.cwd() / "models/default"
    assert cfg.output.report_dir == Path.cwd() / "reports/default"
    assert cfg.project.name == "default"
    assert (cfg.tracking.experiment, cfg.tracking.model_name) == ("churnmodel-default",) * 2
    empty = config_from_dict({}, base=tmp_path)
    assert empty.labels == Config().labels and empty.data.uses_default


def test_a_project_owns_its_folders_experiment_and_registered_model(tmp_path, monkeypatch):
    monkeypatch.setenv("CHURNMODEL_ROOT", str(tmp_path / "ws"))
    (tmp_path / "conf").mkdir()
    named = tmp_path / "conf" / "anything.toml"
    named.write_text('[project]\nname = "shop"\n' + MINIMAL, encoding="utf-8")
    cfg = load_config(named)
    ws = (tmp_path / "ws").resolve()
    assert cfg.project.name == "shop"
    assert cfg.output.model_dir == ws / "models/shop"
    assert cfg.output.report_dir == ws / "reports/shop"
    assert (cfg.tracking.experiment, cfg.tracking.model_name) == ("churnmodel-shop",) * 2
    # without [project] name, the file's name is the project: never the default's folders
    unnamed = tmp_path / "conf" / "my shop.toml"
    unnamed.write_text(MINIMAL, encoding="utf-8")
    assert load_config(unnamed).project.name == "my_shop"
    assert load_config(unnamed).output.model_dir == ws / "models/my_shop"
    # explicit settings win, relative to the config file
    explicit = tmp_path / "conf" / "x.toml"
    explicit.write_text(MINIMAL + '\n[output]\nmodel_dir = "m"\n[tracking]\nmodel_name = "shared"\n',
                        encoding="utf-8")
    cfg = load_config(explicit)
    assert cfg.output.model_dir == (tmp_path / "conf").resolve() / "m"
    assert cfg.output.report_dir == ws / "reports/x"
    assert cfg.tracking.model_name == "shared" and cfg.tracking.experiment == "churnmodel-x"


@pytest.mark.parametrize("name", ["", "a/b", "../x", "-x", "x" * 65, "sp ace"])
def test_a_project_name_must_be_a_safe_folder_name(tmp_path, name):
    with pytest.raises(ConfigError, match="project.name"):
        config_from_dict({"project": {"name": name}}, base=tmp_path)


def test_minimal_toml_file_maps_columns_and_resolves_the_path_next_to_it(tmp_path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "churn.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    cfg = load_config(path)
    assert not cfg.data.uses_default
    assert list(cfg.data.tables) == ["transactions"]
    src = cfg.data.tables["transactions"]
    assert src.path == (tmp_path / "conf").resolve() / "orders.csv"
    assert dict(src.columns) == {"customer_id": "cust", "ts": "order_date", "amount": "dollars"}
    assert src.query is None and src.sep is None and src.encoding is None
    assert cfg.labels.horizon_days == 90  # everything else keeps its default


def test_absolute_paths_are_kept_and_options_are_stored(tmp_path):
    src = config_from_dict({"data": {"transactions": {
        "path": str(tmp_path / "x.csv"), "sep": ";", "encoding": "latin-1",
        "date_format": "%d/%m/%Y"}}}, base=Path("/elsewhere")).data.tables["transactions"]
    assert src == TableSource(path=tmp_path / "x.csv", sep=";", encoding="latin-1",
                              date_format="%d/%m/%Y")


def test_sections_override_defaults_and_relative_dirs_resolve_against_base(tmp_path):
    cfg = config_from_dict({"labels": {"horizon_days": 30},
                            "features": {"builders": ["rfm"]},
                            "model": {"learning_rate": 0.1, "n_estimators": 10},
                            "output": {"model_dir": "out/m"},
                            "data": {"dir": "d", "synthetic": {"customers": 100}}},
                           base=tmp_path)
    assert cfg.labels.horizon_days == 30 and cfg.labels.activity_lookback_days == 365
    assert cfg.features.builders == ("rfm",)
    assert cfg.model.learning_rate == 0.1 and cfg.model.n_estimators == 10
    assert cfg.output.model_dir == tmp_path / "out/m"
    assert cfg.data.dir == tmp_path / "d" and cfg.data.synthetic.customers == 100
    assert cfg.to_dict()["output"]["model_dir"] == str(tmp_path / "out/m")


def test_with_overrides_ignores_none_values():
    cfg = with_overrides(Config(), training={"as_of": "2025-06-30", "n_cutoffs": None})
    assert cfg.training.as_of == "2025-06-30" and cfg.training.n_cutoffs == 15


@pytest.mark.parametrize(("raw", "message"), [
    ({"lables": {}}, r"unknown key 'lables' in the config file\. Did you mean 'labels'\?"),
    ({"labels": {"horizon_dayz": 30}},
     r"unknown key 'horizon_dayz' in \[labels\]\. Did you mean 'horizon_days'\?"),
    ({"training": {"n_cutof": 3}}, r"Did you mean 'n_cutoffs'\?"),
    ({"data": {"dri": "x"}}, r"unknown key 'dri' in \[data\]\. Did you mean 'dir'\?"),
    ({"data": {"synthetic": {"seeed": 1}}}, r"\[data\.synthetic\]\. Did you mean 'seed'\?"),
    ({"data": {"transactions": {**TX, "amout": "dollars"}}},
     r"unknown key 'amout' in \[data\.transactions\]\. Did you mean 'amount'\?"),
    ({"data": {"transactions": {**TX, "encodng": "latin-1"}}}, r"Did you mean 'encoding'\?"),
])
def test_unknown_keys_suggest_the_nearest_valid_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw, base=Path("/base"))


def test_typo_in_the_toml_file_is_reported(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL.replace("amount =", "amout ="), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"Did you mean 'amount'\?.*Valid keys: options path, "
                                          r"query, table, sep, encoding, date_format, na_values, "
                                          r"missing_ids; columns customer_id, ts, amount"):
        load_config(path)


def test_missing_file_and_invalid_toml_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[labels\nhorizon_days = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize(("raw", "message"), [
    ({"labels": {"horizon_days": "90"}}, r"labels\.horizon_days must be an integer, got '90'"),
    ({"model": {"n_estimators": 1.5}}, r"model\.n_estimators must be an integer, got 1\.5"),
    ({"model": {"learning_rate": "fast"}}, r"learning_rate must be a number, got 'fast'"),
    ({"training": {"embargo": "yes"}}, r"embargo must be true or false, got 'yes'"),
    ({"features": {"builders": "rfm"}}, r"builders must be a list of strings, got 'rfm'"),
    ({"features": {"builders": ["rfm", 3]}}, r"builders must be a list of strings"),
    ({"model": {"calibration": 1}}, r"calibration must be a string, got 1"),
    ({"labels": 5}, r"\[labels\] must be a table \(section\), got 5"),
    ({"data": {"transactions": {**TX, "amount": 3}}},
     r"\[data\.transactions\] amount must name a column of your file \(a string\), got 3"),
])
def test_wrong_types_are_rejected(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw, base=Path("/base"))


def test_a_table_needs_exactly_one_of_path_or_query():
    with pytest.raises(ConfigError, match=r"\[data\.transactions\] needs exactly one of 'path'"):
        config_from_dict({"data": {"transactions": {"customer_id": "cust"}}})
    with pytest.raises(ConfigError, match="exactly one of"):
        config_from_dict({"data": {"transactions": {**TX, "query": "SELECT 1"}}})


def test_data_with_tables_but_without_transactions_is_rejected():
    with pytest.raises(ConfigError, match=r"configures tables but not \[data\.transactions\]"):
        config_from_dict({"data": {"feedback": {"path": "fb.csv", "csat": "score"}}})


# -------------------------------------------- types that once slipped through (regressions)

@pytest.mark.parametrize("raw", [{"labels": {"horizon_days": True}},
                                 {"model": {"learning_rate": True}}])
def test_booleans_are_rejected_for_numeric_settings(raw):
    with pytest.raises(ConfigError, match=r"must be .*, got True"):
        config_from_dict(raw)


def test_wrong_type_for_a_setting_that_defaults_to_none_is_rejected():
    with pytest.raises(ConfigError, match="max_customers_per_cutoff must be an integer, got 'lots'"):
        config_from_dict({"training": {"max_customers_per_cutoff": "lots"}})
    cfg = config_from_dict({"training": {"max_customers_per_cutoff": 500, "as_of": "2025-06-30"}})
    assert cfg.training.max_customers_per_cutoff == 500 and cfg.training.as_of == "2025-06-30"


@pytest.mark.parametrize(("raw", "message"), [
    ({"data": {"transactions": {"path": 5}}}, r"\[data\.transactions\] path must be a string"),
    ({"data": {"transactions": {**TX, "sep": 1}}}, r"\[data\.transactions\] sep must be a string"),
    ({"output": {"model_dir": 5}}, r"output\.model_dir must be a path \(a string\), got 5"),
])
def test_non_string_paths_and_options_raise_config_error(raw, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(raw, base=Path("/base"))


def test_a_table_given_as_a_string_raises_config_error():
    with pytest.raises(ConfigError, match=r"\[data\.transactions\] must be a section"):
        config_from_dict({"data": {"transactions": "orders.csv"}})


def test_misspelled_table_name_suggests_the_table():
    with pytest.raises(ConfigError, match=r"unknown key 'transaction' in \[data\]\. Did you mean "
                                          r"'transactions'\?"):
        config_from_dict({"data": {"transaction": TX}})


def test_tables_nested_under_data_tables_are_not_silently_ignored():
    raw = {"data": {"tables": {"transactions": {"path": "orders.csv"}}}}
    try:
        cfg = config_from_dict(raw, base=Path("/base"))
    except ConfigError:
        return  # refusing the key is fine
    assert not cfg.data.uses_default  # ... and so is honouring it


@pytest.mark.parametrize(("model", "message"), [
    ({"learning_rate": 0}, r"model\.learning_rate must be above 0, got 0"),
    ({"num_leaves": 1}, r"model\.num_leaves must be at least 2, got 1"),
    ({"max_depth": 0}, r"model\.max_depth must be at least 1, or -1 for no limit; got 0"),
    ({"max_depth": -2}, r"model\.max_depth must be at least 1, or -1"),
    ({"n_estimators": 0}, r"model\.n_estimators must be at least 1, got 0"),
    ({"early_stopping_rounds": 0}, r"model\.early_stopping_rounds must be at least 1"),
    ({"feature_fraction": 1.5}, r"model\.feature_fraction must be in \(0, 1\], got 1\.5"),
    ({"bagging_fraction": 0}, r"model\.bagging_fraction must be in \(0, 1\], got 0"),
])
def test_model_settings_out_of_range_are_rejected(model, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"model": model})


def test_max_depth_minus_one_lifts_the_limit_and_reaches_lightgbm():
    from churnmodel.modeling.candidates import LightGBMCandidate

    assert LightGBMCandidate(config_from_dict({}).model).params()["max_depth"] == 6
    free = config_from_dict({"model": {"max_depth": -1}}).model
    assert LightGBMCandidate(free).params()["max_depth"] == -1


def test_the_notebooks_test_settings_come_from_the_environment(monkeypatch, tmp_path):
    """Project.from_env maps CHURNMODEL_TREES / CHURNMODEL_CUTOFFS onto the config that
    notebook 03 trains with; a value that is not a whole number is one ConfigError."""
    import pytest

    from churnmodel.api import Project
    from churnmodel.errors import ConfigError

    for name in ("CHURNMODEL_CONFIG", "CHURNMODEL_AS_OF", "CHURNMODEL_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHURNMODEL_MODEL_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("CHURNMODEL_TREES", "40")
    monkeypatch.setenv("CHURNMODEL_CUTOFFS", "8")
    cfg = Project.from_env().config
    assert (cfg.model.n_estimators, cfg.model.early_stopping_rounds, cfg.training.n_cutoffs) == (
        40, 10, 8)
    monkeypatch.setenv("CHURNMODEL_TREES", "")
    monkeypatch.delenv("CHURNMODEL_CUTOFFS")
    default = Project.from_env().config
    assert default.model.n_estimators != 40 and default.training.n_cutoffs != 8
    monkeypatch.setenv("CHURNMODEL_CUTOFFS", "eight")
    with pytest.raises(ConfigError, match="CHURNMODEL_CUTOFFS='eight' is not a whole number"):
        Project.from_env()
