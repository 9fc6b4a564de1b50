# `make test` and `make demo` set up what they need: a virtual environment in
# .venv with fastrelu installed in editable mode.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo bench docs venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,cuda,examples,dask,bf16]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -n auto

demo: $(STAMP)
	$(PY) perf/bench.py --quick --no-save
	$(PY) examples/train_mlp.py --dataset digits --epochs 30

# The documentation site (MkDocs): --strict fails on a broken link or a
# missing API reference; the result is in site/.
docs: $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: $(STAMP)
	$(PY) perf/bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site dist build
