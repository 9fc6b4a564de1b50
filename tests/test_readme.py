"""The README's usage example runs as written."""

import re
from pathlib import Path

import pytest

import fastrelu

README = Path(__file__).resolve().parents[1] / "README.md"


def test_usage_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["y"].shape == (256, 512)
    assert (namespace["y"] >= 0).all()


def run_python_blocks(path, skip_first=False):
    """Run each Python block of a Markdown page on its own, where its
    optional packages are installed; the number of blocks run."""
    import importlib.util

    import pytest

    blocks = re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)
    ran = 0
    for block in blocks[1:] if skip_first else blocks:
        needs = [m for m in ("torch", "dask", "ml_dtypes") if re.search(rf"^import {m}", block, flags=re.M)]
        if any(importlib.util.find_spec(m) is None for m in needs):
            continue
        try:
            exec(compile(block, str(path), "exec"), {})
        except Exception as exc:  # pragma: no cover - the message names the block
            pytest.fail(f"{path.name} block failed ({exc!r}):\n{block}")
        ran += 1
    return ran


def test_every_python_block_runs():
    """Each Python block runs on its own, where its optional packages are installed."""
    run_python_blocks(README, skip_first=True)


DOCS = README.parent / "docs"


def test_every_python_block_in_the_docs_runs():
    pages = [p for p in DOCS.rglob("*.md") if p.name != "architecture.md"]  # its own test below
    assert sum(run_python_blocks(page) for page in pages) >= 8


def test_the_architecture_pages_backend_example_runs():
    from fastrelu import registry

    page = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    assert len(blocks) == 2
    try:
        exec(compile(blocks[1], "docs/architecture.md", "exec"), {})
    finally:
        registry._registry.pop("halved", None)


def test_the_architecture_pages_activation_entry_is_consistent():
    """The page's one entry (softsign) defines an activation whose formulas,
    references and true value agree (tests/test_one_entry.py adds it)."""
    import mpmath
    import numpy as np

    page = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
    entry = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)[0]
    namespace = dict(vars(fastrelu.definitions))
    exec(compile(entry, "docs/architecture.md", "exec"), namespace)
    x = np.array([-2.0, 0.0, 1.5])
    forward, backward = namespace["softsign_ref"](x), namespace["softsign_backward_ref"](np.ones(3), x)
    for i, v in enumerate(x.tolist()):
        assert namespace["softsign"](v) == forward[i]
        assert namespace["softsign_backward"](1.0, v) == backward[i]
        true = namespace["softsign_true"](mpmath.mp, mpmath.mpf(v))
        assert (float(true[0]), float(true[1])) == pytest.approx((forward[i], backward[i]), rel=1e-15)
    assert np.round(forward, 4).tolist() == [-0.6667, 0.0, 0.6]


def test_the_architecture_pages_tree_lists_every_module():
    package = Path(__file__).resolve().parents[1] / "fastrelu"
    page = (package.parent / "docs" / "architecture.md").read_text()
    tree = page.split("```")[1]
    for path in package.rglob("*.py"):
        if path.name != "__init__.py" or path.parent == package:
            stem = path.stem if not path.name.startswith("streaming") else "streaming"
            assert stem in tree, f"{path.relative_to(package)} is missing from the tree"
