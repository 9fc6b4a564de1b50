"""Training helpers shared by the examples and ``python -m fastrelu train``:
data sets that need no download, a mini-batch training loop, progress bars.

Needs the optional ``examples`` extra (scikit-learn, mnist1d, tqdm, matplotlib)
for the data sets, bars and figures.
"""

import sys
import time

import numpy as np

from . import nn


def load_dataset(name, seed=0, limit=None):
    """(x_train, y_train, x_test, y_test) as float32 / int64, standardised.

    ``digits``: scikit-learn's bundled 8x8 digits (1797 images), a stratified
    80/20 split.  ``mnist1d``: generated offline with the ``mnist1d`` package
    (4000 train / 1000 test, the paper's default arguments and seed 42).
    """
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise SystemExit(
                "--dataset digits needs scikit-learn: pip install 'fastrelu[examples]'") from None
        data = load_digits()
        x, y = data.data.astype(np.float32), data.target.astype(np.int64)
        rng = np.random.default_rng(seed)
        test = np.zeros(len(y), bool)
        for label in np.unique(y):  # stratified 20% test split
            idx = rng.permutation(np.flatnonzero(y == label))
            test[idx[: len(idx) // 5]] = True
        x_train, y_train, x_test, y_test = x[~test], y[~test], x[test], y[test]
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    elif name == "mnist1d":
        try:
            import mnist1d
            from mnist1d.data import make_dataset
        except ImportError:
            raise SystemExit(
                "--dataset mnist1d needs the mnist1d package: pip install mnist1d") from None
        args = mnist1d.get_dataset_args()
        data = make_dataset(args)  # generated here: never the download path
        x_train, y_train = data["x"].astype(np.float32), data["y"].astype(np.int64)
        x_test, y_test = data["x_test"].astype(np.float32), data["y_test"].astype(np.int64)
    else:
        raise SystemExit(f"unknown dataset {name!r}: use digits or mnist1d")
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[: max(limit // 4, 10)], y_test[: max(limit // 4, 10)]
    return (np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test)


def pyplot():
    """matplotlib's pyplot drawing to files, or None (with a note) when it is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return None
    return plt


def progress(iterable, total, desc, enabled=True):
    """tqdm when it is installed and wanted, else the plain iterable."""
    if enabled:
        try:
            from tqdm import tqdm
            return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stderr)
        except ImportError:
            pass
    return iterable


def train(model, data, *, steps=None, epochs=None, batch_size=100, lr=1e-3, optimizer="adam",
          momentum=0.9, clip=None, seed=0, bar=True, track_first_layer_grad=False, desc="train"):
    """Train with mini-batches; returns a history of per-epoch metrics.

    Stop after ``steps`` updates or ``epochs`` passes, whichever is given.
    """
    x_train, y_train, x_test, y_test = data
    rng = np.random.default_rng(seed)
    loss_fn = nn.SoftmaxCrossEntropy()
    params = model.parameters()
    opt = nn.Adam(params, lr=lr) if optimizer == "adam" else nn.SGD(params, lr=lr, momentum=momentum)
    per_epoch = -(-len(y_train) // batch_size)
    total = steps if steps is not None else epochs * per_epoch
    history, step, epoch = [], 0, 0
    bar_ = progress(range(total), total, desc, enabled=bar)
    iterator = iter(bar_)
    while step < total:
        epoch += 1
        start, losses, grad_norms = time.perf_counter(), [], []
        for idx in nn.batches(len(y_train), batch_size, rng):
            if step >= total:
                break
            logits = model.forward(x_train[idx])
            losses.append(loss_fn(logits, y_train[idx]))
            model.backward(loss_fn.backward().astype(logits.dtype))
            if track_first_layer_grad:
                first = params[0].grad
                grad_norms.append(float(np.sqrt((first.astype(np.float64) ** 2).sum())))
            if clip:
                nn.clip_grad_norm(params, clip)
            opt.step()
            step += 1
            next(iterator, None)
            if hasattr(bar_, "set_postfix") and step % 20 == 0:
                bar_.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        seconds = time.perf_counter() - start
        record = {"epoch": epoch, "step": step, "loss": float(np.mean(losses)),
                  "train_acc": nn.accuracy(model, x_train, y_train),
                  "test_acc": nn.accuracy(model, x_test, y_test), "seconds": seconds}
        if track_first_layer_grad:
            record["first_layer_grad"] = float(np.mean(grad_norms))
        history.append(record)
        if hasattr(bar_, "set_postfix"):
            bar_.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['test_acc']:.3f}")
    if hasattr(bar_, "close"):
        bar_.close()
    return history


#: The two standard runs: ``digits`` trains 64-128-128-10 with Adam; ``mnist1d``
#: is the MNIST-1D paper's MLP (40-100-100-10, residual middle layer, Adam at
#: lr 1e-2, batch 100, 6000 steps, seed 42).
PRESETS = {
    "digits": dict(sizes=[64, 128, 128, 10], lr=1e-3, batch_size=32, epochs=30, steps=None,
                   residual=False, seed=0),
    "mnist1d": dict(sizes=[40, 100, 100, 10], lr=1e-2, batch_size=100, epochs=None, steps=6000,
                    residual=True, seed=42),
}


def train_mlp(dataset="digits", activation="relu", backend="auto", *, seed=None, epochs=None,
              steps=None, limit=None, bar=True):
    """Train a preset MLP; returns ``(result, history, model)``.

    ``result`` holds the test accuracy, time per epoch and the dead-unit
    fraction per hidden layer.
    """
    preset = dict(PRESETS[dataset])
    if epochs is not None:
        preset.update(epochs=epochs, steps=None)
    if steps is not None:
        preset.update(steps=steps, epochs=None)
    seed = preset["seed"] if seed is None else seed
    data = load_dataset(dataset, seed=seed, limit=limit)
    model = nn.mlp(preset["sizes"], activation, backend=backend, rng=seed,
                   residual_middle=preset["residual"])
    start = time.perf_counter()
    history = train(model, data, steps=preset["steps"], epochs=preset["epochs"],
                    batch_size=preset["batch_size"], lr=preset["lr"], seed=seed, bar=bar,
                    desc=f"{dataset} {getattr(activation, 'name', activation)} {backend}")
    elapsed = time.perf_counter() - start
    result = {
        "dataset": dataset, "activation": getattr(activation, "name", activation),
        "backend": backend, "seed": seed, "test_accuracy": history[-1]["test_acc"],
        "best_test_accuracy": max(h["test_acc"] for h in history),
        "epochs": len(history), "steps": history[-1]["step"], "train_seconds": round(elapsed, 2),
        "seconds_per_epoch": round(float(np.median([h["seconds"] for h in history])), 4),
        "dead_fraction_per_layer": [round(d, 3) for d in nn.dead_fractions(model, data[0])],
    }
    return result, history, model


def describe(result):
    return (f"{result['dataset']}: {result['activation']} on {result['backend']}: test accuracy "
            f"{result['test_accuracy']:.4f} (best {result['best_test_accuracy']:.4f}) after "
            f"{result['steps']} steps, {result['seconds_per_epoch'] * 1e3:.1f} ms per epoch, "
            f"dead units per layer {result['dead_fraction_per_layer']}")
