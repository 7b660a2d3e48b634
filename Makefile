# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint messages clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

## Run the server on SQLite under ./data with demo data; prints the URL and how to sign in.
run: $(INSTALLED)
	$(BIN)/diemcau serve --demo

## Lint, type-check and run the whole suite (SQLite, and PostgreSQL when configured).
test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-extract translatable strings and merge them into the Vietnamese catalog.
messages: $(INSTALLED)
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k N_ -o web/locale/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --width 100 -i web/locale/messages.pot -d web/locale -l vi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
