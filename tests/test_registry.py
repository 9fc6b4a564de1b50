import math
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastrelu
from fastrelu import dispatch, registry


def test_backends_lists_cpu_backends_auto_first():
    names = fastrelu.backends()
    assert names[0] == "auto"
    for name in ["numpy", "numba", "numba-parallel", "numba-ufunc"]:
        assert name in names


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match="numba-parallel"):
        fastrelu.relu(np.ones(3), backend="nope")
    with pytest.raises(ValueError, match="available backends"):
        fastrelu.set_backend("nope")
    with pytest.raises(ValueError):
        with fastrelu.use_backend("nope"):
            fastrelu.relu(np.ones(1))


def test_backend_name_must_be_a_string():
    with pytest.raises(TypeError):
        fastrelu.relu(np.ones(3), backend=3)


def test_set_backend_and_use_backend_and_call_keyword(monkeypatch):
    calls = []

    class Spy(fastrelu.Backend):
        name = "spy"

        def run(self, activation, direction, inputs, out, params):
            calls.append(activation.name)
            out[...] = 42

    fastrelu.register_backend(Spy())
    try:
        before = fastrelu.get_backend()
        with fastrelu.use_backend("spy"):
            assert fastrelu.get_backend() == "spy"
            assert fastrelu.relu(np.ones(2))[0] == 42
            # backend= wins over the block
            assert fastrelu.relu(np.ones(2), backend="numpy")[0] == 1
        assert fastrelu.get_backend() == before
        fastrelu.set_backend("spy")
        assert fastrelu.relu(np.ones(2))[0] == 42
        with fastrelu.use_backend("numba"):  # the block wins over the process default
            assert fastrelu.relu(np.ones(2))[0] == 1
    finally:
        fastrelu.set_backend("auto")
        registry._registry.pop("spy")
    assert calls == ["relu", "relu"]


def test_register_backend_refuses_duplicates_and_bad_objects():
    with pytest.raises(ValueError, match="already registered"):
        fastrelu.register_backend(fastrelu.cpu.backends.SerialBackend())
    with pytest.raises(TypeError):
        fastrelu.register_backend(object())

    class Nameless(fastrelu.Backend):
        """A backend that forgot its name."""

    with pytest.raises(ValueError):
        fastrelu.register_backend(Nameless())


def test_unavailable_backend_is_hidden_and_refused():
    class Absent(fastrelu.Backend):
        name = "absent"

        def unavailable_reason(self):
            return "no such hardware"

    fastrelu.register_backend(Absent())
    try:
        assert "absent" not in fastrelu.backends()
        assert fastrelu.all_backends()["absent"] == "no such hardware"
        with pytest.raises(RuntimeError, match="no such hardware"):
            fastrelu.relu(np.ones(2), backend="absent")
    finally:
        registry._registry.pop("absent")


def test_use_backend_is_per_thread():
    seen = {}
    entered = threading.Event()
    done = threading.Event()

    def inside():
        with fastrelu.use_backend("numpy"):
            seen["inside"] = fastrelu.get_backend()
            entered.set()
            done.wait(5)

    t = threading.Thread(target=inside)
    t.start()
    entered.wait(5)
    seen["outside"] = fastrelu.get_backend()
    done.set()
    t.join()
    assert seen == {"inside": "numpy", "outside": "auto"}


