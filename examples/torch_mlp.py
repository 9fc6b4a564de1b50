"""The MNIST-1D MLP in PyTorch, with fastrelu's autograd functions against
``torch.nn.ReLU``: same data, same seed, same steps.

    python examples/torch_mlp.py [--steps 6000] [--backend auto] [--device cuda]

With ``--device cuda`` the model, the data and every activation run on the
GPU (PyTorch CUDA tensors; fastrelu's ``cuda`` backend, on PyTorch's
current stream).  Needs PyTorch (``pip install 'fastrelu[torch]'``); without it the script
says so and exits.
"""

import argparse
import sys
import time

import numpy as np

from _common import load_dataset


def build(torch, activation):
    torch.manual_seed(42)
    lin1, lin2, lin3 = torch.nn.Linear(40, 100), torch.nn.Linear(100, 100), torch.nn.Linear(100, 10)

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin1, self.lin2, self.lin3, self.act = lin1, lin2, lin3, activation

        def forward(self, x):
            h = self.act(self.lin1(x))
            h = h + self.act(self.lin2(h))  # the residual middle layer
            return self.lin3(h)

    return MLP()


def run(torch, model, data, steps, batch=100, lr=1e-2, device="cpu"):
    x, y, xt, yt = (torch.from_numpy(a).to(device) for a in data)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = np.random.default_rng(42)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.from_numpy(gen.integers(0, len(y), batch)).to(device)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device != "cpu":
        torch.cuda.synchronize()  # the queued steps are part of the time
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        acc = float((model(xt).argmax(1) == yt).float().mean())
    return acc, elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--backend", default="auto")
    p.add_argument("--device", default="cpu", help="cpu, or cuda for PyTorch CUDA tensors")
    args = p.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch_mlp.py needs PyTorch: pip install 'fastrelu[torch]'")
        return None
    import fastrelu.torch as frt

    data = load_dataset("mnist1d")
    results = {}
    fast = frt.ActivationModule("relu", backend=args.backend)
    for label, act in [("torch.nn.ReLU", torch.nn.ReLU()), (f"fastrelu relu ({args.backend})", fast)]:
        acc, seconds = run(torch, build(torch, act), data, args.steps, device=args.device)
        results[label] = (acc, seconds)
        print(f"{label:>28}: test accuracy {acc:.4f}, {seconds:.1f} s for {args.steps} steps")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 0)
