"""Lets the examples run from a source checkout without installing fastrelu."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastrelu.training import load_dataset, pyplot, train  # noqa: E402, F401
