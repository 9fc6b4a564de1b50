"""python -m fastrelu info | bench | train."""

import math
import re
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
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["dtype", "n", "copy", "numpy maximum"]
    for backend in ["numba", "numba-parallel", "numba-ufunc", "auto"]:
        assert f"fastrelu {backend}" in header
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[:2] for row in rows] == [["float32", "1e+03"], ["float32", "1e+05"],
                                         ["float32", "1e+07"]]
    for row in rows:  # one GB/s figure per column, each a finite number
        assert len(row) == len(header)
        speeds = dict(zip(header[2:], (float(cell) for cell in row[2:])))
        # Two decimals: a call that waits for a thread pool's wake-up on a
        # busy machine can print 0.0 at 1e3 elements, so only >= 0 there.
        assert all(math.isfinite(s) and s >= 0 for s in speeds.values()), row
        assert speeds["copy"] > 0 and speeds["fastrelu auto"] > 0, row


def test_train_runs_a_few_steps():
    pytest.importorskip("sklearn")
    out = run("train", "--steps", "20", "--no-bar", "--backend", "numba")
    found = re.search(r"relu on numba: test accuracy ([0-9.]+) .* after 20 steps", out)
    assert found, out
    # The digits preset (seed 0) reaches 0.67 after 20 steps; chance is 0.1.
    assert float(found.group(1)) >= 0.4


def test_unknown_command_fails():
    result = subprocess.run([sys.executable, "-m", "fastrelu", "nope"], capture_output=True,
                            text=True)
    assert result.returncode != 0
