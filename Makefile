# Tritium: `make demo` and `make test` on a fresh machine (they create .venv when missing).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch that this machine has on disk; a looser spec would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
JOBS ?= $(shell $(PYTHON) -c "import os; print(max(1, min(4, len(os.sched_getaffinity(0)))))")

.PHONY: demo test test-gpu lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.deps: pyproject.toml setup.py | $(PY)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.deps
	$(PY) examples/demo.py

# Pytest's own exit codes pass through: 5 (no tests collected) fails the target like any failure.
test: $(VENV)/.deps
	$(PY) -m pytest -q -n $(JOBS) tests

test-gpu:
	$(PYTHON) -m pytest -q -m gpu tests

lint: $(VENV)/.deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.deps
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
