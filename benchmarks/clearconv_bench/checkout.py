"""Time the checkout these scripts belong to (the same code as an editable install), not another copy."""

from __future__ import annotations

import os
import sys

SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")


def use_this_checkout() -> None:
    """Put this checkout's ``src`` first on ``sys.path`` (when it holds clearconv)."""
    if os.path.isdir(os.path.join(SOURCE, "clearconv")) and SOURCE not in sys.path:
        sys.path.insert(0, SOURCE)
