# `make run` brings the service up on the embedded default; `make test` runs the suite.
# Each target creates .venv and installs what it needs, so each works alone on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test soak lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,sandbox]'
	touch $(STAMP)

run: $(STAMP)
	@$(BIN)/wfctl dev

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/pytest -q -p no:cacheprovider

# The long randomized failure runs (seeded storms, refusals and SIGKILLs over 30 resources),
# the longest crash and restart runs, and the 20,000-resource apply.
soak: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -m soak

bench: $(STAMP)
	$(BIN)/python bench/pipelines.py

clean:
	rm -rf $(VENV) .data
