"""Bytes an MLP keeps for backward with each ReLU module (#7: the 1-bit mask).

    python perf/torch_saved_memory.py

Counts the distinct tensor storages autograd saves in one forward pass of a
784-1000-1000-1000-10 MLP on a batch of 256 (float32), through
torch.autograd.graph.saved_tensors_hooks. Linear layers save their input
(the previous activation's output) whatever the activation does, so a plain
Linear-ReLU stack keeps every ReLU output anyway; with dropout after each
ReLU (or a residual add, or frozen weights) nothing else keeps it, and the
mask is all that backward needs.
"""

import torch

import fastrelu.torch as frt


def saved_bytes(make_activation, dropout=False, batch=256, widths=(784, 1000, 1000, 1000, 10)):
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(make_activation())
            if dropout:
                layers.append(torch.nn.Dropout(0.1))
    model = torch.nn.Sequential(*layers)
    storages = {}

    def pack(t):
        if not isinstance(t, torch.nn.Parameter):  # weights are kept anyway
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(batch, widths[0])).sum()
    return sum(storages.values())


def main():
    rows = [("torch.nn.ReLU()", torch.nn.ReLU), ("torch.nn.ReLU(inplace=True)", lambda: torch.nn.ReLU(True)),
            ('frt.ActivationModule("relu")', lambda: frt.ActivationModule("relu")),
            ('frt.ActivationModule("relu", inplace=True)',
             lambda: frt.ActivationModule("relu", inplace=True)),
            ("frt.ReLUMask()", frt.ReLUMask), ("frt.ReLUMask(inplace=True)", lambda: frt.ReLUMask(True))]
    print("| activation module | MiB saved, Linear-ReLU | MiB saved, Linear-ReLU-Dropout |")
    print("|---|---|---|")
    for label, make in rows:
        plain, dropped = saved_bytes(make), saved_bytes(make, dropout=True)
        print(f"| `{label}` | {plain / 2**20:.2f} | {dropped / 2**20:.2f} |")


if __name__ == "__main__":
    main()
