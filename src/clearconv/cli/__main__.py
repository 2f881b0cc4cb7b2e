"""``python -m clearconv.cli``: the ``clearconv`` command."""

import sys

from . import main

sys.exit(main())
