# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   serve the demo toolbox at http://127.0.0.1:8000/arcgis/rest/services
#   make test   run the whole test suite, then the HTTP suite again on a scale-out deployment
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVER_STAMP := $(VENV)/.server

.PHONY: demo test venv bench bench-query screenshots clean

# The server alone (what the demo needs), then the test and client extras on top (make test)
$(SERVER_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(SERVER_STAMP)

$(STAMP): $(SERVER_STAMP)
	$(BIN)/pip install -q -e '.[test,clients,postgres,browser,scaleout,s3]'
	touch $(STAMP)

venv: $(STAMP)

# make demo PORT=8080 (or OPENGP_PORT=8080 make demo) for another port than 8000
demo: $(SERVER_STAMP)
	$(BIN)/opengp serve --demo --data-dir opengp-data $(if $(PORT),--port $(PORT))

# The second pass runs the HTTP suite (tests/api) against PostgreSQL + RabbitMQ, two API
# servers behind a round-robin proxy and two Celery workers (tests/scaleout.py), without the
# tests about the local executor (marker local_only).  Both passes run; either failing fails.
SCALEOUT_TESTS ?= tests/api tests/clients/test_arcgis_client.py tests/clients/test_owslib.py
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS); first=$$?; \
	echo "== the HTTP suite again, on a scale-out deployment (OPENGP_TEST_DEPLOYMENT=scaleout)"; \
	OPENGP_TEST_DEPLOYMENT=scaleout $(BIN)/python -m pytest $(PYTEST_ARGS) -m "not local_only" $(SCALEOUT_TESTS); \
	second=$$?; [ $$first -eq 0 ] && [ $$second -eq 0 ]

screenshots: $(STAMP)
	OPENGP_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/browser

bench: $(STAMP)
	$(BIN)/python bench/run.py --quick

bench-query: $(STAMP)
	$(BIN)/python bench/jobs_query.py

clean:
	rm -rf $(VENV) opengp-data .pytest_cache
