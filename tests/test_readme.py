"""The README's usage example runs as written."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_usage_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["y"].shape == (256, 512)
    assert (namespace["y"] >= 0).all()


def test_every_python_block_runs():
    """Each Python block runs on its own, where its optional packages are installed."""
    import importlib.util

    import pytest

    for block in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[1:]:
        needs = [m for m in ("torch", "dask") if re.search(rf"^import {m}", block, flags=re.M)]
        if any(importlib.util.find_spec(m) is None for m in needs):
            continue
        namespace = {"arr": np.ones(5), "grad": np.ones(5)}
        try:
            exec(compile(block, "README.md", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message names the block
            pytest.fail(f"README block failed ({exc!r}):\n{block}")
