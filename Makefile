# `make test` and `make demo` set up what they need: a virtual environment in
# .venv with fastrelu installed in editable mode.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-slow test-all demo bench docs venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,cuda,examples,dask,bf16]"
	touch $(STAMP)

venv: $(STAMP)

# The fast tier: every test but those marked slow.
test: $(STAMP)
	$(PY) -m pytest -q -n auto -m "not slow"

# The slow tier: the long checks (soak, wheel install, inductor, cold
# caches, threading layers), the accuracy and PyTorch comparisons once more
# as an AVX2 machine (perf/as_cpu.py), and the planted bugs that the fast
# tier must catch (tests/mutations.py).  Leaves out, as AVX2: inductor's
# compile of the 13-layer test model, whose bias gradients come out wrong,
# differently from run to run, when ATEN_CPU_CAPABILITY=avx2 runs on an
# AVX-512 CPU (with torch.nn's activations, or fewer layers, they do not).
test-slow: $(STAMP)
	$(PY) -m pytest -q -n auto -m slow
	$(PY) perf/as_cpu.py avx2 -- $(PY) -m pytest -q -n auto -p no:cacheprovider \
	    -m "not slow" tests/test_accuracy.py tests/test_family.py tests/test_torch.py \
	    tests/test_torch_module_path.py tests/test_gated.py
	$(PY) tests/mutations.py --jobs 2

test-all: test test-slow

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
