# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench docs lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/physlearn demo

# Two workers: the examples run as scripts and as notebooks, the docs build once.
test: $(STAMP)
	$(PY) -m pytest -q -n 2

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/run.py

# The site in docs/_build/html, warnings as errors, every example executed in fast mode.
docs: $(STAMP)
	$(PY) -m sphinx -b html -W --keep-going -E -j auto docs docs/_build/html

lint: $(STAMP)
	$(VENV)/bin/ruff check physlearn systems derivations tests benchmarks examples

clean:
	rm -rf $(VENV) runs .pytest_cache docs/_build docs/gallery docs/api/generated
