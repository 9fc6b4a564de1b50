"""Run a command as if on a CPU with fewer instruction sets.

    python perf/as_cpu.py avx2 -- python -m pytest tests/test_accuracy.py
    python perf/as_cpu.py --list

NumPy, Numba, PyTorch and glibc's libm each pick their code by what the CPU
has, so a result measured on an AVX-512 machine (an error in ulps, a speed
ratio) need not hold on an AVX2 or an SSE4.2 one.  Each configuration below
switches all four to the paths they take on the older CPU; a configuration
can only remove instruction sets, never add ones the machine lacks.

The variables are each library's own: NPY_DISABLE_CPU_FEATURES (NumPy 2.4's
feature-group names; ``numpy.show_runtime()`` lists them), NUMBA_CPU_NAME
(LLVM's CPU the kernels are compiled for), ATEN_CPU_CAPABILITY (PyTorch's
kernel family) and GLIBC_TUNABLES (which of libm's exp, log, pow variants
glibc's ifuncs choose).
"""

import os
import sys

_NO_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"

CONFIGURATIONS = {
    # The machine as it is.
    "native": {},
    # AVX-512 as Skylake-X and Cascade Lake have it (x86-64-v4), without the
    # Ice Lake and Sapphire Rapids extensions NumPy also dispatches on.
    "avx512-skx": {
        "NPY_DISABLE_CPU_FEATURES": "AVX512_ICL AVX512_SPR",
        "NUMBA_CPU_NAME": "skylake-avx512",
    },
    # x86-64-v3: AVX2 and FMA, no AVX-512 (Haswell to Alder Lake, Zen 1-3).
    "avx2": {
        "NPY_DISABLE_CPU_FEATURES": _NO_AVX512,
        "NUMBA_CPU_NAME": "haswell",
        "ATEN_CPU_CAPABILITY": "avx2",
    },
    # x86-64-v2: NumPy 2.4's baseline (SSE4.2, POPCNT), no AVX or FMA.
    "sse4.2": {
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 " + _NO_AVX512,
        "NUMBA_CPU_NAME": "x86-64-v2",
        "ATEN_CPU_CAPABILITY": "default",
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F",
    },
}


def environment(name, base=None):
    """os.environ (or ``base``) with configuration ``name``'s variables set."""
    if name not in CONFIGURATIONS:
        raise SystemExit(f"unknown CPU configuration {name!r}; known: "
                         + ", ".join(CONFIGURATIONS))
    env = dict(os.environ if base is None else base)
    env.update(CONFIGURATIONS[name])
    return env


def describe():
    """What this process runs as: the machine's CPU (LLVM's name), the CPU
    Numba compiles for, NumPy's dispatched SIMD groups, PyTorch's kernel
    family where PyTorch is installed."""
    from llvmlite import binding as llvm
    from numba.core import config
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    host = llvm.get_host_cpu_name()
    found = {"host_cpu": host, "avx512f": llvm.get_host_cpu_features().get("avx512f", False),
             "numba_cpu": config.CPU_NAME or host,
             "numpy_simd": [f for f in __cpu_dispatch__ if __cpu_features__[f]]}
    try:
        import torch
    except ImportError:
        return found
    found["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return found


def main(argv):
    if argv[:1] == ["--list"]:
        for name, env in CONFIGURATIONS.items():
            print(name, " ".join(f"{k}={v!r}" for k, v in env.items()))
        return 0
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit(__doc__.strip().splitlines()[2])
    env = environment(argv[0])
    os.execvpe(argv[2], argv[2:], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
