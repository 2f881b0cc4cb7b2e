"""``clearconv_bench`` (benchmarks/clearconv_bench) for the tests of the benchmarks.

``benchmarks/`` is not on ``sys.path``: the package is registered from its file path once, so tests
import its modules without changing the path of every other test.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
PACKAGE_DIR = BENCHMARKS / "clearconv_bench"


def load(module: str):
    """``clearconv_bench.<module>``, the package registered from its file path (no sys.path change)."""
    if "clearconv_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("clearconv_bench", PACKAGE_DIR / "__init__.py",
                                                      submodule_search_locations=[str(PACKAGE_DIR)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["clearconv_bench"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"clearconv_bench.{module}")
