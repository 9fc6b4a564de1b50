"""The code base stays ruff-clean and mypy-clean (where they are installed)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean():
    mypy = shutil.which("mypy") or str(Path(sys.executable).with_name("mypy"))
    if not Path(mypy).exists():
        pytest.skip("mypy is not installed")
    result = subprocess.run([mypy, "fastrelu"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_skip_for_a_missing_package_fails_a_run_that_requires_the_extras(tmp_path):
    import os

    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\n"
        "def test_needs_a_package():\n    pytest.importorskip('no_such_package_here')\n\n"
        "def test_no_gpu():\n    pytest.skip('needs a real GPU')\n")
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "FASTRELU_REQUIRE_EXTRAS"}
    plain = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert plain.returncode == 0, plain.stdout
    env["FASTRELU_REQUIRE_EXTRAS"] = "1"
    strict = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert strict.returncode == 1, strict.stdout
    assert "1 test(s) skipped for a missing package" in strict.stdout
    assert "test_needs_a_package" in strict.stdout and "test_no_gpu" not in strict.stdout.split(
        "missing package")[1]
