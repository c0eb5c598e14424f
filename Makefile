# The whole interface: `make run`, `make test`, `make check`. CI calls `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test check install install-dev demo bench clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Podium needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[test,dev]'
	@touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "Podium needs Node.js and npm to install its browser packages"; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed web/node_modules/.installed

install-dev: install $(VENV)/.installed-dev

## Run Podium on http://127.0.0.1:8080 with an embedded Valkey (data in ./var); Ctrl-C stops it.
run: install
	$(VENV)/bin/podium serve

## The whole test suite (real Valkey, real sockets, real Chromium).
test: install-dev
	$(VENV)/bin/pytest -n 3 --dist worksteal

## Lint and types.
check: install-dev
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/ruff format --check server tests bench
	$(VENV)/bin/mypy

## Load scenarios against a local Podium (results go in docs/performance.md).
bench: install-dev
	$(PY) -m bench.presence_join

clean:
	rm -rf $(VENV) web/node_modules .mypy_cache .ruff_cache .pytest_cache
