"""The dying-ReLU problem, measured.

A unit is dead when its input is <= 0 for every training example: ReLU then
outputs 0 everywhere and passes no gradient, so the unit never recovers.
This trains the same MLP on the digits data for each learning rate and
initial hidden bias, with relu and with leaky_relu, prelu and elu (which
keep a gradient for negative inputs), and records the fraction of such units
and the test accuracy.

    python examples/dying_relu.py [--epochs 10] [--out results/]
"""

import argparse
import json
from pathlib import Path

import numpy as np

from _common import load_dataset, pyplot, train

from fastrelu import nn

ACTIVATIONS = ["relu", "leaky_relu", "prelu", "elu"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lrs", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3, 1.0])
    p.add_argument("--clip", type=float, default=1.0,
                   help="gradient-norm clipping, so that large steps kill units "
                        "rather than overflow (0: off)")
    p.add_argument("--biases", type=float, nargs="+", default=[0.0, -1.0, -3.0])
    p.add_argument("--activations", nargs="+", default=ACTIVATIONS)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--backend", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", default="results")
    p.add_argument("--no-bar", action="store_true")
    args = p.parse_args(argv)

    data = load_dataset("digits", seed=args.seed, limit=args.limit)
    sizes = [data[0].shape[1]] + [args.width] * args.depth + [10]
    rows = []
    for bias in args.biases:
        for lr in args.lrs:
            for name in args.activations:
                model = nn.mlp(sizes, name, backend=args.backend, rng=args.seed, bias=bias)
                dead_at_start = float(np.mean(nn.dead_fractions(model, data[0])))
                with np.errstate(all="ignore"):
                    hist = train(model, data, epochs=args.epochs, batch_size=64, lr=lr,
                                 optimizer="sgd", momentum=0.9, seed=args.seed,
                                 clip=args.clip or None,
                                 bar=not args.no_bar, desc=f"{name} lr={lr} b={bias}")
                    dead = nn.dead_fractions(model, data[0])
                diverged = not np.isfinite(hist[-1]["loss"])
                row = {"activation": name, "lr": lr, "bias": bias,
                       "dead_at_start": round(dead_at_start, 3),
                       # NaN weights would count every unit as dead: report none
                       "dead_at_end": None if diverged else round(float(np.mean(dead)), 3),
                       "dead_per_layer": None if diverged else [round(d, 3) for d in dead],
                       "test_acc": round(hist[-1]["test_acc"], 3),
                       "diverged": diverged}
                rows.append(row)
                print(json.dumps(row), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows)
    (out / "dying_relu.md").write_text(table + "\n")
    (out / "dying_relu.json").write_text(json.dumps(rows, indent=1))
    print()
    print(table)
    figure(rows, out / "dying_relu.png", args)
    return rows


def markdown(rows):
    lines = ["| bias | lr | activation | units with input <= 0 everywhere: start | end | "
             "test accuracy |", "|---|---|---|---|---|---|"]
    for r in rows:
        acc = "diverged" if r["diverged"] else f"{r['test_acc']:.3f}"
        end = "-" if r["dead_at_end"] is None else f"{r['dead_at_end']:.3f}"
        lines.append(f"| {r['bias']} | {r['lr']} | {r['activation']} | {r['dead_at_start']:.3f} | "
                     f"{end} | {acc} |")
    return "\n".join(lines)


def figure(rows, path, args):
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, len(args.biases), figsize=(4.5 * len(args.biases), 4), squeeze=False)
    for ax, bias in zip(axes[0], args.biases):
        for name in args.activations:
            sub = [r for r in rows if r["bias"] == bias and r["activation"] == name
                   and r["dead_at_end"] is not None]
            ax.plot([r["lr"] for r in sub], [r["dead_at_end"] for r in sub], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("learning rate (SGD, momentum 0.9)")
        ax.set_ylabel("fraction of units with input <= 0 everywhere")
        ax.set_title(f"initial hidden bias {bias}")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
