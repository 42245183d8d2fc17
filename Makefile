# Two commands matter: `make repro` (set up, then run the whole pipeline) and
# `make test`. Both create .venv from the pinned requirements when it is missing
# or older than the pins.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `make test`: the whole suite, one pytest worker per core. `make check`: mypy (about 1 s warm), ruff
# (lint and format), then the tests not marked slow, for the edit-run loop (under a minute on 2 cores).
# A worker takes a whole module (a test class) at a time, in the order tests/conftest.py sorts them: the
# modules that hold a slow test first, so the last ones to start are short and both workers end together.
# bench/feedback.py times both from these two lines.
PYTEST_ARGS := -q -n auto --dist loadscope --no-loadscope-reorder
CHECK_ARGS  := -q -n auto --dist loadscope --no-loadscope-reorder --quick

# Some machines set PYTHONDONTWRITEBYTECODE: then every process the tests start compiles the project's
# sources again, and pytest rewrites every test module's asserts again on every run.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup setup-gpu repro test check lint typecheck bench clean-venv

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (hyperlab needs Python 3.11)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# NVIDIA GPU (CUDA 12): JAX's CUDA plugin at the locked JAX version (pyproject's `gpu` extra);
# scripts/gpu_check.py then compares a tiny pipeline on the GPU with the CPU.
setup-gpu: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-build-isolation -e '.[gpu]'

# Stage commands call `python`: the venv's, whether or not it is activated.
repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: lint
	$(BIN)/python -m pytest $(CHECK_ARGS)

lint: typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over src/, configured in pyproject.toml ([tool.mypy])
typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@for script in $(wildcard bench/*.py); do echo "== $$script" >&2; $(BIN)/python $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)
