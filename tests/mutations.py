"""Plant known bugs one at a time and check that the fast tests catch each.

    python tests/mutations.py [--list] [--only NAME ...] [--jobs N]

For each mutation in MUTATIONS the repository's package, tests and the files
they read are copied into a fresh temporary folder, one piece of source text
is replaced there (it must occur exactly once: a mutation that no longer
applies is a failure, so that a refactor cannot silently disable it), and
the mutation's tests run there with ``-x``.  pytest's exit status 1 (a test
failed) is a catch; 0 means the bug survived; any other status (a collection
or import error, no test selected) is an error of this script.  The
unmutated copy runs the same tests first, as the baseline that gives the
results their meaning.  Each run has its own Numba cache folder, so that no
kernel compiled from unmutated code can hide a change.

Exits 0 when the baseline passes and every mutation is caught.  Not collected
by pytest (its name does not start with ``test_``); tests/test_mutations.py
checks, cheaply, that every mutation still applies to the current sources.
"""

import argparse
import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: What each copy holds: the package, the tests and what they read
#: (perf/accuracy.py and its results, docs/ for the stated limits).
COPIED = ("fastrelu", "tests", "perf", "docs", "examples", "pyproject.toml", "README.md")
IGNORED = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", ".hypothesis", "*.pyc")

PYTEST_OPTIONS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")


@dataclasses.dataclass(frozen=True)
class Mutation:
    """One planted bug: in ``path`` (relative to the repository root),
    ``find`` (which must occur exactly once) becomes ``replace``; ``tests``
    are the pytest arguments (files, node ids) of the fast tests that must
    catch it, and ``k`` an optional ``-k`` expression."""

    name: str
    path: str
    find: str
    replace: str
    tests: tuple
    k: str = ""
    why: str = ""

    def apply(self, source):
        count = source.count(self.find)
        if count != 1:
            raise MutationDoesNotApply(
                f"{self.name}: the text to replace occurs {count} times in {self.path} "
                f"(must be exactly once): update the mutation with the code it targets")
        return source.replace(self.find, self.replace)


class MutationDoesNotApply(Exception):
    pass


