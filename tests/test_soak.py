"""The soak run's 30-second form (perf/soak.py): random calls from threads
and from forked and spawned processes, every result checked."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # 34 s: `make test-slow`


def test_a_30_second_soak_finds_nothing_wrong(tmp_path):
    summary = tmp_path / "soak.json"
    result = subprocess.run([sys.executable, str(ROOT / "perf" / "soak.py"), "--seconds", "30",
                             "--threads", "2", "--processes", "2", "--json", str(summary)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(summary.read_text())
    assert figures["operations"] > 50 and figures["wrong"] == 0 and figures["exceptions"] == 0
