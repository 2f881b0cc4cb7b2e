"""Data-parallel training over MPI, in Keras 3's words (``keras.distribution``).

    # train.py, run with: mpirun -n 4 python train.py
    import clearconv as keras
    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=128, epochs=5)     # 128 samples per step in all, 32 per process
    if keras.distribution.is_main():
        print("done")

Under an active :class:`DataParallel` with N processes, fit, evaluate and
predict give the model that one process gives with the same global batch
(within floating-point rounding): each process takes a contiguous shard of
every batch, the gradients are summed over the processes, BatchNormalization
uses the global batch's statistics, and losses and metrics are combined before
anyone reads them (see :mod:`clearconv.distribution.data_parallel`). Only rank
0 prints and writes files. Outside an MPI launch ``DataParallel()`` has one
process and changes nothing; mpi4py is imported only in a launch of several
processes (``pip install 'clearconv[mpi]'``), never by ``import clearconv``.

A custom ``train_step`` that calls the optimizer itself differentiates
:func:`scale_loss` of its loss and calls :func:`all_reduce_gradients` before
the optimizer; the default step does both.
"""

from __future__ import annotations

from .data_parallel import (DataParallel, abort_on_error, active, distribution, is_main, rank, set_distribution,
                            shard_bounds, world_size)
from .launch import launch_rank, launch_size, launched_by_mpi


def list_devices(device_type=None) -> list[str]:
    """Keras's ``list_devices``: one ``"cpu:<rank>"`` per process of the current distribution (of the launch
    when none is set). ``device_type`` None or "cpu"."""
    if device_type is not None and str(device_type).lower() != "cpu":
        raise ValueError(f"list_devices: `device_type` must be None or 'cpu' (clearconv computes on CPUs); "
                         f"received device_type={device_type!r}")
    current = distribution()
    count = current.world_size if current is not None else (launch_size() or 1)
    return [f"cpu:{index}" for index in range(count)]


def scale_loss(loss):
    """This process's share of the global batch's loss: ``loss * n_local / n_global`` in a distributed
    training step (``loss`` unchanged otherwise). Differentiate it in a custom ``train_step``."""
    parallel = active()
    return loss if parallel is None else loss * parallel.share


def all_reduce_gradients(variables) -> None:
    """Sum each variable's ``.grad`` over the processes (nothing on one process); call it in a custom
    ``train_step`` after ``scale_loss(loss).backward()`` and before the optimizer."""
    parallel = active()
    if parallel is not None:
        parallel.all_reduce_gradients(list(variables))


__all__ = ["DataParallel", "abort_on_error", "all_reduce_gradients", "distribution", "is_main", "launch_rank",
           "launch_size", "launched_by_mpi", "list_devices", "rank", "scale_loss", "set_distribution",
           "shard_bounds", "world_size"]