MUTATIONS = (
    Mutation(
        "sigmoid_flushed_below_minus_14_float32",
        "fastrelu/cpu/vecmath.py",
        "    xc = F32(-104.0) if x < F32(-104.0) else x\n"
        "    n, r = _reduce_f32(xc)\n"
        "    return ((F32_ONE + _expm1_series_f32(r)) * _pow2_f32(n + F32_64)) * F32_TWO_M64\n",
        "    xc = F32(-104.0) if x < F32(-104.0) else x\n"
        "    n, r = _reduce_f32(xc)\n"
        "    y = ((F32_ONE + _expm1_series_f32(r)) * _pow2_f32(n + F32_64)) * F32_TWO_M64\n"
        "    return F32_ZERO if x < F32(-14.0) else y\n",
        ("tests/test_accuracy.py::test_within_the_stated_error[sigmoid-float32]",),
        why="float32 e^-|x| (sigmoid's tail) flushed to 0 past 14, as a short-range exp would",
    ),
    Mutation(
        "gelu_left_tail_dropped_float64",
        "fastrelu/cpu/vecmath.py",
        "    phi = tail if x < 0.0 else 1.0 - tail\n",
        "    phi = 1.0 - tail if x >= 0.0 else 0.5 + 0.5 * erf(x * SQRT_HALF)\n",
        ("tests/test_family.py::test_gelu_keeps_relative_accuracy_in_the_left_tail[float64-numba]",),
        why="Phi(x) below 0 from 1 + erf, which cancels, instead of from the tail",
    ),
    Mutation(
        "gelu_left_tail_dropped_float32",
        "fastrelu/cpu/vecmath.py",
        "    phi = tail if x < F32_ZERO else F32_ONE - tail\n",
        "    phi = F32_ONE - tail if x >= F32_ZERO else F32_HALF + F32_HALF * erf_f32(x * F32(SQRT_HALF))\n",
        ("tests/test_family.py::test_gelu_keeps_relative_accuracy_in_the_left_tail[float32-numba]",),
        why="as above, in the float32 loops",
    ),
    Mutation(
        "gelu_left_tail_dropped_scalar",
        "fastrelu/definitions.py",
        "    return 0.5 * math.erfc(-x * SQRT_HALF), math.exp(-0.5 * x * x)\n",
        "    return 0.5 * (1.0 + math.erf(x * SQRT_HALF)), math.exp(-0.5 * x * x)\n",
        ("tests/test_cuda.py::test_gelu_keeps_relative_accuracy_in_the_left_tail",),
        why="the scalar formula CUDA (and the simulator) run: 1 + erf cancels in the left tail",
    ),
    Mutation(
        "relu_nan_to_zero",
        "fastrelu/definitions.py",
        "def relu(x):\n    return 0 if x <= 0 else x + 0\n",
        "def relu(x):\n    return x + 0 if x > 0 else 0\n",
        ("tests/test_family.py::test_matches_reference[float32-relu-numba]",),
        why="relu as 'x if x > 0 else 0': NaN becomes 0",
    ),
    Mutation(
        "backward_ignores_grad",
        "fastrelu/definitions.py",
        "    s, one_minus_s = _sigmoids(x)\n    return g * s * one_minus_s\n",
        "    s, one_minus_s = _sigmoids(x)\n    return s * one_minus_s\n",
        ("tests/test_family.py::test_matches_reference[float64-sigmoid-numba]",),
        why="sigmoid's backward returns f'(x), not grad * f'(x)",
    ),
    Mutation(
        "torch_backward_ignores_grad",
        "fastrelu/torch/_autograd.py",
        "            dx = _tensor(plan.fn.backward(_host_or_device(grad), _host_or_device(saved),\n",
        "            dx = _tensor(plan.fn.backward(_host_or_device(grad * 0 + 1), _host_or_device(saved),\n",
        ("tests/test_torch.py::test_gradcheck_float64[numba-gelu]",),
        why="the autograd Function's backward differentiates as if grad were ones",
    ),
    Mutation(
        "prelu_weight_gradient_wrong_axis",
        "fastrelu/cpu/channel_loops.py",
        "                partial[chunk, row % channels] += total\n",
        "                partial[chunk, (row // channels) % channels] += total\n",
        ("tests/test_family.py::test_prelu_channel_loops_match_the_reference[float32-numba-shape3-3]",),
        why="the weight gradient of a row summed into the slot of its batch index, not its channel",
    ),
    Mutation(
        "prelu_weight_gradient_wrong_axis_by_batch",
        "fastrelu/cpu/channel_loops.py",
        "        partial = partial.reshape(-1, channels, inner).sum(axis=2)\n",
        "        partial = partial.reshape(-1, inner, channels).sum(axis=1)\n",
        ("tests/test_family.py::test_prelu_weight_gradient_by_finite_differences[numba]",),
        why="short rows: the (channels, inner) partial sums reduced over the wrong axis",
    ),
    Mutation(
        "prelu_weight_gradient_wrong_axis_reference",
        "fastrelu/definitions.py",
        "    return contribution.sum(axis=tuple(i for i in range(contribution.ndim) if i != axis),\n",
        "    return contribution.sum(axis=tuple(i for i in range(contribution.ndim)\n"
        "                                       if i != contribution.ndim - 1),\n",
        ("tests/test_family.py::test_prelu_weight_gradient_sums_over_every_axis_but_axis_1[numpy-shape1]",),
        why="numpy and ufunc backends: every axis but the last summed, not every axis but the channel's",
    ),
    Mutation(
        "bfloat16_truncates",
        "fastrelu/definitions.py",
        "    rounded = np.uint32(u + np.uint32(np.uint32(0x7FFF) + lowest_kept))\n",
        "    rounded = np.uint32(u + np.uint32(lowest_kept * np.uint32(0)))\n",
        ("tests/test_bfloat16.py::test_rounding_is_to_nearest_even",),
        why="float32 -> bfloat16 by dropping the low 16 bits instead of rounding to nearest even",
    ),
    Mutation(
        "gated_backward_gradients_swapped",
        "fastrelu/cpu/gated_loops.py",
        "def backward_flat(dy, g, u, grad_g, grad_u):\n"
        "    for i in loop_range(dy.size):\n"
        "        d, x, v = dy[i], g[i], u[i]\n"
        "        grad_g[i] = gated_backward_gate(d, x, v)\n"
        "        grad_u[i] = gated_backward_up(d, x)\n",
        "def backward_flat(dy, g, u, grad_g, grad_u):\n"
        "    for i in loop_range(dy.size):\n"
        "        d, x, v = dy[i], g[i], u[i]\n"
        "        grad_u[i] = gated_backward_gate(d, x, v)\n"
        "        grad_g[i] = gated_backward_up(d, x)\n",
        ("tests/test_gated.py::test_forward_and_backward_match_the_exact_values[numba-reglu-float32]",),
        why="the gated loop writes grad_gate into grad_up and grad_up into grad_gate",
    ),
    Mutation(
        "gated_backward_gradients_swapped_in_rows",
        "fastrelu/cpu/gated_loops.py",
        "            gg_row[j] = gated_backward_gate(d, x, v)\n"
        "            gu_row[j] = gated_backward_up(d, x)\n"
        "\n"
        "\n"
        "# The rows",
        "            gu_row[j] = gated_backward_gate(d, x, v)\n"
        "            gg_row[j] = gated_backward_up(d, x)\n"
        "\n"
        "\n"
        "# The rows",
        ("tests/test_gated.py::test_layouts_and_in_place[numba]",),
        why="as above, in the loop over the rows of 2-D views",
    ),
    Mutation(
        "mask_loop_skips_last_partial_chunk",
        "fastrelu/cpu/mask_loops.py",
        "        whole = x.size // 8\n"
        "        for c in loop_range((whole + CHUNK_BYTES - 1) // CHUNK_BYTES):\n",
        "        whole = x.size // 8\n"
        "        for c in loop_range(whole // CHUNK_BYTES):\n",
        ("tests/test_masks.py::test_matches_packbits_and_relu_backward[numba-parallel-32781-float32]",),
        why="relu_mask's chunked prange (512 mask bytes a chunk) leaves the last, partial chunk out",
    ),
    Mutation(
        "elementwise_parallel_loop_skips_tail",
        "fastrelu/cpu/backends.py",
        "    body = (f\"for i in {'numba.prange' if parallel else 'range'}(out.size):\\n\"\n",
        "    body = (f\"for i in {'numba.prange' if parallel else 'range'}"
        "(out.size // 64 * {64 if parallel else 1}):\\n\"\n",
        ("tests/test_family.py::test_matches_reference[float32-relu6-numba-parallel]",),
        why="the parallel element loop stops at the last whole block of 64 elements",
    ),
    Mutation(
        "cuda_grid_stride_tail_skipped",
        "fastrelu/cuda/kernels.py",
        "                \"while i < n:\\n\"\n"
        "                f\"    out[i] = {_applied(inputs, '[i]')}\\n\"\n"
        "                \"    i += step\\n\")\n",
        "                )\n",
        ("tests/test_cuda.py::test_vector_loads_with_tails_and_misaligned_starts[1-float32]",),
        why="the grid-stride kernel returns after its 4-way unrolled steps, leaving the tail",
    ),
    Mutation(
        "leaky_relu_slope_ignored",
        "fastrelu/definitions.py",
        "    return x + 0 if x > 0 else x * negative_slope  # \"+ 0\": see relu\n",
        "    return x + 0 if x > 0 else x * 0.01  # \"+ 0\": see relu\n",
        ("tests/test_family.py::test_matches_reference[float32-leaky_relu-numba]",),
        why="leaky_relu with its default slope whatever slope it is given",
    ),
    Mutation(
        "softplus_threshold_off",
        "fastrelu/definitions.py",
        "    return x if z > threshold else soft\n",
        "    return x if z > threshold - 2 else soft\n",
        ("tests/test_family.py::test_matches_reference[float64-softplus-numba]",),
        why="softplus switches to x two units of beta * x before its threshold",
    ),
)


