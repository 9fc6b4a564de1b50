"""tests/mutations.py's table, checked without running it: every planted bug
still applies to the current sources (its text occurs exactly once), the
mutated file still parses, and its tests exist.  A refactor that moves the
code a mutation targets fails here, in the normal suite."""

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("fastrelu_mutations", ROOT / "tests" / "mutations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


mutations = _load()
MUTATIONS = mutations.MUTATIONS


def test_the_table_is_well_formed():
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names)), "mutation names must be unique"
    assert len(MUTATIONS) >= 9
    for m in MUTATIONS:
        assert re.fullmatch(r"[a-z0-9_]+", m.name), m.name
        assert m.find and m.find != m.replace, m.name
        assert m.tests and all(isinstance(t, str) and t.startswith("tests/test_") for t in m.tests), m.name
        assert m.why, m.name
        assert (ROOT / m.path).is_file(), m.path
        assert m.path.split("/")[0] in mutations.COPIED, m.path


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_applies_once_and_still_parses(mutation):
    source = (ROOT / mutation.path).read_text()
    assert source.count(mutation.find) == 1, (
        f"{mutation.name}: its text occurs {source.count(mutation.find)} times in {mutation.path}; "
        "update tests/mutations.py to the code it targets")
    ast.parse(mutation.apply(source), mutation.path)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutations_tests_exist(mutation):
    for test in mutation.tests:
        path, _, node = test.partition("::")
        assert (ROOT / path).is_file(), test
        assert path.split("/")[0] in mutations.COPIED
        if node:
            function = node.split("[")[0]
            assert re.search(rf"^def {re.escape(function)}\(", (ROOT / path).read_text(), re.M), test


def test_a_mutation_that_no_longer_applies_is_an_error():
    m = MUTATIONS[0]
    with pytest.raises(mutations.MutationDoesNotApply):
        m.apply("")
    with pytest.raises(mutations.MutationDoesNotApply):
        m.apply(m.find + m.find)