def test_auto_picks_serial_for_small_and_parallel_for_large(monkeypatch):
    config = fastrelu._config
    # A window no preemption outlasts: "right after" stays right after.
    monkeypatch.setattr(config, "POOL_WARM_SECONDS", 60.0)
    small = np.ones(10)
    middle = np.ones(config.PARALLEL_THRESHOLD, np.float32)
    large = np.ones(config.COLD_PARALLEL_THRESHOLD, np.float32)
    # Long after any large call: the pool's workers sleep, and only large
    # calls pay for waking them.
    monkeypatch.setattr(dispatch, "_last_large_call", -math.inf)
    assert dispatch.resolve("auto", small).name == "numba"
    assert dispatch.resolve("auto", middle).name == "numba"
    assert dispatch.resolve("auto", large).name == "numba-parallel"
    # Right after a large call they are awake: from the parallel threshold up.
    dispatch.large_call_ended()
    assert dispatch.resolve("auto", middle).name == "numba-parallel"
    assert dispatch.resolve("auto", small).name == "numba"
    # The switch is in bytes: half as many float64 elements go parallel.
    half = config.PARALLEL_THRESHOLD // 2
    half64, half32 = np.ones(half, np.float64), np.ones(half, np.float32)
    dispatch.large_call_ended()
    assert dispatch.resolve("auto", half64).name == "numba-parallel"
    assert dispatch.resolve("auto", half32).name == "numba"
    monkeypatch.setattr(dispatch, "_last_large_call", -math.inf)
    assert dispatch.resolve("auto", np.ones(config.COLD_PARALLEL_THRESHOLD // 2)).name == \
        "numba-parallel"


def test_back_to_back_calls_wake_the_pool_and_interleaved_ones_do_not(monkeypatch):
    """What a call on auto notes: every call of PARALLEL_THRESHOLD bytes and
    more, serial or parallel, makes the next one within the warm window
    parallel."""
    x = np.ones(fastrelu._config.PARALLEL_THRESHOLD, np.float32)
    monkeypatch.setattr(dispatch, "_last_large_call", -math.inf)
    fastrelu.relu(x, out=x)  # cold: serial, and noted
    assert dispatch._last_large_call > -math.inf
    monkeypatch.setattr(dispatch, "_last_large_call", -math.inf)
    fastrelu.relu(x[:100], out=x[:100])  # small calls note nothing
    assert dispatch._last_large_call == -math.inf


def _run(code, cwd=None, **env):
    full_env = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_environment_variable_sets_the_default():
    result = _run("import fastrelu; print(fastrelu.get_backend())", FASTRELU_BACKEND="numba-ufunc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numba-ufunc"


def test_bad_environment_variable_gives_a_clear_error():
    result = _run("import fastrelu, numpy; fastrelu.relu(numpy.ones(3))", FASTRELU_BACKEND="bogus")
    assert result.returncode != 0
    assert "unknown backend 'bogus'" in result.stderr and "numba" in result.stderr


def test_import_compiles_nothing_and_leaves_cuda_alone():
    code = ("import sys, fastrelu; "
            "print('numba' in sys.modules, any(m.startswith('numba.cuda') for m in sys.modules))")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_compiles_where_numba_cannot_cache():
    # A function with no source file: Numba refuses cache=True for it at
    # decoration time, as it does for a read-only install; we fall back.
    namespace = {}
    exec("def triple(x):\n    return 3 * x\n", namespace)
    compiled = fastrelu._compiler.njit(namespace["triple"], cache=True)
    assert compiled(2.0) == 6.0


@pytest.mark.slow  # new processes on cold caches: `make test-slow`
def test_builtin_kernels_load_from_the_cache_in_a_new_process(tmp_path):
    # The strided call runs the loop itself, the contiguous one the fast
    # path's checked entry around it.
    code = ("import numpy, fastrelu; from fastrelu import dispatch, registry; "
            "fastrelu.elu(numpy.ones(6, numpy.float32)[::2], backend='numba'); "
            "fastrelu.elu(numpy.ones(3, numpy.float32), backend='numba'); "
            "k = registry.lookup('numba').kernel(fastrelu.elu.definition, 'forward', 1); "
            "e = fastrelu.elu.fast_path.entries['numba']._dispatcher; "
            "print(sum(k.stats.cache_hits.values()), sum(e.stats.cache_hits.values()))")
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    _run(code, **env)  # compiles and saves
    assert _run(code, **env).stdout.split()[-2:] == ["1", "1"]  # loads


@pytest.mark.slow  # new processes on cold caches: `make test-slow`
def test_read_only_cache_directory_still_works(tmp_path):
    # NUMBA_CACHE_DIR pointing at a file: no cache can be written there.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = _run("import numpy, fastrelu; print(fastrelu.elu(numpy.array([-1.0, 2.0])))",
                  NUMBA_CACHE_DIR=str(blocker / "cache"))
    assert result.returncode == 0, result.stderr
    assert "2." in result.stdout


def test_a_backend_implementing_some_operations_refuses_the_others_by_name():
    class Partial(fastrelu.Backend):
        name = "partial"
        operations = frozenset({"activation", "bias_relu"})

        def run(self, activation, direction, inputs, out, params):
            out[...] = 7

        def bias_relu(self, x, bias, out):
            out[...] = 8

    fastrelu.register_backend(Partial())
    try:
        x = np.ones((2, 3), np.float32)
        bias = np.zeros(3, np.float32)
        assert (fastrelu.relu(x, backend="partial") == 7).all()
        assert (fastrelu.bias_relu(x, bias, backend="partial") == 8).all()
        refused = {
            "relu_mask": lambda: fastrelu.relu_mask(x, backend="partial"),
            "relu_backward_mask": lambda: fastrelu.relu_backward_mask(
                x, np.zeros(1, np.uint8), backend="partial"),
            "bias_relu_backward": lambda: fastrelu.bias_relu_backward(x, x, bias, backend="partial"),
            "prelu": lambda: fastrelu.prelu(x, 0.25, backend="partial"),
            "prelu_backward": lambda: fastrelu.prelu_backward(x, x, 0.25, backend="partial"),
        }
        for operation, call in refused.items():
            with pytest.raises(NotImplementedError, match=f"backend 'partial' does not implement "
                               f"{operation} \\(it implements: activation, bias_relu\\)"):
                call()
        # Nothing runs silently elsewhere: not even inside a block of another backend.
        with fastrelu.use_backend("numba"), pytest.raises(NotImplementedError):
            fastrelu.prelu(x, 0.25, backend="partial")
        from fastrelu.__main__ import operations_table
        row = next(line for line in operations_table().splitlines() if "relu_mask" in line)
        assert row.split()[-2:] == ["yes", "-"] or row.split()[-1] == "-"
    finally:
        registry._registry.pop("partial")


def test_every_builtin_backend_implements_what_it_lists():
    """A listed operation is a method of the backend's own class, not the
    base class's refusal."""
    for name in ("numpy", "numba", "numba-parallel", "numba-ufunc", "cuda"):
        backend = registry._registry[name]
        for operation in registry.OPERATIONS:
            method = "run" if operation == "activation" else operation
            if backend.device and hasattr(fastrelu.Backend, method + "_device"):
                method += "_device"
            implemented = getattr(type(backend), method) is not getattr(fastrelu.Backend, method)
            assert implemented == (operation in backend.operations), (name, operation)


STALE_SCRIPT = """
import numpy as np
import fastrelu
# nine elements: the mask loops' last, partial byte runs definitions.relu
x = np.array([-1.0, 2.0, 3.0, -4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
print(fastrelu.relu(x[::-1], backend="numba")[::-1].tolist())  # the strided loop
print(fastrelu.relu(x, backend="numba").tolist())  # the checked entry
print(fastrelu.relu_mask(x, backend="numba")[0][-1])
print(fastrelu.bias_relu(x.reshape(3, 3), np.zeros(3), backend="numba").ravel().tolist())
print(fastrelu.relu(x, backend="numba-ufunc").tolist())  # the ufuncs are cached too
print(fastrelu.__file__)
"""


@pytest.mark.slow  # new processes on cold caches: `make test-slow`
def test_editing_an_inlined_helper_never_loads_a_stale_kernel(tmp_path):
    """Numba invalidates a cached loop when its own file changes, not when a
    formula it inlines from another file does: every cached loop is named
    after a stamp of that code.  Edit relu in a copy of the package, and
    every loop that inlines it (the activation loops, their checked entry,
    the mask loops, the fused loops, the ufuncs) computes the new formula."""
    import shutil

    package = pathlib.Path(fastrelu.__file__).parent
    copy = tmp_path / "src" / "fastrelu"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(copy.parent)}
    before = _run(STALE_SCRIPT, cwd=tmp_path, **env)
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines()[-1] == str(copy / "__init__.py")
    assert _run(STALE_SCRIPT, cwd=tmp_path, **env).stdout == before.stdout  # from the cache now
    definitions = copy / "definitions.py"
    source = definitions.read_text()
    assert "    return 0 if x <= 0 else x + 0\n" in source
    definitions.write_text(source.replace("    return 0 if x <= 0 else x + 0\n",
                                          "    return 0 if x <= 0 else x + 1\n", 1))
    after = _run(STALE_SCRIPT, cwd=tmp_path, **env)
    assert after.returncode == 0, after.stderr
    plus_one = str([0.0, 3.0, 4.0, 0.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    assert after.stdout.splitlines()[:-1] == [plus_one, plus_one, "10.0", plus_one, plus_one], (
        after.stdout)


def test_errors_name_the_function_the_user_called():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="^rrelu_backward: slopes has shape"):
        fastrelu.rrelu_backward(x, x, training=True, slopes=np.ones(3, np.float32))
    with pytest.raises(TypeError, match="^rrelu: x has dtype|^rrelu does not support"):
        fastrelu.rrelu(np.ones(4, np.complex64), training=True)
    with pytest.raises(TypeError, match="^rrelu_backward: slopes has dtype"):
        fastrelu.rrelu_backward(x, x, training=True, slopes=np.ones(4))


def test_one_meaning_for_activation():
    """fastrelu.Activation is what every public activation is; the nn layer
    and the torch module have names of their own (the old ones warn)."""
    from fastrelu import nn

    assert isinstance(fastrelu.relu, fastrelu.Activation)
    with pytest.warns(DeprecationWarning, match="ActivationLayer"):
        assert nn.Activation is nn.ActivationLayer
    assert not hasattr(fastrelu, "ActivationLayer")


def test_the_command_line_honours_the_environments_backend():
    result = _run("import sys; from fastrelu.__main__ import main; "
                  "import fastrelu.__main__ as m; m.info = lambda a: print(a.backend); "
                  "sys.exit(main(['info']))", FASTRELU_BACKEND="numba-ufunc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numba-ufunc"


def test_the_cold_threshold_is_a_setting_info_shows():
    """FASTRELU_COLD_PARALLEL_THRESHOLD equal to the parallel threshold turns
    the rule for calls after other work off: auto is then by size alone."""
    code = ("import numpy, fastrelu; from fastrelu import dispatch; "
            "print(dispatch.resolve('auto', numpy.ones(65536, numpy.float32)).name)")
    assert _run(code).stdout.split() == ["numba"]
    result = _run(code, FASTRELU_COLD_PARALLEL_THRESHOLD="65536")
    assert result.stdout.split() == ["numba-parallel"], result.stderr
    info = subprocess.run([sys.executable, "-m", "fastrelu", "info"], capture_output=True, text=True,
                          env=dict(os.environ, FASTRELU_COLD_PARALLEL_THRESHOLD="3000000"))
    relu = next(line for line in info.stdout.splitlines() if line.split()[:1] == ["relu"])
    assert f"float32 256 / {3000000 * 4 // 1024} KiB" in relu, info.stdout