def copy_repository(into):
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=IGNORED)
        elif source.exists():
            shutil.copy2(source, into / name)


def pytest_command(mutation):
    command = [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, *mutation.tests]
    if mutation.k:
        command += ["-k", mutation.k]
    return command


def environment(folder):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(folder)  # the copy's fastrelu, not an installed one
    env["NUMBA_CACHE_DIR"] = str(folder / "numba-cache")
    env["NUMBA_ENABLE_CUDASIM"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("FASTRELU_REQUIRE_EXTRAS", None)
    return env


@dataclasses.dataclass
class Result:
    name: str
    outcome: str  # "caught", "SURVIVED", "ERROR", "passed", "FAILED"
    seconds: float
    detail: str = ""


def run_tests(folder, commands, timeout):
    """Runs each command in ``folder``; returns (exit status, output) of the
    first that does not pass, else (0, output of the last)."""
    env = environment(folder)
    check = subprocess.run([sys.executable, "-c", "import fastrelu; print(fastrelu.__file__)"],
                           cwd=folder, env=env, capture_output=True, text=True)
    if check.returncode or not Path(check.stdout.strip()).is_relative_to(folder):
        return 3, f"fastrelu is not imported from the copy: {check.stdout}{check.stderr}"
    status, output = 0, ""
    for command in commands:
        try:
            done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout} s: {' '.join(command)}"
        status, output = done.returncode, done.stdout + done.stderr
        if status:
            break
    return status, output


