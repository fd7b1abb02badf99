# The two commands of the README: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export COMMEX_DATA_DIR ?= $(CURDIR)/.commex

.PHONY: run test check lint format system-deps bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## Start the exchange server on the embedded SQLite database (demo data on first start).
run: $(STAMP)
	$(BIN)/commex serve --demo

## Install what the tests need (PostgreSQL, tshark, Chromium, wrk), then check and run every test:
## the bulk in TEST_WORKERS processes (pytest-xdist; twice the cores, since most e2e tests
## wait on servers they started; an idle process takes its next test from a busy one's share),
## then the tests marked `serial` (they time a real clock) one at
## a time, with nothing else running beside them.
## Both passes always run; either failing fails `make test`. Bytecode caches are written even
## where the environment turns them off (PYTHONDONTWRITEBYTECODE): the suite starts hundreds of
## `commex` processes, each of which would compile the package again.
TEST_WORKERS ?= 4
## The system set-up (mostly waiting on apt and PostgreSQL) and the checks (mostly CPU) run
## side by side.
test: $(STAMP)
	@$(MAKE) --no-print-directory -j2 system-deps check
	@unset PYTHONDONTWRITEBYTECODE; status=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not serial" || status=$$?; \
	echo "== the tests that time a real clock, alone =="; \
	$(BIN)/python -m pytest -m serial || status=$$?; \
	exit $$status

system-deps:
	bash scripts/test-setup

## Lint, format check, strict typing and the layer contracts.
check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## Every benchmark; `bench http` needs wrk, which the system set-up installs.
bench: $(STAMP) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .commex .pytest_cache .mypy_cache .ruff_cache
