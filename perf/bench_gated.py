"""Gated activations against PyTorch's composition, a copy, and in memory.

    python perf/bench_gated.py [--n 8388608] [--rounds 9] [--no-save]

float32, ``--n`` elements per operand (2^23 by default), every call form
side by side in one process, interleaved, best of ``--rounds`` batches:

* allocating: ``fastrelu.swiglu(g, u)`` (and reglu, geglu in both forms) against
  ``F.silu(g) * u``; forward + backward against PyTorch's forward and its
  autograd backward of the same composition (``torch.autograd.grad``);
* with ``out=``: reglu's three streams and the backward's five (grad, gate,
  up in; two gradients out) in GB/s against a 2-thread copy in the same
  run (bytes read plus written);
* memory: the peak resident memory a call adds (``/proc/self/clear_refs``
  resets the peak, Linux only), fastrelu against PyTorch.

Writes perf/results/cpu_gated.json and .md.
"""

import argparse
import functools
import gc
import json
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastrelu  # noqa: E402
from fastrelu.bench import environment, markdown  # noqa: E402

RESULTS = ROOT / "perf" / "results"


def best_time(fn, rounds, inner):
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def interleaved(impls, rounds):
    """Best time of each, calls interleaved round by round."""
    for fn in impls.values():
        fn(), fn()  # compile, fault pages in
    best = dict.fromkeys(impls, np.inf)
    for _ in range(rounds):
        for name, fn in impls.items():
            best[name] = min(best[name], best_time(fn, 1, 3))
    return best


def parallel_copy():
    import numba

    @numba.njit(parallel=True)
    def copy(x, out):
        for i in numba.prange(x.size):
            out[i] = x[i]
    return copy


def peak_added(fn):
    """Bytes of resident memory the call adds at its peak (Linux), or None."""
    try:
        gc.collect()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak to the current resident size
        before = _status("VmRSS")
        result = fn()
        peak = _status("VmHWM")
        del result
        return (peak - before) * 1024
    except OSError:
        return None


def _status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def measure(n, rounds):
    import torch

    torch.set_num_threads(environment()["cores"])
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    g, u, dy = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))
    tg, tu, tdy = (torch.from_numpy(a) for a in (g, u, dy))
    rows = []
    cases = [(name, getattr(fastrelu, name), getattr(fastrelu, name + "_backward"), act)
             for name, act in (("swiglu", F.silu), ("reglu", F.relu), ("geglu", F.gelu))]
    tanh_form = functools.partial
    cases.append(("geglu (tanh)", tanh_form(fastrelu.geglu, approximate="tanh"),
                  tanh_form(fastrelu.geglu_backward, approximate="tanh"),
                  tanh_form(F.gelu, approximate="tanh")))
    for name, forward, backward, act in cases:
        tgr, tur = tg.clone().requires_grad_(), tu.clone().requires_grad_()

        def torch_both():
            y = act(tgr) * tur
            return torch.autograd.grad(y, (tgr, tur), tdy)

        t = interleaved({
            "fastrelu": lambda: forward(g, u),
            "torch": lambda: act(tg) * tu,
            "fastrelu fwd+bwd": lambda: (forward(g, u), backward(dy, g, u)),
            "torch fwd+bwd": torch_both,
        }, rounds)
        row = {"gated": name, "n": n,
               "forward vs torch": round(t["torch"] / t["fastrelu"], 2),
               "fwd+bwd vs torch": round(t["torch fwd+bwd"] / t["fastrelu fwd+bwd"], 2)}
        added = {"fastrelu": peak_added(lambda: forward(g, u)),
                 "torch": peak_added(lambda: act(tg) * tu),
                 "fastrelu bwd": peak_added(lambda: backward(dy, g, u)),
                 "torch bwd": peak_added(torch_both)}
        for key, value in added.items():
            row[f"MiB added, {key}"] = None if value is None else round(value / 2**20, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    # Streams against a copy: reglu with out= (3 streams), its backward in
    # place over two other arrays (5 streams).
    copy2 = parallel_copy()
    y, a, b = (np.empty(n, np.float32) for _ in range(3))
    t = interleaved({
        "reglu out=": lambda: fastrelu.reglu(g, u, out=y),
        "reglu_backward out=": lambda: fastrelu.reglu_backward(dy, g, u, out=(a, b)),
        "swiglu out=": lambda: fastrelu.swiglu(g, u, out=y),
        "swiglu_backward out=": lambda: fastrelu.swiglu_backward(dy, g, u, out=(a, b)),
        "copy": lambda: copy2(g, y),
    }, rounds)
    copy_rate = 2 * 4 * n / t["copy"]
    for name, streams in (("reglu out=", 3), ("reglu_backward out=", 5), ("swiglu out=", 3),
                          ("swiglu_backward out=", 5)):
        rate = streams * 4 * n / t[name]
        rows.append({"gated": name, "n": n, "GB/s": round(rate / 1e9, 2),
                     "copy GB/s": round(copy_rate / 1e9, 2), "vs copy": round(rate / copy_rate, 3)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 23)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    rows = measure(args.n, args.rounds)
    table = markdown(rows)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "cpu_gated.json").write_text(
            json.dumps({"environment": environment(), "rows": rows}, indent=1) + "\n")
        (RESULTS / "cpu_gated.md").write_text(table + "\n")
        print(f"wrote {RESULTS / 'cpu_gated.json'} and .md")


if __name__ == "__main__":
    main()
