"""The API documentation: every public name documented with an example, and
every example in it runs and prints what it says."""

import doctest
import importlib.util
import inspect
import pathlib
import re

import pytest

import fastrelu


def public_objects():
    """(qualified name, object) of fastrelu's public API, fastrelu.torch's too
    where PyTorch is installed."""
    objects = [(f"fastrelu.{name}", getattr(fastrelu, name)) for name in fastrelu.__all__
               if name != "__version__"]
    return objects


def documented_with_example(obj):
    doc = inspect.getdoc(obj) or ""
    return ">>>" in doc


@pytest.mark.parametrize("qualified, obj", public_objects(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_name_has_a_docstring_with_an_example(qualified, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{qualified} has no docstring"
    assert documented_with_example(obj), f"{qualified}'s docstring has no example"


@pytest.fixture
def registry_restored():
    """Examples may register a backend or set the default: put both back."""
    from fastrelu import registry

    saved, default = dict(registry._registry), registry._process_default
    yield
    registry._registry.clear()
    registry._registry.update(saved)
    registry._process_default = default


@pytest.mark.parametrize("qualified, obj", public_objects(), ids=lambda v: v if isinstance(v, str) else "")
def test_docstring_examples_run(qualified, obj, registry_restored):
    doc = inspect.getdoc(obj) or ""
    test = doctest.DocTestParser().get_doctest(doc, {}, qualified, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    messages = []
    runner.run(test, out=messages.append)
    assert runner.failures == 0, "".join(messages)


ROOT = pathlib.Path(__file__).resolve().parents[1]


def reference_pages():
    """The API reference pages' text as MkDocs builds them: the activations'
    entries put in by docs/hooks/reference.py (made from the table)."""
    spec = importlib.util.spec_from_file_location("reference_hook",
                                                  ROOT / "docs" / "hooks" / "reference.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return "\n".join(hook.expand(page.read_text())
                     for page in sorted((ROOT / "docs" / "reference").glob("*.md")))


def test_every_public_name_is_in_the_api_reference():
    entries = set(re.findall(r"^::: fastrelu\.(\w+)$", reference_pages(), re.M))
    missing = [name for name in fastrelu.__all__ if name != "__version__" and name not in entries]
    assert not missing, f"not in docs/reference/*.md: {missing}"
    assert {*fastrelu.activations(), "relu_backward", "tanh_backward_from_output"} <= entries
