"""Import a package that only some datasets need, or say how to install it."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(module: str, package: str, extra: str, needed_for: str) -> ModuleType:
    """Import ``module``; if it is missing raise ImportError naming the pip extra that installs it.

    package: the name on PyPI (scikit-learn for sklearn); extra: the clearconv
    extra that lists it; needed_for: what the caller was doing, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{needed_for} needs the package {package!r}, which is not installed "
                          f"({error}). Install it with: pip install \"clearconv[{extra}]\" "
                          f"(or: pip install {package})") from None
