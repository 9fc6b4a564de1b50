"""The release: ``python -m build`` makes an sdist and a wheel, and the wheel
installed into a fresh virtual environment outside the repository works."""

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Builds and installs a wheel in a new environment: `make test-slow`.
pytestmark = pytest.mark.slow

SMOKE = """
import subprocess, sys
from importlib import resources
import numpy as np
import fastrelu

assert fastrelu.__file__.startswith(sys.prefix), fastrelu.__file__  # the wheel's, not the clone's
assert resources.files("fastrelu").joinpath("py.typed").is_file()
x = np.array([-1.0, 0.5, 2.0], np.float32)
for backend in fastrelu.backends():
    if backend != "cuda":
        assert fastrelu.relu(x, backend=backend).tolist() == [0.0, 0.5, 2.0], backend
        assert fastrelu.silu_backward(np.ones(3, np.float32), x, backend=backend).dtype == np.float32
info = subprocess.run([sys.executable, "-m", "fastrelu", "info"], capture_output=True, text=True)
assert info.returncode == 0 and "dtypes:" in info.stdout, info.stdout + info.stderr
print("smoke test passed:", fastrelu.__version__, ", ".join(fastrelu.backends()))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the build backend (setuptools, a test dependency) is
    # taken from this environment, so that no network is needed.
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation",
                    "--outdir", str(out), str(ROOT)], check=True, capture_output=True, text=True)
    return out


def test_build_gives_an_sdist_and_a_wheel_with_the_package(dist):
    import fastrelu

    (wheel,) = dist.glob("fastrelu-*.whl")
    (sdist,) = dist.glob("fastrelu-*.tar.gz")
    assert f"-{fastrelu.__version__}-" in wheel.name  # the version from its one place
    names = zipfile.ZipFile(wheel).namelist()
    for member in ("fastrelu/__init__.py", "fastrelu/py.typed", "fastrelu/cpu/backends.py",
                   "fastrelu/cuda/kernels.py", "fastrelu/torch/functional.py"):
        assert member in names
    assert not any(n.startswith(("tests/", "perf/")) or "__pycache__" in n for n in names)
    with tarfile.open(sdist) as archive:
        assert any(n.endswith("/pyproject.toml") for n in archive.getnames())


def test_the_wheel_works_in_a_fresh_environment_outside_the_clone(dist, tmp_path):
    import numpy

    (wheel,) = dist.glob("fastrelu-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    # The dependencies (numpy, numba, llvmlite) from this environment, by
    # path: no network, and not this environment's editable fastrelu.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(str(Path(numpy.__file__).parents[1]) + "\n")
    # A user's environment: none of the test run's settings (the CUDA simulator).
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    result = subprocess.run([str(python), "-c", SMOKE], cwd=tmp_path, capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test passed" in result.stdout
