"""PyTorch training and inference steps: torch.nn against fastrelu's drop-ins.

    python perf/bench_torch_training.py [--quick] [--rows mlp-gelu-256x1024 ...] [--no-save]
    python perf/as_cpu.py avx2 -- python perf/bench_torch_training.py --json avx2.json

Each row is a real CPU training step (forward, loss, backward, SGD step) or
an inference forward under ``torch.no_grad()``, run on three copies of one
model with the same weights: built from torch.nn's modules, built from
``fastrelu.torch``'s drop-ins, and the torch.nn model after
``replace_activations``.  The three alternate round by round in one fresh
process per row (so that no row inherits another's thread pools or heap);
the table gives each one's median over the rounds as a ratio to
torch.nn's (below 1: fastrelu's is faster).

Rows:
- MLPs (Linear-act-Linear-act-Linear, cross entropy) with ReLU, GELU, SiLU
  and Mish, ``batch x width``;
- transformer feed-forward blocks ``Linear(d, 2h) -> gated -> Linear(h, d)``
  with SwiGLU and GEGLU on the packed projection, ``tokens x d``: torch.nn's
  is ``up, gate = proj.chunk(2, -1); act(gate) * up``, fastrelu's the fused
  module on the packed tensor;
- a small CNN (two 3x3 convolutions with ReLU on NCHW activations, 64
  images of 28x28).

``--compile`` runs the MLP rows with both models through
``torch.compile(fullgraph=True)`` (inductor), where fastrelu's activations
are single custom operators.

Writes perf/results/torch_training.json and .md (the CPU, its instruction
set and PyTorch's kernel family are in both).
"""

import argparse
import copy
import json
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "perf"))

RESULTS = ROOT / "perf" / "results"

#: name -> (kind, activation, size): MLP sizes are batch x width, feed-forward
#: ones tokens x model width, the CNN's the batch.
ROWS = {}
for _act in ("relu", "gelu", "silu", "mish"):
    for _batch, _width in ((64, 256), (256, 1024), (1024, 1024)):
        ROWS[f"mlp-{_act}-{_batch}x{_width}"] = ("mlp", _act, (_batch, _width))
ROWS["mlp-relu-32x128"] = ("mlp", "relu", (32, 128))
ROWS["mlp-relu-512x4096"] = ("mlp", "relu", (512, 4096))
for _act in ("swiglu", "geglu"):
    for _tokens, _d in ((256, 256), (2048, 512), (4096, 1024)):
        ROWS[f"ffn-{_act}-{_tokens}x{_d}"] = ("ffn", _act, (_tokens, _d))
ROWS["cnn-relu-64"] = ("cnn", "relu", (64,))

QUICK = ["mlp-relu-64x256", "mlp-gelu-256x1024", "ffn-swiglu-2048x512", "cnn-relu-64"]
COMPILED = ["mlp-relu-64x256", "mlp-gelu-64x256", "mlp-gelu-256x1024", "mlp-silu-256x1024"]


def build(torch, kind, act, size):
    """(torch.nn model, fastrelu drop-in model, inputs, targets, loss)."""
    import fastrelu.torch as frt

    torch.manual_seed(0)
    nn, F = torch.nn, torch.nn.functional
    if kind == "mlp":
        batch, width = size
        layers = {"relu": (nn.ReLU, frt.ReLU), "gelu": (nn.GELU, frt.GELU),
                  "silu": (nn.SiLU, frt.SiLU), "mish": (nn.Mish, frt.Mish)}[act]

        def mlp(module):
            return nn.Sequential(nn.Linear(width, width), module(), nn.Linear(width, width),
                                 module(), nn.Linear(width, 10))
        reference, fast = mlp(layers[0]), mlp(layers[1])
        x, target = torch.randn(batch, width), torch.randint(0, 10, (batch,))
        return reference, fast, x, target, F.cross_entropy
    if kind == "ffn":
        tokens, d = size
        hidden = (8 * d // 3 + 63) // 64 * 64

        class Block(nn.Module):
            def __init__(self, gated):
                super().__init__()
                self.proj, self.out, self.gated = nn.Linear(d, 2 * hidden), nn.Linear(hidden, d), gated

            def forward(self, x):
                return x + self.out(self.gated(self.proj(x)))

        class Composed(nn.Module):  # torch.nn's: act(gate) * up on the halves
            def forward(self, packed):
                up, gate = packed.chunk(2, -1)
                return (F.silu(gate) if act == "swiglu" else F.gelu(gate)) * up
        fused = frt.SwiGLU() if act == "swiglu" else frt.GEGLU()
        reference = Block(Composed())
        fast = Block(fused)
        x = torch.randn(tokens, d)
        return reference, fast, x, torch.randn(tokens, d), F.mse_loss
    if kind == "cnn":
        (batch,) = size

        def cnn(module):
            return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), module(), nn.MaxPool2d(2),
                                 nn.Conv2d(16, 32, 3, padding=1), module(), nn.MaxPool2d(2),
                                 nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        x, target = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
        return cnn(nn.ReLU), cnn(frt.ReLU), x, target, F.cross_entropy
    raise ValueError(kind)


