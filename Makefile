# Two commands on a fresh machine with Python 3.11+ and make:
#   make demo   serve the demo toolbox at http://127.0.0.1:8000/arcgis/rest/services
#   make test   run the whole test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench bench-query screenshots clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,clients,postgres,browser,scaleout,s3]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/opengp serve --demo --data-dir opengp-data

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

screenshots: $(STAMP)
	OPENGP_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/browser

bench: $(STAMP)
	$(BIN)/python bench/run.py --quick

bench-query: $(STAMP)
	$(BIN)/python bench/jobs_query.py

clean:
	rm -rf $(VENV) opengp-data .pytest_cache
