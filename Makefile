# tenantmail — two commands set everything up: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-sqlite test-postgres test-browser console-screenshots api-test lint bench openapi lock clean

# the development environment: runtime + the sandbox extra + test tools (requirements-dev.lock)
$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## run: the service with the embedded default (SQLite + Postmark sandbox + local Route 53)
run: $(STAMP)
	$(BIN)/tenantmail serve

## test: the whole suite, on SQLite and on PostgreSQL (skipped with a notice when unreachable, never under CI=true),
## in TEST_WORKERS processes (pytest-xdist; 0: one process); PYTEST_ARGS: more pytest arguments
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

## test-unit: the rules without I/O — domain, and services over in-memory fakes (tests/fakes.py); seconds
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

test-sqlite: $(STAMP)
	TENANTMAIL_TEST_BACKENDS=sqlite $(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	TENANTMAIL_TEST_BACKENDS=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)

## test-browser: the console in Debian's chromium (Playwright, JavaScript off, axe-core), both databases
test-browser: $(STAMP)
	$(BIN)/python -m pytest tests/browser -q $(PYTEST_ARGS)

## console-screenshots: regenerate docs/console/*.png (shown in docs/console.md) by running the browser flows
console-screenshots: $(STAMP)
	TENANTMAIL_TEST_BACKENDS=sqlite TENANTMAIL_CONSOLE_SCREENSHOTS=docs/console $(BIN)/python -m pytest tests/browser -q

## api-test: the Bruno collection (api-test/) against the running `make run`; installs the pinned
## Bruno CLI into api-test/node_modules on first use. API_TEST_ARGS: e.g. --env deployment, -- job
api-test:
	$(PYTHON) api-test/run.py $(API_TEST_ARGS)

## bench: every benchmark; figures go to docs/performance.md
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

## openapi: regenerate docs/openapi.json from the code
openapi: $(STAMP)
	$(BIN)/python -m tenantmail.entrypoints.api.openapi_export docs/openapi.json

## lock: re-resolve the pinned dependencies: requirements.lock (runtime, what production installs)
##       and requirements-dev.lock (runtime + sandbox + test, the same runtime pins)
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q . \
	  && (echo "# Runtime dependencies only (what production installs; Dockerfile, deploy/install-runtime.sh)."; \
	      echo "# Regenerate with \`make lock\`."; \
	      .lockenv/bin/pip freeze --exclude tenantmail) > requirements.lock \
	  && .lockenv/bin/pip install -q -c requirements.lock '.[sandbox,test]' setuptools wheel \
	  && (echo "# Runtime + the sandbox extra + test tools (make run, make test, CI). Regenerate with \`make lock\`."; \
	      .lockenv/bin/pip freeze --all --exclude tenantmail --exclude pip) > requirements-dev.lock \
	  && rm -rf .lockenv

clean:
	rm -rf $(VENV) var .pytest_cache
