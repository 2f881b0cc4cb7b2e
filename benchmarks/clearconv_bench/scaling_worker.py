"""One launch of the scaling benchmark: every process of ``mpirun -n P`` trains the models and times its steps.

Run by ``benchmarks/scaling.py --worker`` inside an MPI launch (the thread
variables already set by the launcher's environment, before NumPy loads).
For each model and global batch, in the order given:

1. the zoo model, compiled with Adam; seeded random data of the model's
   shape, the same on every process (inputs uniform in [0, 1), random labels,
   random masks for ``unet``); :class:`clearconv.distribution.DataParallel`
   shards each global batch (one process: no sharding, no mpi4py);
2. (all inside :func:`clearconv.kernels.parallel.scope`, as ``fit`` runs its
   steps: one process of two threads splits its large convolutions' batches)
   WARM_UP_STEPS untimed ``train_on_batch`` calls (the first broadcasts rank
   0's weights), then one more with the communicator's ``allreduce_sum``
   wrapped to record the size and dtype of every Allreduce a step makes;
3. a Barrier, then ``steps`` timed steps: the wall time of each, the
   communicator's counters (seconds, calls, bytes in collectives) and the CPU
   that processes outside the job used meanwhile (/proc/stat through
   :class:`.load.CpuMeter`, minus every process of the job's own CPU time);
4. the transfer alone: the recorded Allreduces of one step replayed on zero
   buffers of the same sizes, after a Barrier, so both processes are ready
   and nothing but the transfer is timed; the median of TRANSFER_REPEATS.

Rank 0 gathers every process's figures and returns one record per model and
batch (:func:`measure`); the other ranks return None.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

import clearconv as keras
from clearconv import zoo
from clearconv.kernels import parallel as batch_parts

from .header import apply_malloc_setting, blas_threads
from .load import METER

WARM_UP_STEPS = 2
TRANSFER_REPEATS = 20


def model_data(name: str, batch: int, seed: int):
    """``(model, x, y, loss)``: the zoo model ``name``, its weights drawn after ``set_random_seed(seed)``, and
    seeded random data of its shape, ``batch`` samples.

    x: (batch, *input shape) float32 in [0, 1); y: integer labels (batch,) for
    a softmax classifier, 0/1 masks (batch, H, W, 1) float32 for ``unet``'s
    sigmoid output.
    """
    keras.utils.set_random_seed(seed)              # the same initial weights in every launch and configuration
    model = zoo.get(name)
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *model.input_shape[1:]), dtype=np.float32)
    outputs = model.output_shape[1:]
    if name == "unet":
        y = (rng.random((batch, *outputs)) < 0.5).astype(np.float32)
        loss = "binary_crossentropy"
    else:
        y = rng.integers(0, outputs[-1], size=batch)
        loss = "sparse_categorical_crossentropy"
    return model, x, y, loss


def batchnorm_layers(model) -> int:
    """The number of BatchNormalization layers (each adds three small Allreduces to a distributed step)."""
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _record_allreduces(communicator, step):
    """Run ``step()`` with the communicator's ``allreduce_sum`` recording each call: [(size, dtype name)]."""
    recorded = []
    original = communicator.allreduce_sum

    def recording(buffer, *args, **kwargs):
        recorded.append((int(buffer.size), buffer.dtype.name))
        return original(buffer, *args, **kwargs)

    communicator.allreduce_sum = recording      # an instance attribute shadows the method for this step
    try:
        step()
    finally:
        del communicator.allreduce_sum
    return recorded


def _transfer_seconds(communicator, recorded) -> float:
    """Median seconds of the recorded Allreduces replayed after a Barrier (the transfer, nobody late)."""
    buffers = [np.zeros(size, dtype=dtype) for size, dtype in recorded]
    times = []
    for _ in range(TRANSFER_REPEATS):
        communicator.barrier()
        start = time.perf_counter()
        for buffer in buffers:
            communicator.allreduce_sum(buffer)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_one(name: str, batch: int, steps: int, seed: int, parallel) -> dict | None:
    """One model and global batch on this launch; the record on rank 0, None elsewhere."""
    with batch_parts.scope():
        return _measure_one(name, batch, steps, seed, parallel)


def _measure_one(name: str, batch: int, steps: int, seed: int, parallel) -> dict | None:
    model, x, y, loss = model_data(name, batch, seed)
    model.compile(optimizer="adam", loss=loss)
    communicator = parallel.communicator           # None on one process

    def step():
        return model.train_on_batch(x, y)

    for _ in range(WARM_UP_STEPS):
        step()
    # The last untimed step, one process or several (so both have trained alike before the timed steps).
    if communicator is not None:
        recorded = _record_allreduces(communicator, step)
    else:
        step()
        recorded = []
    if communicator is not None:
        communicator.barrier()                     # every process starts the timed steps together
        communicator.reset_counters()
    cpu_before, meter_before = _own_cpu(), METER.read()
    start = time.perf_counter()
    step_seconds, losses = [], []
    for _ in range(steps):
        began = time.perf_counter()
        losses.append(float(step()))
        step_seconds.append(time.perf_counter() - began)
    wall = time.perf_counter() - start
    meter_after, cpu_after = METER.read(), _own_cpu()
    counters = communicator.counters() if communicator is not None else {"seconds": 0.0, "calls": 0, "bytes": 0}
    transfer = _transfer_seconds(communicator, recorded) if communicator is not None else 0.0
    # (wall, seconds in collectives, calls, bytes, own CPU seconds) of this process -> (processes, 5) on rank 0
    mine = np.array([[wall, counters["seconds"], counters["calls"], counters["bytes"], cpu_after - cpu_before]])
    ranks = communicator.gather_rows(mine) if communicator is not None else mine
    if parallel.rank != 0:
        return None
    # METER counts every CPU but this process's: the job's other processes are not "other load".
    others = max(0.0, meter_after[0] - meter_before[0] - float(ranks[1:, 4].sum()))
    return {
        "model": name, "global_batch": batch, "processes": parallel.world_size, "steps": steps,
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        "batchnorm_layers": batchnorm_layers(model),
        "wall_seconds": wall, "step_seconds": step_seconds,
        "rank_wall_seconds": ranks[:, 0].tolist(), "collective_seconds": ranks[:, 1].tolist(),
        "collective_calls": [int(v) for v in ranks[:, 2]], "collective_bytes": [int(v) for v in ranks[:, 3]],
        "allreduces_per_step": [list(call) for call in recorded],
        "transfer_seconds_per_step": transfer,
        "other_cores": others / (meter_after[1] - meter_before[1]) if meter_after[1] > meter_before[1] else 0.0,
        "losses": losses,
    }


def measure(names, batches, steps: int, seed: int) -> dict | None:
    """Every model and batch on this launch: ``{"records": [...], "threads": ..., "malloc": ...}`` on rank 0,
    None on the other ranks."""
    malloc = apply_malloc_setting()
    parallel = keras.distribution.DataParallel()
    keras.distribution.set_distribution(parallel)
    records = []
    for name in names:
        for batch in batches:
            record = measure_one(name, batch, steps, seed, parallel)
            if record is not None:
                records.append(record)
    if parallel.rank != 0:
        return None
    return {"records": records, "threads": blas_threads(), "malloc": malloc, "processes": parallel.world_size}
