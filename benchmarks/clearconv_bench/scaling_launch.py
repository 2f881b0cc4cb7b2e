"""Launching the scaling benchmark's configurations with mpirun, in turns.

A configuration is ``processes x threads`` on this machine's cores: 1 x 2
(one process, two BLAS threads) and 2 x 1 (two processes, one thread each).
Both go through ``mpirun -n P``, the one-process case too: the launcher, its
environment and the process start-up are then the same for both, and with one
process ``DataParallel()`` has world size 1 (no sharding, no mpi4py), exactly
the code a plain ``python`` run takes. The thread variables (OPENBLAS, OMP,
MKL and NUMBA_NUM_THREADS) are set in the launch's environment, so NumPy's
BLAS reads them when it loads in each process. (clearconv's numba kernels are
serial, so NUMBA_NUM_THREADS changes nothing today; it is set so that a
parallel kernel could not take more cores than the configuration has.)

Turn k launches the configurations in the order given when k is even and
reversed when k is odd (:func:`.turns.turn_order`). Each launch trains every
model and batch and times only the steps, not the start-up
(:mod:`.scaling_worker`); the records of turn k are kept apart.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .threads import THREAD_VARIABLES
from .turns import turn_order

# name -> (processes, threads per process)
CONFIGURATIONS = {"1x2": (1, 2), "2x1": (2, 1)}
SCRIPT = Path(__file__).resolve().parents[1] / "scaling.py"
LAUNCH_TIMEOUT = 600.0


def find_mpirun() -> str | None:
    """mpirun next to this Python first (the mpich wheel installs it there), then on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    if beside.exists():
        return str(beside)
    return shutil.which("mpirun") or shutil.which("mpiexec")


def launch_environment(threads: int, environ=os.environ) -> dict:
    """``environ`` with every thread variable (and NUMBA_NUM_THREADS) set to ``threads``."""
    env = dict(environ)
    for variable in THREAD_VARIABLES + ("NUMBA_NUM_THREADS",):
        env[variable] = str(threads)
    return env


def launch_command(mpirun: str, processes: int, worker_arguments: list[str], version_text: str = "") -> list[str]:
    """``mpirun -n P python benchmarks/scaling.py --worker ...``; Open MPI gets --oversubscribe and
    --allow-run-as-root (containers run as root), MPICH needs neither."""
    command = [mpirun, "-n", str(processes)]
    if "Open MPI" in version_text or "OpenRTE" in version_text:
        command += ["--oversubscribe", "--allow-run-as-root"]
    return command + [sys.executable, str(SCRIPT), "--worker", *worker_arguments]


def launch(mpirun: str, processes: int, threads: int, worker_arguments: list[str], version_text: str = "",
           timeout: float = LAUNCH_TIMEOUT) -> dict:
    """One launch; rank 0's result (:func:`.scaling_worker.measure`) with ``launch_seconds`` added.

    A failed launch raises RuntimeError with the end of its output."""
    with tempfile.TemporaryDirectory(prefix="clearconv-scaling-") as folder:
        out = Path(folder) / "result.json"
        command = launch_command(mpirun, processes, [*worker_arguments, "--out", str(out)], version_text)
        started = time.perf_counter()
        # A clean working directory: a file there named like a standard module would shadow it in every rank.
        result = subprocess.run(command, cwd=folder, env=launch_environment(threads), capture_output=True,
                                text=True, timeout=timeout)
        seconds = time.perf_counter() - started
        if result.returncode != 0 or not out.exists():
            tail = (result.stdout + result.stderr)[-3000:]
            raise RuntimeError(f"scaling: `{' '.join(command)}` failed with exit status {result.returncode}:\n{tail}")
        found = json.loads(out.read_text())
    found["launch_seconds"] = seconds
    return found


def mpirun_version(mpirun: str) -> str:
    """The text of ``mpirun --version`` (which MPI runs the launches)."""
    return subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout


def describe_mpi(version_text: str) -> str:
    """One line naming the MPI: Open MPI's first line, or MPICH with its Hydra ``Version:``."""
    lines = [line.strip() for line in version_text.splitlines() if line.strip()]
    if not lines:
        return "unknown"
    version = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Version:")), None)
    if lines[0].startswith("HYDRA") and version:                    # MPICH's launcher prints its build details
        return f"MPICH (Hydra {version})"
    return lines[0]


def run_turns(turns: int, worker_arguments: list[str], mpirun: str, log: Callable = print,
              launcher: Callable = launch, configurations: dict = CONFIGURATIONS) -> dict:
    """Every configuration launched once per turn, in :func:`.turns.turn_order`.

    Returns ``{"turns": [{configuration: launch result}], "first": [configuration that went first]}``.
    """
    version = mpirun_version(mpirun)
    per_turn, first = [], []
    for turn in range(turns):
        order = turn_order(list(configurations), turn)
        first.append(order[0])
        results = {}
        for name in order:
            processes, threads = configurations[name]
            results[name] = launcher(mpirun, processes, threads, worker_arguments, version)
            log(f"  turn {turn + 1}/{turns}: {name} ({processes} process(es) x {threads} thread(s)) done in "
                f"{results[name]['launch_seconds']:.1f} s")
        per_turn.append(results)
    return {"turns": per_turn, "first": first, "mpi": describe_mpi(version)}
