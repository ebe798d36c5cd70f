# tornado_h1 — everyday commands. Needs only python3 (3.11 preferred), pip, make.
#
#   make demo       run the demo server with tornado_h1 swapped in
#   make test       ruff, mypy --strict, vermin, the docs, Tornado's own
#                   suite, the matrix of Tornado releases, pytest
#   make lint | typecheck | vermin | compat | matrix | pytest | docs
#   make clean       remove build output and caches (keeps .venv)
#   make distclean   clean, and remove .venv too
#
# The virtualenv lives in .venv and is (re)installed only when pyproject.toml
# changes; the stamp files below record that.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
COV_FAIL_UNDER ?= 95

# Stamps: one per set of extras. `dev` is a superset of `test`.
STAMP_TEST := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev

.NOTPARALLEL:
.PHONY: help demo test lint typecheck vermin compat matrix strict-modes pytest docs clean distclean

help:
	@echo "make demo   - serve the demo app on http://127.0.0.1:8888/ using tornado_h1"
	@echo "make test   - ruff, mypy --strict, vermin, Tornado's suite, pytest + coverage"
	@echo "make lint | typecheck | vermin | compat | pytest | docs | clean | distclean"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_TEST)

demo: $(STAMP_TEST)
	$(BIN)/tornado-h1 serve

# The order matters: CI reads the last line of output, which must be
# pytest's summary, so pytest runs last and prints its coverage table
# (pytest-cov) before that line. .NOTPARALLEL keeps that order under -j.
test: lint typecheck vermin docs compat matrix strict-modes pytest

lint: $(STAMP_DEV)
	@echo "== ruff"
	@$(BIN)/ruff check tornado_h1 tests

typecheck: $(STAMP_DEV)
	@echo "== mypy --strict"
	@$(BIN)/mypy --strict

vermin: $(STAMP_DEV)
	@echo "== vermin (tornado_h1 must run on Python 3.9)"
	@$(BIN)/vermin -t=3.9- --no-tips --violations tornado_h1

compat: $(STAMP_TEST)
	@echo "== Tornado's own test suite with tornado_h1 installed"
	@$(BIN)/python -m tornado_h1.compat
	@echo "== the same, with write-behind holding every response it may"
	@$(BIN)/python -m tornado_h1.compat --always-hold

# One virtualenv per Tornado release under .matrix/ (made once, then reused;
# about 2.5 minutes in all). Writes compat/matrix.md and .matrix/matrix.json.
matrix: $(STAMP_TEST)
	@echo "== Tornado 6.2 to 6.6.1, each release's own suite with tornado_h1"
	@$(BIN)/python compat/matrix.py $(MATRIX_ARGS)

# As Tornado's own tox does: no assert may carry a check (-O), and no
# bytes/str mix-up may pass silently (-bb).
strict-modes: $(STAMP_TEST)
	@echo "== python -O and python -bb: the wire core and the security suite"
	@$(BIN)/python -O -m pytest -q -p no:cacheprovider --no-cov -W "ignore::pytest.PytestConfigWarning" tests/test_wire.py tests/security
	@$(BIN)/python -bb -m pytest -q -p no:cacheprovider --no-cov tests/test_wire.py tests/security

pytest: $(STAMP_TEST)
	@echo "== pytest"
	@$(BIN)/python -m pytest -p no:cacheprovider \
		--cov=tornado_h1 --cov-branch --cov-report=term-missing \
		--cov-fail-under=$(COV_FAIL_UNDER)

# -n: every cross-reference must resolve (Tornado's and Python's names are
# resolved offline, by importing them: docs/_ext/offline_xrefs.py); -W: any
# warning fails. Pages generated from the code are written by docs/conf.py.
docs: $(STAMP_DEV)
	@echo "== sphinx-build -n -W (the documentation)"
	@$(BIN)/sphinx-build -n -W --keep-going -q -b html docs docs/_build/html

clean:
	rm -rf build dist *.egg-info docs/_build docs/reference docs/_generated htmlcov .coverage .coverage.* \
		.mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune \
		-exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
