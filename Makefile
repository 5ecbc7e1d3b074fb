# wacast: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev migrate demo worker bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## run: the whole system on embedded SQLite (./data/wacast.db) with the demo project
run: install
	$(BIN)/wacast migrate
	$(BIN)/wacast demo
	$(BIN)/wacast serve

## test: the whole suite (PostgreSQL too when WACAST_TEST_DATABASE_URL is set)
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: install
	$(BIN)/wacast migrate

demo: install
	$(BIN)/wacast migrate
	$(BIN)/wacast demo

worker: install
	$(BIN)/wacast worker

bench: install-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