def first_failure(output):
    """pytest's summary line of the failed test (-ra), shortened."""
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line if len(line) <= 160 else line[:157] + "..."
    return ""


def tail(text, lines=25):
    return "\n".join(text.strip().splitlines()[-lines:])


def run_baseline(mutations, timeout):
    """The unmutated copy through every mutation's tests."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fastrelu-baseline-") as tmp:
        folder = Path(tmp).resolve()
        copy_repository(folder)
        # One run for every selection without -k (one process: each kernel
        # compiles once), one more for each with it.
        tests = list(dict.fromkeys(t for m in mutations if not m.k for t in m.tests))
        commands = [pytest_command(Mutation("baseline", "", "", "", tuple(tests)))] if tests else []
        commands += list(dict.fromkeys(tuple(pytest_command(m)) for m in mutations if m.k))
        status, output = run_tests(folder, commands, timeout)
    seconds = time.monotonic() - start
    if status == 0:
        return Result("(baseline, unmutated)", "passed", seconds)
    return Result("(baseline, unmutated)", "FAILED", seconds, f"exit status {status}\n{tail(output)}")


def run_mutation(mutation, timeout):
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"fastrelu-{mutation.name}-") as tmp:
        folder = Path(tmp).resolve()
        copy_repository(folder)
        target = folder / mutation.path
        try:
            target.write_text(mutation.apply(target.read_text()))
        except (MutationDoesNotApply, OSError) as exc:
            return Result(mutation.name, "ERROR", time.monotonic() - start, str(exc))
        status, output = run_tests(folder, [pytest_command(mutation)], timeout)
    seconds = time.monotonic() - start
    if status == 1:
        return Result(mutation.name, "caught", seconds, first_failure(output))
    if status == 0:
        return Result(mutation.name, "SURVIVED", seconds, tail(output, 5))
    return Result(mutation.name, "ERROR", seconds,
                  f"pytest exit status {status} (not a test failure)\n{tail(output)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    parser.add_argument("--jobs", type=int, default=2, help="mutations run at once (default 2)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the unmutated copy (its results then mean less)")
    args = parser.parse_args(argv)

    mutations = list(MUTATIONS)
    if args.only:
        known = {m.name for m in MUTATIONS}
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"unknown mutation(s): {', '.join(unknown)}")
        mutations = [m for m in MUTATIONS if m.name in args.only]
    if args.list:
        width = max(len(m.name) for m in mutations)
        for m in mutations:
            selection = " ".join(m.tests) + (f" -k {m.k!r}" if m.k else "")
            print(f"{m.name:<{width}}  {m.path}: {m.why}\n{'':<{width}}  tests: {selection}")
        return 0

    start = time.monotonic()
    results = []
    width = max(len(m.name) for m in mutations) + 2
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = []
        if not args.no_baseline:
            futures.append(pool.submit(run_baseline, mutations, args.timeout))
        futures += [pool.submit(run_mutation, m, args.timeout) for m in mutations]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            print(f"{result.name:<{width}} {result.outcome:<9} {result.seconds:6.1f} s", flush=True)
            if result.detail:
                print("    " + result.detail.replace("\n", "\n    "), flush=True)

    total = time.monotonic() - start
    bad = [r for r in results if r.outcome not in ("caught", "passed")]
    caught = sum(r.outcome == "caught" for r in results)
    print(f"\n{caught} of {len(mutations)} mutations caught in {total:.0f} s "
          f"({args.jobs} at once)" + ("" if args.no_baseline else
                                      "; baseline " + next(r.outcome for r in results
                                                           if r.name.startswith("("))))
    if bad:
        print("FAILED: " + ", ".join(f"{r.name} ({r.outcome})" for r in bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
