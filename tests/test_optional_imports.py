"""tests/conftest.py: a module importing a missing optional package is skipped; other import errors still fail.

Runs pytest in a subprocess on a small suite that uses the same hook, with a
made-up optional package name added to its table (every real optional package
is installed where the full suite runs, so the real names cannot be missing here).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SUITE_CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def test_a_missing_optional_package_skips_its_module_and_nothing_else(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("suite_conftest", {str(SUITE_CONFTEST)!r})
        suite = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(suite)
        suite.OPTIONAL_PACKAGES["clearconv_absent_extra"] = "a made-up extra"
        pytest_make_collect_report = suite.pytest_make_collect_report
    """))
    (tmp_path / "test_needs_extra.py").write_text("import clearconv_absent_extra\n\n\ndef test_a():\n    pass\n")
    (tmp_path / "test_broken.py").write_text("import clearconv_absent_required\n\n\ndef test_b():\n    pass\n")
    (tmp_path / "test_plain.py").write_text("def test_c():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider",
                             "--continue-on-collection-errors", str(tmp_path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # the unlisted module's import error still fails the run
    assert "1 passed, 1 skipped, 1 error" in output, output
    assert "clearconv_absent_extra is not installed (a made-up extra); test_needs_extra.py imports it" in output
    assert "ERROR test_broken.py" in output
