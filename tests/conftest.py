"""Suite-wide: a test module that imports a missing optional package is skipped, not a collection error.

The `test` extra installs every optional package the tests use (PyTorch and real
Keras as oracles, numba, scikit-learn, Pillow, mnist1d, pydot); a bare
``pip install -e .`` has none of them (.ci/run's ``bare`` and ``numpy-floor``
legs). A test module that imports one at its top fails to import there; this
hook reports that module as skipped, naming the package, so only the tests that
need it are left out. Any other import error (a module of clearconv, a package
not listed here, a listed package that is installed but broken) still fails the
run.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

# importable name -> what installs it
OPTIONAL_PACKAGES = {
    "torch": "PyTorch, the `test` extra",
    "keras": "real Keras 3, the `test` extra",
    "jax": "Keras's jax backend, the `test` extra",
    "numba": "the `fast` extra",
    "sklearn": "scikit-learn, the `data` extra",
    "PIL": "Pillow, the `data` extra",
    "mnist1d": "the `mnist1d` extra",
    "pydot": "the `plot` extra",
}

_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '([A-Za-z0-9_]+)")
_MODULE_LINE = re.compile(r":(\d+): in <module>")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or not isinstance(collector, pytest.Module):
        return
    text = str(report.longrepr)
    missing = _MISSING_MODULE.search(text)
    if missing is None or missing.group(1) not in OPTIONAL_PACKAGES:
        return
    package = missing.group(1)
    if importlib.util.find_spec(package) is not None:  # installed, so the import failed for another reason
        return
    line = _MODULE_LINE.search(text)
    report.outcome = "skipped"
    report.longrepr = (str(collector.path), int(line.group(1)) if line else 0,
                       f"Skipped: {package} is not installed ({OPTIONAL_PACKAGES[package]}); "
                       f"{collector.path.name} imports it")
