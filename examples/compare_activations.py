"""Deep MLPs with saturating and non-saturating activations, side by side.

Trains the same deep MLP (10 hidden layers by default) on the digits data
with sigmoid, tanh, relu, leaky_relu, elu and gelu, and records per epoch the
loss, the test accuracy and the gradient norm of the first layer.  The claim
under test: saturating activations make early-layer gradients vanish in deep
networks and converge more slowly; ReLU does not.

    python examples/compare_activations.py [--depth 10] [--epochs 15] [--out results/]
"""

import argparse
import json
from pathlib import Path


from _common import load_dataset, pyplot, train

from fastrelu import nn

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=10, help="hidden layers")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--lr", type=float, default=0.01, help="SGD with momentum 0.9")
    p.add_argument("--backend", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activations", nargs="+", default=ACTIVATIONS)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--out", default="results", help="folder for the figure, table and JSON")
    p.add_argument("--no-bar", action="store_true")
    args = p.parse_args(argv)

    data = load_dataset("digits", seed=args.seed, limit=args.limit)
    sizes = [data[0].shape[1]] + [args.width] * args.depth + [10]
    runs = {}
    for name in args.activations:
        # The same seed for every activation: the same initial weights up to
        # the init rule (He for the ReLU family, Xavier for sigmoid and tanh).
        model = nn.mlp(sizes, name, backend=args.backend, rng=args.seed)
        runs[name] = train(model, data, epochs=args.epochs, batch_size=64, lr=args.lr,
                           optimizer="sgd", seed=args.seed, bar=not args.no_bar,
                           track_first_layer_grad=True, desc=name)
        last = runs[name][-1]
        print(f"{name:>10}: loss {last['loss']:.3f}, test accuracy {last['test_acc']:.3f}, "
              f"first-layer gradient norm (epoch 1) {runs[name][0]['first_layer_grad']:.2e}")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(runs)
    (out / "compare_activations.md").write_text(table + "\n")
    (out / "compare_activations.json").write_text(json.dumps(
        {"depth": args.depth, "width": args.width, "lr": args.lr, "runs": runs}, indent=1))
    print()
    print(table)
    figure(runs, out / "compare_activations.png", args.depth)
    return runs


def markdown(runs):
    lines = ["| activation | first-layer grad norm, epoch 1 | loss, epoch 1 | loss, last | "
             "test accuracy, last | epochs to 90% test |", "|---|---|---|---|---|---|"]
    for name, hist in runs.items():
        reach = next((h["epoch"] for h in hist if h["test_acc"] >= 0.9), None)
        lines.append(f"| {name} | {hist[0]['first_layer_grad']:.2e} | {hist[0]['loss']:.3f} | "
                     f"{hist[-1]['loss']:.3f} | {hist[-1]['test_acc']:.3f} | "
                     f"{reach if reach is not None else 'never'} |")
    return "\n".join(lines)


def figure(runs, path, depth):
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, hist in runs.items():
        epochs = [h["epoch"] for h in hist]
        axes[0].plot(epochs, [h["loss"] for h in hist], label=name)
        axes[1].plot(epochs, [h["test_acc"] for h in hist], label=name)
        axes[2].plot(epochs, [h["first_layer_grad"] for h in hist], label=name)
    axes[0].set_ylabel("training loss")
    axes[1].set_ylabel("test accuracy")
    axes[2].set_ylabel("first-layer gradient norm")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.suptitle(f"{depth} hidden layers, digits, SGD with momentum")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
