"""DataParallel: synchronous data-parallel training over MPI, equal to one process with the same global batch.

Keras 3's ``keras.distribution.DataParallel`` replicates the model on every
device and splits each batch between them; here the devices are the
processes of an MPI launch (``mpirun -n 4 python train.py``), each with a
whole copy of the model and the data. What fit, evaluate and predict do under
an active DataParallel (:mod:`clearconv.models.training` calls the methods
below):

* every global batch of ``batch_size`` samples (the size the user gave) is
  cut into contiguous shards, one per process, by :func:`shard_bounds`:
  process r of P takes ``B // P`` samples, one more when ``r < B % P``
  (10 over 3: 4, 3, 3), so the shards of a batch are disjoint, cover it and
  do not depend on anything but B, P and r. A shard may be empty (a last
  batch of 2 samples on 3 processes); that process still takes part in
  every collective of the step;
* at the start of fit, rank 0's weights (trainable and not), optimizer
  state and global random generator (:func:`clearconv.utils.global_rng`, which
  shuffles the samples) are broadcast, so every process starts equal and
  draws the same permutation of the samples in every epoch;
* each process differentiates its shard's share of the global batch's loss,
  ``loss_r * n_r / B`` (the compiled losses average over the samples, so this
  is ``sum over the shard / B``; sample weights enter as Keras's
  ``"sum_over_batch_size"`` reduction uses them); the regularisation
  penalties, in every ``loss_r``, add up to one penalty over the processes
  since the shares sum to 1. The gradients are then summed over the
  processes (:meth:`DataParallel.all_reduce_gradients`), which gives every
  process the gradient of the global batch;
* BatchNormalization in training normalises with the global batch's mean and
  variance (as PyTorch's SyncBatchNorm; see
  :func:`clearconv.kernels.normalization.statistics_reduction`), so the
  moving statistics are the same on every process too;
* the metrics' states (sums and counts) are summed over the processes before
  each result is read (:meth:`DataParallel.global_results`), so the logs, the
  History and every callback see the values of the global batch, on every
  process: EarlyStopping and the like decide alike everywhere.

Randomness: layers that draw random numbers (Dropout, the augmentation
layers, GaussianNoise...) draw from a stream of their own on each process,
so the shards get independent masks. An unseeded layer draws, on every
process rank 0 included, from a generator made from the broadcast global
state and the rank (drawing from the global generator itself would change
the sample order of the later epochs on that process alone); a seeded layer
keeps its seed on rank 0 and gets ``[seed, rank]`` elsewhere. A model with
such layers therefore trains as one process would *in distribution*, not
bit for bit.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
import zlib

import numpy as np

from .. import utils
from ..nested import flatten, map_structure
from .launch import launch_size, launched_by_mpi

_SEED_MASK = 0xFFFFFFFF


def shard_bounds(count: int, rank: int, size: int) -> tuple[int, int]:
    """``(start, stop)`` of process ``rank``'s shard of a batch of ``count`` samples over ``size`` processes.

    Contiguous and in rank order: the first ``count % size`` processes take
    ``count // size + 1`` samples, the others ``count // size``.
    """
    base, extra = divmod(count, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def _slice_rows(start: int, stop: int):
    def cut(leaf):
        return leaf[start:stop] if isinstance(leaf, np.ndarray) and leaf.ndim > 0 else leaf
    return cut


def _all_layers(layer):
    """Every layer under ``layer``, itself included (random layers are looked for among them)."""
    seen, stack = set(), [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        children = getattr(current, "layers", None)
        if not isinstance(children, list):
            children = getattr(current, "_sublayers", None)
        stack.extend(children if isinstance(children, list) else [])


class DataParallel:
    """Data parallelism over the processes of an MPI launch: ``DataParallel(device_mesh=None, devices=None,
    auto_shard_dataset=True)``, Keras 3's arguments.

    Outside an MPI launch, or in a launch of one process, the world size is 1
    and nothing changes: fit, evaluate and predict run as without it (and
    mpi4py is not imported). In a launch of several processes, mpi4py
    (``pip install 'clearconv[mpi]'``) connects them.

    Args:
        device_mesh: must be None: the processes form one line (Keras's
            one-axis mesh for data parallelism); clearconv builds no other mesh.
        devices: None, or one name per process, each ``"cpu"`` or
            ``"cpu:<i>"``: every process computes on its CPU cores.
        auto_shard_dataset: must be True: every process reads the whole data
            and takes its shard of each batch itself (data already sharded per
            process, Keras's False, is not supported).

    Attributes:
        rank: this process's index, 0 to ``world_size - 1``.
        world_size: the number of processes.
        communicator: the :class:`~clearconv.distribution.communicator.Communicator`
            (None for one process); its ``counters()`` tell the seconds spent
            in collectives.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None:
            raise ValueError(f"DataParallel: `device_mesh` must be None (the processes of the MPI launch form "
                             f"the one data-parallel axis); received device_mesh={device_mesh!r}")
        if auto_shard_dataset is not True:
            raise ValueError(f"DataParallel: `auto_shard_dataset` must be True (each process reads the whole "
                             f"data and takes its shard of every batch); received "
                             f"auto_shard_dataset={auto_shard_dataset!r}")
        self.communicator = None
        self.rank, self.world_size = 0, 1
        if launched_by_mpi() and (launch_size() or 2) > 1:
            from .communicator import Communicator
            self.communicator = Communicator()
            self.rank, self.world_size = self.communicator.rank, self.communicator.size
        if devices is not None:
            names = list(devices) if isinstance(devices, (list, tuple)) else None
            if names is None or len(names) != self.world_size or not all(
                    isinstance(name, str) and (name == "cpu" or (name.startswith("cpu:")
                                                                 and name[4:].isdigit())) for name in names):
                raise ValueError(f"DataParallel: `devices` must be None or a list of {self.world_size} name(s), one "
                                 f"per process, each 'cpu' or 'cpu:<i>'; received devices={devices!r}")
        self.devices = list(devices) if devices is not None else [f"cpu:{i}" for i in range(self.world_size)]
        self.device_mesh = None
        self.auto_shard_dataset = True
        self.batch_dim_name = "batch"
        self._share = 1.0  # this process's n_r / B in the running training step
        self._rank_rng = None  # this process's generator for random layers without a seed

    def __repr__(self):
        return f"<DataParallel rank={self.rank} world_size={self.world_size}>"

    @property
    def active(self) -> bool:
        """True with more than one process: only then does training shard and communicate."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # --- batches ------------------------------------------------------------------------------------
    def shard(self, data):
        """This process's shard of one global batch: ``(data, n_local, n_global)``.

        ``data`` is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
        with arrays of ``n_global`` rows (nested structures allowed); every
        array is cut to the rows :func:`shard_bounds` gives (a view, no copy).
        """
        x, y, sample_weight = utils.unpack_x_y_sample_weight(data)
        leaves = [leaf for leaf in flatten(x) if isinstance(leaf, np.ndarray) and leaf.ndim > 0]
        if not leaves:
            raise ValueError("DataParallel: a batch's `x` holds no array to shard")
        count = int(leaves[0].shape[0])
        start, stop = shard_bounds(count, self.rank, self.world_size)
        cut = _slice_rows(start, stop)
        x, y, sample_weight = (map_structure(cut, part, none_is_leaf=False) for part in (x, y, sample_weight))
        return utils.pack_x_y_sample_weight(x, y, sample_weight), stop - start, count

    def begin_step(self, n_local: int, n_global: int) -> None:
        """Record this process's share ``n_local / n_global`` of the step about to run."""
        self._share = n_local / n_global if n_global else 0.0

    @property
    def share(self) -> float:
        """This process's fraction of the running step's global batch (1.0 on one process)."""
        return self._share

    # --- start of fit ---------------------------------------------------------------------------------
    def synchronise(self, model) -> None:
        """Broadcast rank 0's weights, optimizer state and global random generator to every process; give
        random layers their per-process streams."""
        comm = self.communicator
        for variable in model.weights:
            data = variable.data
            if data.flags.c_contiguous and data.flags.writeable:
                comm.broadcast(data)
            else:
                copy = np.ascontiguousarray(data)
                comm.broadcast(copy)
                variable.assign(copy)
        self._broadcast_optimizer_state(model)
        generator = utils._global_rng
        generator.bit_generator.state = comm.broadcast_object(generator.bit_generator.state)
        self._set_random_streams(model, generator.bit_generator.state)

    def _broadcast_optimizer_state(self, model) -> None:
        """Rank 0's optimizer state (its slots are as large as the weights) on every process, as arrays.

        Only the layout travels pickled (one ``(key, shape, dtype)`` per
        array of :meth:`Optimizer.get_state`, or None when rank 0's optimizer
        has no state yet); the arrays go by one Bcast per dtype, packed
        in the order of the layout. The other processes then ``set_state``.
        """
        comm = self.communicator
        optimizer = getattr(model, "optimizer", None)
        state = None
        if self.rank == 0 and optimizer is not None and getattr(optimizer, "_variables", None):
            state = optimizer.get_state()
        layout = None if state is None else [(key, np.shape(value), np.asarray(value).dtype.str)
                                             for key, value in state.items()]
        layout = comm.broadcast_object(layout)
        if layout is None:
            return
        received = {}
        for dtype in sorted({dtype for _, _, dtype in layout}):
            members = [(key, shape) for key, shape, kind in layout if kind == dtype]
            sizes = [int(np.prod(shape, dtype=np.int64)) for _, shape in members]
            buffer = np.empty(sum(sizes), dtype=np.dtype(dtype))
            if self.rank == 0:  # (...) -> (size,) for each array, one after the other
                buffer[...] = np.concatenate([np.asarray(state[key]).reshape(-1) for key, _ in members])
            comm.broadcast(buffer)
            offset = 0
            for (key, shape), size in zip(members, sizes):
                received[key] = buffer[offset:offset + size].reshape(shape)  # (size,) -> the array's shape
                offset += size
        if self.rank != 0:
            optimizer.set_state({key: received[key] for key, _, _ in layout}, model.trainable_weights)

    def _set_random_streams(self, model, global_state) -> None:
        """Per-process generators for the random layers, so the shards get independent noise.

        Unseeded layers draw from :func:`clearconv.utils.global_rng`: inside
        a training step it is this process's generator (see
        :meth:`random_stream`), derived from the broadcast global state and the
        rank without advancing the global generator, whose draws (the sample
        permutations) must stay the same on every process. Seeded layers keep
        their seed on rank 0 and get ``[seed, rank]`` elsewhere, once.
        """
        digest = zlib.crc32(repr(global_state).encode())
        self._rank_rng = np.random.default_rng([digest, self.rank])
        if self.rank == 0:
            return
        from ..random import SeedGenerator
        for layer in _all_layers(model):
            if getattr(layer, "_rank_stream", None) == self.rank:
                continue
            seed = getattr(layer, "seed", None)
            if getattr(layer, "_rng", None) is not None and seed is not None:
                layer._rng = np.random.default_rng([int(seed), self.rank])
            generator = getattr(layer, "generator", None)
            if isinstance(generator, SeedGenerator):
                state = generator.state.data.copy()
                state[0] = (int(state[0]) + 0x9E3779B1 * self.rank) & _SEED_MASK  # a distinct seed per rank
                generator.state.assign(state)
            layer._rank_stream = self.rank

    @contextlib.contextmanager
    def random_stream(self):
        """Within the block, unseeded random layers of this process draw from its own generator."""
        if self._rank_rng is None:
            yield
            return
        previous = utils._thread_generator.generator
        utils._thread_generator.generator = self._rank_rng
        try:
            yield
        finally:
            utils._thread_generator.generator = previous

    # --- one step ----------------------------------------------------------------------------------
    def sum_arrays(self, arrays: list) -> list:
        """Each array summed over the processes (one Allreduce in float64); the results in the arrays'
        dtypes. Used for BatchNormalization's per-channel sums."""
        sizes = [int(np.size(array)) for array in arrays]
        buffer = np.concatenate([np.asarray(array, dtype=np.float64).reshape(-1) for array in arrays])
        self.communicator.allreduce_sum(buffer)
        results, offset = [], 0
        for array, size in zip(arrays, sizes):
            part = buffer[offset:offset + size].reshape(np.shape(array))  # (size,) -> the array's shape
            results.append(part.astype(np.asarray(array).dtype, copy=False))
            offset += size
        return results

    def all_reduce_gradients(self, variables, extras=()) -> np.ndarray:
        """Sum every ``variable.grad`` over the processes, in place of the local ones; returns ``extras``
        (numbers to sum with them, e.g. the loss shares) summed, as float64 (len(extras),).

        The gradients are packed into one flat contiguous buffer per dtype
        (in the order of ``variables``, which every process gives alike),
        reduced in buckets of :data:`~clearconv.distribution.communicator.BUCKET_BYTES`,
        and each ``.grad`` becomes a view of the reduced buffer (no copy
        back). Variables whose ``.grad`` is None (the same on every process:
        the same model ran) are skipped. ``extras`` travel in the float64
        buffer, so the step needs no other collective. A NaN or infinity in
        one process's gradient reaches every process's sum, so the finiteness
        check after it decides alike everywhere.
        """
        groups: dict = {}
        for variable in variables:
            grad = variable.grad
            if grad is not None:
                grad = np.asarray(getattr(grad, "data", grad))
                groups.setdefault(grad.dtype, []).append((variable, grad))
        float64 = np.dtype(np.float64)
        groups.setdefault(float64, [])
        reduced_extras = np.asarray(extras, dtype=np.float64)
        for dtype, members in groups.items():
            total = sum(grad.size for _, grad in members)
            tail = len(reduced_extras) if dtype == float64 else 0
            if total + tail == 0:
                continue
            buffer = np.empty(total + tail, dtype=dtype)
            offset = 0
            for _, grad in members:
                buffer[offset:offset + grad.size] = grad.reshape(-1)  # (...) -> (size,)
                offset += grad.size
            if tail:
                buffer[total:] = reduced_extras
            self.communicator.allreduce_sum(buffer)
            offset = 0
            for variable, grad in members:
                variable.grad = buffer[offset:offset + grad.size].reshape(grad.shape)  # a view: (size,) -> shape
                offset += grad.size
            if tail:
                reduced_extras = buffer[total:].copy()
        return reduced_extras

    # --- metrics -----------------------------------------------------------------------------------
    def global_results(self, metrics, compute, flags=()):
        """``(compute(), flags summed)`` with every metric's state summed over the processes.

        ``metrics``: the model's metrics (the compiled container included);
        ``compute``: a function reading their results (the model's
        ``get_metrics_result``). The summed states are written in for the call
        and the local ones put back after, so each process keeps accumulating
        its own shard. ``flags``: numbers summed in the same Allreduce,
        returned as float64 (len(flags),).
        """
        slots = [slot for metric in metrics for slot in _state_slots(metric)]
        local = [np.array(get(), dtype=np.float64) for get, _ in slots]
        buffer = np.concatenate([value.reshape(-1) for value in local] + [np.asarray(flags, dtype=np.float64)])
        self.communicator.allreduce_sum(buffer)
        offset = 0
        try:
            for (get, put), value in zip(slots, local):
                put(buffer[offset:offset + value.size].reshape(value.shape))  # (size,) -> the state's shape
                offset += value.size
            results = compute()
        finally:
            for (_, put), value in zip(slots, local):
                put(value)
        return results, buffer[offset:].copy()

    # --- predict -------------------------------------------------------------------------------------
    def gather(self, arrays: list, every_rank: bool = False) -> list | None:
        """Each array's rows from every process, in rank order (the order of the shards in the batch):
        the list on rank 0 (on every process with ``every_rank``), None elsewhere."""
        gathered = [self.communicator.gather_rows(array, every_rank=every_rank) for array in arrays]
        return gathered if every_rank or self.rank == 0 else None


def _state_slots(metric) -> list:
    """``(get, put)`` pairs of a metric's state, each a sum over samples (so summing it over processes gives
    the state of the whole data). ValueError for a metric whose state is not known to add up."""
    from ..metrics import AUC, Mean, Precision, Recall
    from ..models.compile_utils import CompileMetrics
    if isinstance(metric, CompileMetrics):
        return [slot for sub_metric in metric.metrics for slot in _state_slots(sub_metric)]
    if isinstance(metric, Mean):
        names = ("total", "count")
    elif isinstance(metric, (Precision, Recall)):
        names = ("true_positives", "false_positives", "false_negatives")
    elif isinstance(metric, AUC):
        if metric._counts is None:
            raise ValueError(f"DataParallel: metric '{metric.name}' (AUC) has no state yet on process with this "
                             f"shard; give AUC its `num_labels` so its state exists before the first batch")
        return [_dict_slot(metric._counts, key) for key in ("tp", "fp", "tn", "fn")]
    else:
        raise ValueError(f"DataParallel: metric '{metric.name}' ({type(metric).__name__}) cannot be combined "
                         f"over processes: its state is not known to be a sum over the samples. Accepted: Mean "
                         f"and its subclasses (every accuracy, crossentropy and error metric), Precision, Recall, "
                         f"AUC")
    return [_attribute_slot(metric, name) for name in names]


def _attribute_slot(metric, name: str):
    current = getattr(metric, name)
    if np.ndim(current) == 0:
        return (lambda: getattr(metric, name)), (lambda value: setattr(metric, name, float(value)))
    dtype = np.asarray(current).dtype
    return (lambda: getattr(metric, name)), (lambda value: setattr(metric, name, np.array(value, dtype=dtype)))


def _dict_slot(counts: dict, key: str):
    def put(value):
        counts[key][...] = value
    return (lambda: counts[key]), put


# --------------------------------------------------------------------------------------------------
# The current distribution
# --------------------------------------------------------------------------------------------------

_current: DataParallel | None = None


def set_distribution(value) -> None:
    """Make ``value`` (a :class:`DataParallel`, or None for none) the distribution of fit, evaluate and predict
    in this process."""
    global _current
    if value is not None and not isinstance(value, DataParallel):
        raise ValueError(f"set_distribution: `value` must be a DataParallel or None (clearconv distributes data "
                         f"only; ModelParallel is not available); received {type(value).__name__}")
    _current = value


def distribution() -> DataParallel | None:
    """The distribution set by :func:`set_distribution`, or None."""
    return _current


def active() -> DataParallel | None:
    """The current distribution when it spans more than one process, else None (the single-process path)."""
    return _current if _current is not None and _current.active else None


def rank() -> int:
    """This process's rank in the current distribution (0 without one)."""
    return _current.rank if _current is not None else 0


def world_size() -> int:
    """The number of processes of the current distribution (1 without one)."""
    return _current.world_size if _current is not None else 1


def is_main() -> bool:
    """True on rank 0 (and without a distribution): the process that prints and writes files."""
    return rank() == 0


# Seconds a process other than rank 0 waits before reporting its error and aborting (see abort_on_error).
REPORT_DELAY = 0.5


@contextlib.contextmanager
def abort_on_error(parallel: DataParallel | None, describe=None):
    """Within the block, an exception on this process ends every process of the launch.

    The other processes may be waiting in a collective this one will never
    reach, so raising would leave them waiting forever: the error is written
    to stderr with the rank, then MPI_Abort ends the whole job with a
    non-zero exit status. A no-op without an active distribution: the
    exception propagates as usual.

    ``describe(error) -> (message, exit code)``, when given, replaces the
    default report (a header naming the rank, then the traceback) and exit
    status 1, e.g. the one-line message and exit code of a command line.
    A process other than rank 0 waits :data:`REPORT_DELAY` seconds first:
    when every process raises the same error (a check made alike on all of
    them), rank 0's abort ends the job before the others repeat its message.
    """
    if parallel is None or not parallel.active:
        yield
        return
    try:
        yield
    except BaseException as error:  # a second Ctrl-C (KeyboardInterrupt) too: no process may be left waiting
        if parallel.rank != 0:
            time.sleep(REPORT_DELAY)
        if describe is not None:
            message, code = describe(error)
            sys.stderr.write(f"{message} [rank {parallel.rank} of {parallel.world_size}]\n")
        else:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            header = (f"clearconv.distribution: rank {parallel.rank} of {parallel.world_size} raised "
                      f"{type(error).__name__}: {error}; aborting every process\n")
            sys.stderr.write(header + "".join(f"[rank {parallel.rank}] {line}\n" for line in text.splitlines()))
            code = 1
        parallel.communicator.abort(code)
        raise  # not reached: MPI_Abort ends the process
