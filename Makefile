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

test: $(STAMP)
	$(PY) -m pytest -q tests

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests

demo: $(STAMP)
	$(PY) scripts/demo.py

lint: $(STAMP)
	$(VENV)/bin/ruff check alkdsr tests scripts benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
