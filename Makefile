# twotier — the two commands that matter: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000
# Test processes (pytest-xdist); each has its own database. `PYTEST_WORKERS=0 make test` runs
# in one process. Whole files go to one worker so module-scoped servers start once.
PYTEST_WORKERS ?= auto
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install serve test test-sqlite test-postgres contract lint fmt migrate bench lock openapi clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/twotier serve --demo --port $(PORT)

test: install
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

test-postgres: install
	TWOTIER_TEST_DATABASE_URL=$${TWOTIER_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test} \
		$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The API contract checked by Schemathesis against a served demo world, once per principal
# (contract/schemathesis.toml). TWOTIER_CONTRACT_DATABASE_URL=postgresql+asyncpg://... for
# PostgreSQL (default: a temporary SQLite file).
contract: install
	$(BIN)/python contract/run.py $(CONTRACT_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/no_local_imports.py
	$(BIN)/python scripts/import_cycles.py

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	$(BIN)/twotier db upgrade

openapi: install
	$(BIN)/python -m twotier.openapi > openapi.json

# The small benchmark (a few minutes; BENCHMARKS.md has the full runs): a fresh database on
# BENCH_POSTGRES_URL's server (default: postgres@127.0.0.1:5432), 10,000 customers, the hot
# reads side by side with the bare app; then the principal lookup and audit writes
# (BENCH_DATABASE_URL=postgresql+asyncpg://... for those on PostgreSQL; default SQLite).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/principal_lookup.py $(BENCH_DATABASE_URL)
	$(BIN)/python bench/audit_write.py $(BENCH_DATABASE_URL)

# Re-resolve the pinned versions after changing the ranges in pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^twotier' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
