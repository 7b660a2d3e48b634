# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

NODE_TOOLS := node_modules/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint messages clean browser system

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

## What WeasyPrint (the minutes' PDF/A) needs from the system: Pango and its FreeType backend.
## Installed when missing and run as root; otherwise stop and say what to run.
system:
	@if ! ldconfig -p | grep -q 'libpango-1.0.so.0' || ! ldconfig -p | grep -q 'libpangoft2-1.0.so.0'; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0; \
	  else \
	    echo "Pango is missing (WeasyPrint needs it). Run: sudo apt-get install -y libpango-1.0-0 libpangoft2-1.0-0"; exit 1; \
	  fi; \
	fi

## Run the server on SQLite under ./data with demo data; prints the URL and how to sign in.
run: $(INSTALLED) system
	$(BIN)/diemcau serve --demo

$(NODE_TOOLS): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NODE_TOOLS)

## Debian's Chromium for the browser tests (and NSS's certutil, to make it trust a test CA):
## installed when missing and run as root; otherwise stop and say what to run (the browser
## tests never skip).
browser:
	@if [ ! -x $(CHROMIUM) ] || ! command -v certutil >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libnss3-tools; \
	  else \
	    echo "Chromium or certutil is missing. Run: sudo apt-get install -y chromium libnss3-tools   (then make test)"; exit 1; \
	  fi; \
	fi
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "The browser tests need root (a loopback-only network namespace). Run: sudo make test"; exit 1; \
	fi

## Lint, type-check (Python and the browser modules) and run the whole suite.
test: $(INSTALLED) $(NODE_TOOLS) system browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	node_modules/.bin/tsc -p jsconfig.json
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-extract translatable strings and merge them into the Vietnamese catalog.
messages: $(INSTALLED)
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -k N_ -o web/locale/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --width 100 -i web/locale/messages.pot -d web/locale -l vi

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache test-artifacts
