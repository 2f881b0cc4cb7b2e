"""The thread count both libraries use, set before NumPy (and its BLAS) is imported.

OpenBLAS reads its thread count from the environment once, when NumPy loads
it; so the scripts parse ``--threads`` and call :func:`set_thread_environment`
before their first ``import numpy``. PyTorch's count is set afterwards with
``torch.set_num_threads``. This module imports nothing heavy for that reason.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_thread_environment(threads: int, environ=os.environ) -> None:
    """Every variable of THREAD_VARIABLES set to ``threads``."""
    for variable in THREAD_VARIABLES:
        environ[variable] = str(threads)
