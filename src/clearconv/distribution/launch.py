"""Whether this process was started by an MPI launcher, read from the environment only (no MPI import).

Each launcher sets variables in every process it starts:

===========================  ==================================  ===============================
launcher                     rank                                number of processes
===========================  ==================================  ===============================
MPICH / Intel MPI (Hydra)    ``PMI_RANK``                        ``PMI_SIZE``
Open MPI                     ``OMPI_COMM_WORLD_RANK``            ``OMPI_COMM_WORLD_SIZE``
MVAPICH2                     ``MV2_COMM_WORLD_RANK``             ``MV2_COMM_WORLD_SIZE``
PMIx launchers (prterun)     ``PMIX_RANK``                       (none: read from MPI)
Slurm's ``srun --mpi=...``   ``PMI_RANK`` or ``PMIX_RANK``       ``PMI_SIZE``
===========================  ==================================  ===============================

``SLURM_PROCID`` alone is not taken as an MPI launch: ``srun`` sets it for
any program, MPI or not.
"""

from __future__ import annotations

import os

# (rank variable, size variable or None), in the order they are read.
LAUNCHER_VARIABLES = (
    ("PMI_RANK", "PMI_SIZE"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"),
    ("PMIX_RANK", None),
)


def _integer(environ, name: str | None) -> int | None:
    value = environ.get(name) if name else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def launched_by_mpi(environ=None) -> bool:
    """True when an MPI launcher (mpirun, mpiexec, srun with MPI) started this process.

    ``environ``: a mapping to read instead of ``os.environ`` (for tests).
    """
    environ = os.environ if environ is None else environ
    return any(_integer(environ, rank) is not None for rank, _ in LAUNCHER_VARIABLES)


def launch_size(environ=None) -> int | None:
    """The number of processes the launcher started, from the environment; None when not launched by MPI
    or when the launcher does not say (PMIx: ask MPI)."""
    environ = os.environ if environ is None else environ
    for rank, size in LAUNCHER_VARIABLES:
        if _integer(environ, rank) is not None:
            return _integer(environ, size)
    return None


def launch_rank(environ=None) -> int | None:
    """This process's rank from the environment; None when not launched by MPI."""
    environ = os.environ if environ is None else environ
    for rank, _ in LAUNCHER_VARIABLES:
        value = _integer(environ, rank)
        if value is not None:
            return value
    return None
