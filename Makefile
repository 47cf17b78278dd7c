# churnmodel — every target calls the CLI or pytest; `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   := data/default/transactions.parquet
MODEL  := models/default/model.joblib
CONFIG ?=
CFG    := $(if $(CONFIG),--config $(CONFIG),)
AS_OF  ?=
SCORES ?= data/scores.parquet
CALLS  ?= 100
PORT   ?= 5001
FOLDS  ?= 3
CUSTOMERS ?= 1000000
SCALING ?= auto
ENGINE ?= duckdb

.DEFAULT_GOAL := help
.PHONY: help venv data train profile backtest score evaluate serve test check lint bench clean notebooks report

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install churnmodel with its pinned dependencies

$(DATA): | $(STAMP)
	$(BIN)/churnmodel data synth

data: $(STAMP) ## (re)generate the embedded synthetic data in data/default
	$(BIN)/churnmodel data synth

train: $(STAMP) $(if $(CONFIG),,$(DATA)) ## train on the default data (or CONFIG=file.toml), export to models/<project> (default: models/default)
	$(BIN)/churnmodel train $(CFG) $(if $(AS_OF),--as-of $(AS_OF),)

profile: $(STAMP) $(if $(CONFIG),,$(DATA)) ## history, one-time buyers, gaps, base rate per horizon, ladder (CONFIG=, AS_OF=)
	$(BIN)/churnmodel profile $(CFG) $(if $(AS_OF),--as-of $(AS_OF),)

backtest: $(STAMP) $(if $(CONFIG),,$(DATA)) ## retrain as of FOLDS=3 dates 3 months apart, compare every candidate
	$(BIN)/churnmodel backtest $(CFG) $(if $(AS_OF),--as-of $(AS_OF),) --folds $(FOLDS)

score: $(STAMP) ## flag at-risk customers with drivers and the call list (AS_OF=YYYY-MM-DD, SCORES=file, CALLS=N) with models/<project>
	$(BIN)/churnmodel score $(CFG) $(if $(AS_OF),--as-of $(AS_OF),) --out $(SCORES) --overwrite --call-list $(CALLS)

evaluate: $(STAMP) ## how the score file SCORES= turned out: realised once its horizon has run, estimated before (AS_OF=)
	$(BIN)/churnmodel evaluate $(CFG) --scores $(SCORES) $(if $(AS_OF),--as-of $(AS_OF),)

serve: $(STAMP) ## serve the registered champion over REST on 127.0.0.1 (PORT=5001; after make train)
	$(BIN)/churnmodel serve $(CFG) --port $(PORT)

report: $(STAMP) ## write reports/<project>/churn_report.html with models/<project> (AS_OF=YYYY-MM-DD; trains first if needed)
	@$(if $(CONFIG),true,test -f $(MODEL)) || $(MAKE) train
	$(BIN)/churnmodel report $(CFG) $(if $(AS_OF),--as-of $(AS_OF),)

# jupyter execute runs each notebook in notebooks/ and saves nothing: the files stay output-free.
NOTEBOOKS := $(sort $(wildcard notebooks/0*.ipynb))
NB_ENV = $(strip CHURNMODEL_ROOT=$(CURDIR) $(if $(CONFIG),CHURNMODEL_CONFIG=$(abspath $(CONFIG))) $(if $(AS_OF),CHURNMODEL_AS_OF=$(AS_OF)))
notebooks: $(STAMP) ## run the four notebooks top to bottom (CONFIG=file.toml for your project; trains first if needed)
	@$(if $(CONFIG),$(MAKE) train,test -f $(MODEL) || $(MAKE) train)
	$(NB_ENV) $(BIN)/jupyter execute --kernel_name=python3 $(NOTEBOOKS)

# Chromium renders the report in tests/e2e/test_report.py: scripts/ensure-chromium installs it
# when it can (root or sudo); otherwise those tests skip with how to install it (fail under CI=true).
# PostgreSQL backs the team's MLflow server in tests/e2e/test_team_server.py: scripts/ensure-postgresql
# installs it likewise; without it that test fails and says how to install it.
# Java runs Spark in tests/spark: scripts/ensure-java installs it the same way (those tests
# fail, saying how to install it, where it cannot).
test: $(STAMP) ## run the whole test suite (unit, data, model quality, CLI end to end, Spark, team server)
	@scripts/ensure-chromium || true
	@scripts/ensure-postgresql || true
	@scripts/ensure-java || true
	$(BIN)/python -m pytest -n 2

check: $(STAMP) ## the fast layers only (unit, data, model behaviour, doctests; under 2 min)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

bench: $(STAMP) ## time and size every stage at CUSTOMERS=1000000 (ENGINE=spark: Spark beside DuckDB), write bench/results.json
	$(BIN)/python -m churnmodel.bench --customers $(CUSTOMERS) --scaling $(or $(SCALING),none) --engine $(ENGINE) --events $(or $(EVENTS),thin)

lint: $(STAMP) ## ruff over src and tests, mypy over src
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean: ## remove generated data, models and the virtual environment
	rm -rf $(VENV) data/default models/default reports/default .pytest_cache mlflow.db mlruns
