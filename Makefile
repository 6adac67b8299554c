# Two commands do all the set-up on a fresh clone (each creates .venv/ first if needed):
#   make demo   - the main job: train ALKDNet x4 on an embedded dataset, offline, and evaluate it
#   make test   - the test suite
# Both are idempotent: the environment is rebuilt only when setup.py or this file changes.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.alkdsr-installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
BASICSR_PIN := basicsr==1.4.2

.PHONY: env test test-slow demo lint clean

env: $(STAMP)

$(STAMP): setup.py Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q --no-build-isolation $(BASICSR_PIN)
	$(PY) -m pip install -q --no-build-isolation -e '.[dev]'
	touch $(STAMP)

# One pytest worker per CPU, taking tests from each other when idle (the longest file alone would otherwise
# end the run on one core): most of the suite's time is Python starting torch and BasicSR in subprocesses,
# which two cores do side by side. tests/conftest.py gives each worker one torch thread, so that the workers
# do not fight over the cores.
PYTEST := $(PY) -m pytest -q -n auto --dist worksteal

test: $(STAMP)
	$(PYTEST) tests

test-slow: $(STAMP)
	$(PYTEST) -m slow tests

demo: $(STAMP)
	$(PY) scripts/demo.py

# ruff, and import-linter's contract in pyproject.toml: imports run downwards only (README: Where things live)
lint: $(STAMP)
	$(VENV)/bin/ruff check alkdsr tests scripts benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info
