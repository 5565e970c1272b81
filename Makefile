# Two commands: `make run` serves the app on http://localhost:8501, `make test` runs every test.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# Two pytest workers: every browser test starts its own app on a free port with its own database, and
# each worker starts its own PostgreSQL and S3 servers, so tests do not share state.
PYTEST_ARGS ?= -n 2

.PHONY: run test lint format bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null || { echo "make: $(PY) not found; install Python 3.11 (or make PY=python3.x)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/python -m store setup
	$(BIN)/python -m streamlit run app.py --server.port $(PORT) --browser.gatherUsageStats false

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed-dev
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
