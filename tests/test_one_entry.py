"""Adding an activation is one entry in definitions.BUILTIN: a copy of the
package with a toy activation appended to its table (its formulas, NumPy
references and true value, nothing else) has it in the public API, inside
@numba.njit, in fastrelu.torch, in the accuracy measure's cases and in the
API reference."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# softsign, x / (1 + |x|): written as an activation is added, at the end of
# definitions.py.
ENTRY = '''

def softsign(x):
    return x / (1.0 + abs(x))


def softsign_backward(g, x):
    d = 1.0 + abs(x)
    return g / (d * d)


def softsign_ref(x):
    return x / (1 + np.abs(x))


def softsign_backward_ref(g, x):
    d = 1 + np.abs(x)
    return g / (d * d)


def softsign_true(mp, x):
    return x / (1 + abs(x)), 1 / (1 + abs(x)) ** 2


BUILTIN["softsign"] = Definition(
    "softsign", softsign, softsign_backward, softsign_ref, softsign_backward_ref,
    torch_equivalent="F.softsign", true=softsign_true, torch_class="Softsign",
    example=([-0.6667, 0.0, 0.6], [0.1111, 1.0, 0.16]))
'''

# Run with the copy first on sys.path; prints what it found as JSON.
CHECKS = '''
import doctest, importlib.util, json, sys
sys.path.insert(0, COPY)
import numpy as np
import fastrelu

assert fastrelu.__file__.startswith(COPY), fastrelu.__file__
found = {}
x, g = np.array([-2.0, 0.0, 1.5, -0.25]), np.array([1.0, -2.0, 0.5, 3.0])
expected, expected_grad = x / (1 + abs(x)), g / (1 + abs(x)) ** 2
for backend in ("numpy", "numba", "numba-ufunc"):
    np.testing.assert_allclose(fastrelu.softsign(x, backend=backend), expected, rtol=1e-15)
    np.testing.assert_allclose(fastrelu.softsign_backward(g, x, backend=backend), expected_grad,
                               rtol=1e-15)
    np.testing.assert_allclose(fastrelu.softsign.backward(g, x, backend=backend), expected_grad,
                               rtol=1e-15)
found["api"] = ["softsign" in fastrelu.activations(), "softsign" in fastrelu.__all__,
                "softsign_backward" in fastrelu.__all__]
doc = fastrelu.softsign.__doc__
test = doctest.DocTestParser().get_doctest(doc, {}, "softsign", None, 0)
found["example"] = [">>>" in doc, doctest.DocTestRunner().run(test).failed == 0]

import numba
from fastrelu import jit as frj

@numba.njit
def inside(g, x):
    return frj.softsign(x[0]), frj.softsign_backward(g[0], x[0]), fastrelu.softsign(x), \\
        fastrelu.softsign_backward(g, x)

a, b, y, dx = inside(g, x)
found["njit"] = [bool(a == expected[0]), bool(b == expected_grad[0]), bool(np.allclose(y, expected)),
                 bool(np.allclose(dx, expected_grad))]

sys.path.insert(0, COPY + "/perf")
import accuracy
truth = accuracy.true_values("softsign", x, g)
found["accuracy"] = ["softsign" in accuracy.activations(), "softsign" in accuracy.ACTIVATIONS,
                     bool(np.allclose(truth[0], expected, rtol=1e-15)),
                     bool(np.allclose(truth[2], expected_grad, rtol=1e-15))]

spec = importlib.util.spec_from_file_location("reference_hook", HOOK)
hook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hook)
page = hook.expand(hook.MARKER).split("\\n")
found["reference"] = ["::: fastrelu.softsign" in page, "::: fastrelu.softsign_backward" in page]

if TORCH:
    import torch
    import fastrelu.torch as frt
    import fastrelu.torch.functional as FF

    t = torch.tensor(x, requires_grad=True)
    y = frt.Softsign()(t)
    y.backward(torch.tensor(g))
    torch.testing.assert_close(y, torch.nn.functional.softsign(t))
    torch.testing.assert_close(t.grad, torch.tensor(expected_grad))
    torch.testing.assert_close(FF.softsign(t), torch.nn.functional.softsign(t))
    found["torch"] = ["Softsign" in frt.__all__, frt.DROP_INS.get(torch.nn.Softsign) is frt.Softsign,
                      "softsign" in frt.supported(), repr(frt.Softsign()) == "Softsign()"]
print(json.dumps(found))
'''


@pytest.fixture(scope="module")
def copy_with_softsign(tmp_path_factory):
    """A copy of fastrelu (and of the accuracy measure) whose table has softsign."""
    where = tmp_path_factory.mktemp("one_entry")
    shutil.copytree(ROOT / "fastrelu", where / "fastrelu",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    (where / "perf").mkdir()
    for name in ("accuracy.py", "as_cpu.py"):
        shutil.copy(ROOT / "perf" / name, where / "perf" / name)
    definitions = where / "fastrelu" / "definitions.py"
    definitions.write_text(definitions.read_text() + ENTRY)
    return where


def run_checks(where, torch):
    script = (f"COPY = {str(where)!r}\nHOOK = {str(ROOT / 'docs' / 'hooks' / 'reference.py')!r}\n"
              f"TORCH = {torch!r}\n" + textwrap.dedent(CHECKS))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(where / "numba-cache")}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=where,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_one_entry_makes_the_public_api_njit_accuracy_and_reference(copy_with_softsign):
    pytest.importorskip("mpmath")
    found = run_checks(copy_with_softsign, torch=False)
    assert found == {"api": [True] * 3, "example": [True] * 2, "njit": [True] * 4,
                     "accuracy": [True] * 4, "reference": [True] * 2}


def test_one_entry_makes_the_torch_module_and_functional(copy_with_softsign):
    pytest.importorskip("mpmath")
    pytest.importorskip("torch")
    found = run_checks(copy_with_softsign, torch=True)
    assert found["torch"] == [True] * 4


def test_an_activation_without_a_true_value_is_an_error(monkeypatch):
    import dataclasses

    import fastrelu

    monkeypatch.syspath_prepend(str(ROOT / "perf"))
    import accuracy  # perf/accuracy.py

    builtin = fastrelu.definitions.BUILTIN
    monkeypatch.setitem(builtin, "untrue", dataclasses.replace(builtin["relu"], name="untrue",
                                                               true=None))
    with pytest.raises(ValueError, match="no true value .* for untrue"):
        accuracy.activations()