def measure_row(name, rounds, budget, compiled=False):
    """{variant: median seconds} of the training step and the inference
    forward, for row ``name``; run in its own process.  ``compiled``: both
    models through ``torch.compile(fullgraph=True)`` (inductor), where
    fastrelu's activations are custom operators."""
    import torch

    import fastrelu.torch as frt

    kind, act, size = ROWS[name]
    reference, fast, x, target, loss_fn = build(torch, kind, act, size)
    fast.load_state_dict(reference.state_dict())
    replaced = copy.deepcopy(reference)
    if kind != "ffn":  # the composition has no module to replace
        frt.replace_activations(replaced)
    models = {"torch.nn": reference, "fastrelu": fast}
    if kind != "ffn" and not compiled:
        models["replace_activations"] = replaced
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=1e-3) for k, m in models.items()}
    if compiled:
        models = {k: torch.compile(m, fullgraph=True) for k, m in models.items()}

    def train(key):
        model, opt = models[key], optimizers[key]
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), target).backward()
        opt.step()

    def infer(key):
        with torch.no_grad():
            models[key](x)

    found = {}
    for what, step in (("train", train), ("infer", infer)):
        for key in models:  # warm: compile, first allocations
            for _ in range(3):
                step(key)
        start = time.perf_counter()
        step("torch.nn")
        inner = max(1, min(500, int(budget / max(time.perf_counter() - start, 1e-7))))
        times = {key: [] for key in models}
        for _ in range(rounds):
            for key in models:
                start = time.perf_counter()
                for _ in range(inner):
                    step(key)
                times[key].append((time.perf_counter() - start) / inner)
        found[what] = {key: statistics.median(t) for key, t in times.items()}
    return found


def run_row(name, rounds, budget, compiled=False):
    """``measure_row`` in a fresh Python process."""
    code = ("import json, sys; sys.path.insert(0, 'perf'); import bench_torch_training as b; "
            f"print(json.dumps(b.measure_row({name!r}, {rounds}, {budget}, {compiled})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows, env):
    lines = [f"# {env['cpu_configuration']['host_cpu']} "
             f"(AVX-512: {'yes' if env['cpu_configuration']['avx512f'] else 'no'}), "
             f"Numba compiles for {env['cpu_configuration']['numba_cpu']}, PyTorch "
             f"{env['torch']} kernels {env['cpu_configuration'].get('torch_capability')}, "
             f"{env['torch_threads']} PyTorch threads, {env['numba_threads']} Numba threads",
             "",
             "| row | step | torch.nn us | fastrelu / torch.nn | replace_activations / torch.nn |",
             "|---|---|---:|---:|---:|"]
    for row in rows:
        for what in ("train", "infer"):
            found = row[what]
            base = found["torch.nn"]
            replaced = (f"{found['replace_activations'] / base:.2f}"
                        if "replace_activations" in found else "")
            lines.append(f"| {row['row']} | {what} | {base * 1e6:.0f} | "
                         f"{found['fastrelu'] / base:.2f} | {replaced} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=None)
    parser.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK))
    parser.add_argument("--compile", action="store_true",
                        help="both models through torch.compile(fullgraph=True); default rows "
                             + ", ".join(COMPILED))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--budget", type=float, default=0.02,
                        help="seconds of steps per variant per round (default 0.02)")
    parser.add_argument("--json", default=None,
                        help="file name in perf/results (default torch_training.json, "
                             "torch_training_compiled.json with --compile)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    import as_cpu
    from fastrelu.bench import environment

    env = environment()
    env["cpu_configuration"] = as_cpu.describe()
    names = args.rows or (QUICK if args.quick else COMPILED if args.compile else list(ROWS))
    rows = []
    for name in names:
        found = run_row(name, args.rounds, args.budget, args.compile)
        rows.append({"row": name, **found})
        base = found["train"]["torch.nn"], found["infer"]["torch.nn"]
        print(f"{name:>22}: train {found['train']['fastrelu'] / base[0]:.2f}, "
              f"infer {found['infer']['fastrelu'] / base[1]:.2f} (fastrelu / torch.nn)",
              flush=True)
    text = table(rows, env)
    print(text)
    if not args.no_save:
        path = RESULTS / (args.json or ("torch_training_compiled.json" if args.compile
                                        else "torch_training.json"))
        path.write_text(json.dumps({"environment": env, "command": " ".join(sys.argv),
                                    "rows": rows}, indent=1) + "\n")
        path.with_suffix(".md").write_text(text + "\n")
        print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main()
