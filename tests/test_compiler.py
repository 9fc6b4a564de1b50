"""fastrelu._compiler: the options fastrelu's own loops compile with."""

import re

import numba
import numpy as np
import pytest

from fastrelu import _compiler, _config, _source

WIDTH = f'"prefer-vector-width"="{_config.PREFER_VECTOR_BITS}"'


def _ir(dispatcher):
    return "\n".join(dispatcher.inspect_llvm().values())


def _loop(x, out):
    for i in range(x.size):
        out[i] = x[i] * 2.0


def _parallel_loop(x, out):
    for i in numba.prange(x.size):
        out[i] = x[i] * 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loops_get_the_vector_width(dtype):
    x = np.arange(100, dtype=dtype)
    loop = _compiler.njit(_loop, wide_vectors=True)
    out = np.empty_like(x)
    loop(x, out)
    np.testing.assert_array_equal(out, 2 * x)
    assert WIDTH in _ir(loop)


def test_prange_bodies_get_the_vector_width(monkeypatch):
    # The outlined prange body is lowered and optimised apart, then inlined
    # into a wrapper Numba writes itself: its vectors show the width it got.
    monkeypatch.setattr(_config, "PREFER_VECTOR_BITS", 128)
    loop = _compiler.njit(_parallel_loop, parallel=True, wide_vectors=True)
    x = np.arange(1000.0)
    out = np.empty_like(x)
    loop(x, out)
    np.testing.assert_array_equal(out, 2 * x)
    ir = _ir(loop)
    assert "<2 x double>" in ir
    assert not re.search(r"<(4|8|16) x double>", ir)


def test_float32_loops_that_compute_in_float64_keep_llvms_width():
    loop = _compiler.njit(_loop, wide_vectors=True, except_float32=True)
    x32, x64 = np.ones(8, np.float32), np.ones(8)
    loop(x32, np.empty_like(x32))
    loop(x64, np.empty_like(x64))
    ir32, ir64 = (loop.inspect_llvm(signature) for signature in loop.signatures)
    assert "prefer-vector-width" not in ir32
    assert WIDTH in ir64


def test_memory_bound_loops_keep_llvms_width():
    loop = _compiler.njit(_loop)
    x = np.ones(8)
    loop(x, np.empty_like(x))
    assert "prefer-vector-width" not in _ir(loop)


def test_the_users_own_functions_keep_numbas_choice():
    loop = _compiler.njit(_loop, wide_vectors=True)
    x = np.ones(8)
    loop(x, np.empty_like(x))  # installs the hook

    @numba.njit
    def users(x, out):
        for i in range(x.size):
            out[i] = x[i] + 1.0

    users(x, np.empty_like(x))
    assert "prefer-vector-width" not in _ir(users)


def _formula_a(x):
    return x * 2.0


def _formula_b(x):
    return x * 3.0


def test_cached_loops_are_named_after_the_code_they_inline():
    first = _compiler.stamped_name(_loop.__class__(_loop.__code__, globals()), "loop", _formula_a)
    second = _compiler.stamped_name(_loop.__class__(_loop.__code__, globals()), "loop", _formula_b)
    again = _compiler.stamped_name(_loop.__class__(_loop.__code__, globals()), "loop", _formula_a)
    assert re.fullmatch(r"loop_[0-9a-f]{12}", first.__qualname__)
    assert first.__qualname__ != second.__qualname__  # another formula: another cache entry
    assert first.__qualname__ == again.__qualname__


def test_a_memo_makes_each_value_once_for_every_thread():
    import threading
    import time

    memo, made = _compiler.Memo(), []

    def make(key):
        made.append(key)
        time.sleep(0.01)  # long enough for the other threads to ask meanwhile
        return key * 2

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get(3, make, 3)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [3] and results == [6] * 8
    # Re-entrant: a maker may take another value of the same memo.
    assert memo.get("outer", lambda: memo.get("inner", lambda: 1) + 1) == 2


def test_generated_code_spells_its_arguments_out_under_its_modules_file():
    import inspect

    from fastrelu import definitions

    add = _source.generated("add", ["a", "b", "c"], "return a + scale * (b + c)\n",
                              {"scale": 2}, definitions.__name__)
    assert add(1, 2, 3) == 11 and add.__code__.co_argcount == 3
    assert inspect.getfile(add) == definitions.__file__  # where Numba's cache looks
    assert numba.njit(add)(1.0, 2.0, 3.0) == 11.0
