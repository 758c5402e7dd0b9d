# Relance. `make run` starts everything on the embedded SQLite store (HOST and PORT from the
# environment, default 127.0.0.1:8000); `make test` runs the suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PRISM := tools/prism/node_modules/.bin/prism
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test test-setup browser lint typecheck bench clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || { \
	  echo "python3 -m venv unavailable: falling back to virtualenv"; \
	  $(PY) -m pip install -q --user --break-system-packages virtualenv && $(PY) -m virtualenv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

run: setup
	$(BIN)/relance db upgrade
	$(BIN)/relance serve --host $(HOST) --port $(PORT)

$(PRISM): tools/prism/package.json tools/prism/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tools/prism --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the Prism contract test will be skipped (required in CI)"; fi

# The browser tests drive Debian's Chromium (Playwright cannot download a browser here).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium not found and not root: the browser tests will be skipped (required in CI)"; fi

test-setup: setup $(PRISM) browser

test: test-setup
	$(BIN)/pytest

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) tools/prism/node_modules var .pytest_cache .mypy_cache .ruff_cache
