"""python -m fastrelu info | bench | train."""

import subprocess
import sys

import pytest


def run(*args):
    result = subprocess.run([sys.executable, "-m", "fastrelu", *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_info_lists_backends_and_layer():
    out = run("info", "--backend", "numba")
    assert "default backend: numba" in out
    for name in ["numpy", "numba-parallel", "numba-ufunc", "cuda"]:
        assert name in out
    assert "threading layer" in out and "cpu:" in out
    assert "OpenMP spin count:" in out
    dtypes = out.split("dtypes:")[1]
    assert "numba           float16 bfloat16 float32 float64" in dtypes
    assert "cuda            float16 bfloat16 float32 float64" in dtypes


def test_bench_prints_the_quick_table():
    out = run("bench")
    assert "| float32 | 1e+03 |" in out and "copy" in out


def test_train_runs_a_few_steps():
    pytest.importorskip("sklearn")
    out = run("train", "--steps", "20", "--no-bar", "--backend", "numba")
    assert "test accuracy" in out and "on numba" in out


def test_unknown_command_fails():
    result = subprocess.run([sys.executable, "-m", "fastrelu", "nope"], capture_output=True,
                            text=True)
    assert result.returncode != 0
