"""From what ``fit``/``evaluate``/``predict`` receive to an iterator of batches, with Keras 3's rules.

One contract for every kind of input: an adapter's ``get_iterator()`` starts
a pass over the data and yields batches in Keras's packed form, ``x``,
``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (see
:func:`clearconv.utils.unpack_x_y_sample_weight`), where ``x``, ``y`` and ``sample_weight``
are arrays or lists/tuples/dicts of arrays whose first axis is the batch.

* arrays, nested in lists/tuples/dicts (anything with ``__array__``):
  :class:`ArrayDataAdapter`, slices of ``batch_size`` samples, shuffled per pass if asked;
* a Python generator or iterator: :class:`GeneratorDataAdapter`, the batches it yields;
* a :class:`PyDataset`: :class:`PyDatasetAdapter`, ``dataset[i]`` per batch;
* a re-iterable loader (a torch ``DataLoader``): :class:`IterableDataAdapter`, ``iter(loader)`` per pass.

:class:`EpochIterator` cuts those passes into epochs of ``steps_per_epoch``
steps exactly as Keras 3's epoch iterator does:

* without ``steps_per_epoch`` an epoch is one pass (arrays, PyDataset) or runs
  until the generator stops;
* with ``steps_per_epoch`` the same pass continues across epochs and a new
  pass starts once the data of the current one is used up; an epoch that
  would go past the end of finite data stops there, with a warning;
* a generator is read once. Keras keeps its first two batches (to learn the
  batch structure) and every later pass starts with those two again, followed
  by whatever the generator still yields; so after a generator ends, later
  epochs see those two batches only. This module does the same, so that
  training from a generator gives Keras's results.

Data with 0 samples, or a batch with 0 samples from a generator, loader or
PyDataset, is refused with a ValueError naming the argument
(:func:`check_has_samples`): a step on nothing has no loss to average (Keras
fails there with an unrelated error).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import math
import types
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..nested import flatten, map_structure
from ..utils import global_rng, pack_x_y_sample_weight, unpack_x_y_sample_weight
from .batches import check_validation_split, validation_split_index
from .py_dataset import PyDataset

# Batches a generator adapter reads ahead and replays at the start of each pass (Keras's number).
PEEKED_BATCHES = 2


# --- structures of arrays ------------------------------------------------------------------------

def is_array_like(value) -> bool:
    """An array, or anything NumPy reads as one through ``__array__`` (tensors of other libraries)."""
    return isinstance(value, np.ndarray) or hasattr(value, "__array__")


def can_convert_arrays(structure) -> bool:
    """True when every leaf of ``structure`` is None or array-like (Keras's array-input test)."""
    return all(leaf is None or is_array_like(leaf) for leaf in flatten(structure))


def to_numpy(structure):
    """The same structure with every array-like leaf as a NumPy array."""
    return map_structure(lambda leaf: leaf if isinstance(leaf, np.ndarray)
                         else np.asarray(leaf) if hasattr(leaf, "__array__") else leaf, structure)


# --- sample weights, sample counts, validation split ---------------------------------------------

def _describe_shapes(structure) -> str:
    return ", ".join(str(tuple(np.shape(leaf))) for leaf in flatten(structure) if is_array_like(leaf))


def check_has_samples(x, argument: str = "x", where: str = "") -> None:
    """ValueError naming ``argument`` when the arrays of ``x`` (one array or a structure of them, the
    inputs of some data or of one batch) have 0 samples; ``where`` tells which batch."""
    if any(is_array_like(leaf) and np.ndim(leaf) > 0 and np.shape(leaf)[0] == 0 for leaf in flatten(x)):
        raise ValueError(f"`{argument}` has 0 samples{where} (arrays of shape {_describe_shapes(x)}): fit, "
                         f"evaluate, predict and the *_on_batch methods need at least one sample in every batch")


def check_sample_weight(sample_weight, argument: str = "sample_weight") -> None:
    """ValueError unless every weight in ``sample_weight`` (an array or a structure of them) is finite and
    non-negative: a weight is a sample's share of the loss, and a negative or NaN share would make the
    loss decrease by getting those samples wrong, or make it NaN."""
    for leaf in flatten(sample_weight):
        if leaf is None:
            continue
        weights = np.asarray(leaf)
        if weights.dtype.kind not in "biuf":
            raise ValueError(f"`{argument}` must hold numbers; received an array of dtype {weights.dtype}")
        finite = np.isfinite(weights)
        if finite.all() and not (weights < 0).any():
            continue
        bad = weights[~finite | (weights < 0)]
        raise ValueError(f"`{argument}` must hold finite, non-negative weights; received {bad.size} value(s) "
                         f"that are not, e.g. {bad.flat[0]!r}")


def class_weight_to_sample_weights(y, class_weight) -> np.ndarray:
    """Per-sample weights ``(N,)`` float32 from ``{class index: weight}`` (classes missing weigh 1).

    ``y``: integer labels ``(N,)`` or ``(N, 1)``, or one-hot rows ``(N, C)``
    (the class is the argmax). Labels are rounded to integers first, as Keras does.
    """
    if not isinstance(class_weight, dict):
        raise ValueError(f"`class_weight` must be a dict mapping class indices to weights; received "
                         f"{class_weight!r}")
    if not all(isinstance(weight, (int, float, np.integer, np.floating)) and not isinstance(weight, bool)
               and np.isfinite(weight) and weight >= 0 for weight in class_weight.values()):
        raise ValueError(f"`class_weight` must map class indices to finite, non-negative weights; received "
                         f"{class_weight!r}")
    labels = np.asarray(y)
    if labels.ndim == 0:
        raise ValueError(f"`class_weight` needs targets with a batch axis; received y of shape {labels.shape}")
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels.squeeze(-1)
    labels = np.round(labels).astype(np.int64).reshape(labels.shape[0], -1)[:, 0]
    weights = np.ones(labels.shape[0], dtype=np.float32)
    for position, label in enumerate(labels):
        weights[position] = class_weight.get(int(label), 1.0)
    return weights


def check_data_cardinality(data, argument: str = "x") -> int:
    """The common number of samples of every array in ``(x, y, sample_weight)``; ValueError if they differ
    or if there are none (:func:`check_has_samples`, naming ``argument``)."""
    counts = {}
    for label, part in zip(("x", "y", "sample_weight"), data):
        sizes = [int(np.shape(leaf)[0]) for leaf in flatten(part) if leaf is not None and np.ndim(leaf) > 0]
        for leaf in flatten(part):
            if leaf is not None and np.ndim(leaf) == 0:
                raise ValueError(f"`{label}` must hold arrays with a batch axis; received a scalar {leaf!r}")
        if sizes:
            counts[label] = sizes
    distinct = {size for sizes in counts.values() for size in sizes}
    if len(distinct) > 1:
        detail = ", ".join(f"{label} with {'/'.join(map(str, sizes))}" for label, sizes in counts.items())
        raise ValueError(f"x, y and sample_weight must have the same number of samples; received {detail}")
    if not distinct:
        raise ValueError("the data holds no arrays")
    count = distinct.pop()
    if count == 0:
        check_has_samples(data, argument)
    return count


def train_validation_split(arrays, validation_split: float):
    """Keras's ``validation_split``: ``(train, validation)``, the validation part the LAST samples.

    ``arrays`` is a structure such as ``(x, y, sample_weight)``; the cut is
    :func:`clearconv.data.batches.validation_split_index`'s; the parts are
    slices, taken before any shuffling. Only arrays can be split.
    """
    unsplittable = sorted({type(leaf).__name__ for leaf in flatten(arrays)
                           if leaf is not None and not is_array_like(leaf)})
    if unsplittable:
        raise ValueError(f"`validation_split` is only supported when x, y and sample_weight are arrays; "
                         f"received {', '.join(unsplittable)}. Pass `validation_data` instead.")
    check_validation_split(validation_split, "fit")
    arrays = to_numpy(arrays)
    split_at = validation_split_index(check_data_cardinality(arrays), validation_split, "fit")
    return (map_structure(lambda a: a[:split_at], arrays, none_is_leaf=False),
            map_structure(lambda a: a[split_at:], arrays, none_is_leaf=False))


# --- adapters -------------------------------------------------------------------------------------

class DataAdapter:
    """One kind of input as passes of batches.

    ``get_iterator()`` starts a pass (an iterator of packed batches);
    ``num_batches`` is the batches per pass (None when unknown or infinite);
    ``on_epoch_begin()`` / ``on_epoch_end()`` are called around each epoch.
    """

    def get_iterator(self):
        raise NotImplementedError

    @property
    def num_batches(self) -> int | None:
        return None

    @property
    def batch_size(self) -> int | None:
        return None

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class ArrayDataAdapter(DataAdapter):
    """Arrays (nested in lists/tuples/dicts) cut into batches of ``batch_size`` samples.

    ``batch_size`` None means ceil(N / steps) when ``steps`` is given, else
    32 (Keras's rule). The last batch holds the remainder. ``shuffle``: True
    draws a new permutation of the samples for every pass (from clearconv's
    global generator, see :func:`clearconv.utils.set_seed`); "batch" keeps
    the batches in order and shuffles the samples inside each one; False
    keeps the order (the batches are then views, not copies).
    ``class_weight`` becomes per-sample weights from ``y`` (one output only).
    ``argument`` names the data in errors (``"x"``, ``"validation_data"``).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps=None, shuffle=False,
                 class_weight=None, argument: str = "x"):
        if sample_weight is not None and class_weight is not None:
            raise ValueError("`class_weight` and `sample_weight` cannot be given together: give one of them")
        x, y, sample_weight = to_numpy(x), to_numpy(y), to_numpy(sample_weight)
        if class_weight is not None:
            leaves = [leaf for leaf in flatten(y) if leaf is not None]
            if len(leaves) != 1:
                raise ValueError(f"`class_weight` is only supported for models with a single output; "
                                 f"received y with {len(leaves)} arrays. Give per-output `sample_weight` "
                                 f"instead.")
            sample_weight = class_weight_to_sample_weights(leaves[0], class_weight)
        self._inputs = pack_x_y_sample_weight(x, y, sample_weight)
        self._num_samples = check_data_cardinality((x, y, sample_weight), argument)
        check_sample_weight(sample_weight)  # all at once, before any step changes the weights
        if batch_size is None:
            batch_size = int(math.ceil(self._num_samples / steps)) if steps else 32
        self._batch_size = batch_size
        self._size = int(math.ceil(self._num_samples / batch_size))
        self._shuffle = shuffle

    def get_iterator(self):
        count, size = self._num_samples, self._batch_size
        whole = bool(self._shuffle) and self._shuffle != "batch"
        order = global_rng().permutation(count) if whole else None
        for start in range(0, count, size):
            stop = min(start + size, count)
            if self._shuffle == "batch":
                index = start + global_rng().permutation(stop - start)
            elif order is not None:
                index = order[start:stop]
            else:
                index = slice(start, stop)
            yield map_structure(lambda array: array[index], self._inputs, none_is_leaf=False)

    def first_batch(self):
        """The first ``batch_size`` samples in their given order (draws nothing from the generator)."""
        part = slice(0, self._batch_size)
        return map_structure(lambda array: array[part], self._inputs, none_is_leaf=False)

    @property
    def num_batches(self) -> int:
        return self._size

    @property
    def batch_size(self) -> int:
        return self._batch_size


def _checked(batches, source: str, argument: str):
    """The batches of one pass as NumPy structures, each refused if its ``x`` has 0 samples (the error
    names the batch by its position in the pass)."""
    for index, batch in enumerate(batches):
        batch = to_numpy(batch)
        check_has_samples(unpack_x_y_sample_weight(batch)[0], argument, f" in batch {index} of {source}")
        yield batch


class GeneratorDataAdapter(DataAdapter):
    """A Python generator or iterator of batches; its length is unknown until it stops.

    The first :data:`PEEKED_BATCHES` batches are read at once (an empty
    generator is an error) and replayed at the start of every pass, as Keras
    does (see the module docstring).
    """

    def __init__(self, generator, argument: str = "x"):
        self._generator = generator
        self._argument = argument
        self._peeked = list(itertools.islice(generator, PEEKED_BATCHES))
        if not self._peeked:
            raise ValueError("The generator given as data yielded no batch; it must yield at least one "
                             "`(x, y)`, `(x, y, sample_weight)` or `(x,)` batch.")

    def get_iterator(self):
        return _checked(itertools.chain(self._peeked, self._generator), "the generator", self._argument)


class IterableDataAdapter(DataAdapter):
    """A re-iterable loader of batches (a ``torch.utils.data.DataLoader``, a list-like dataset of
    batches...): each pass is ``iter(loader)``; ``len(loader)`` batches per pass when it has a length."""

    def __init__(self, loader, argument: str = "x"):
        self._loader = loader
        self._argument = argument

    def get_iterator(self):
        return _checked(self._loader, type(self._loader).__name__, self._argument)

    @property
    def num_batches(self) -> int | None:
        try:
            return len(self._loader)
        except TypeError:
            return None


class PyDatasetAdapter(DataAdapter):
    """A :class:`PyDataset`: batch ``i`` is ``dataset[i]``.

    Finite datasets are read in index order, or in a new random order per
    pass when ``shuffle`` (Keras shuffles the batch order, not the samples);
    infinite ones (``num_batches`` None) read 0, 1, 2, ... With
    ``dataset.workers > 1`` batches are read ahead in that many threads, at
    most ``max_queue_size`` in flight, and handed over in order.
    """

    def __init__(self, dataset: PyDataset, class_weight=None, shuffle=False, argument: str = "x"):
        self.dataset = dataset
        self._argument = argument
        self.class_weight = class_weight
        self.shuffle = shuffle
        self._workers = dataset.workers
        if dataset.use_multiprocessing:  # refused by PyDataset; also if set on the instance another way
            raise ValueError("PyDataset: use_multiprocessing=True is not supported in clearconv; use `workers`")
        self._max_queue_size = dataset.max_queue_size

    def _standardize_batch(self, batch, index: int):
        batch = self._packed(batch)
        check_has_samples(unpack_x_y_sample_weight(batch)[0], self._argument,
                          f" in batch {index} of {type(self.dataset).__name__}")
        return batch

    def _packed(self, batch):
        if isinstance(batch, dict):
            return to_numpy(batch)
        if isinstance(batch, np.ndarray) or (not isinstance(batch, (list, tuple)) and is_array_like(batch)):
            batch = (batch,)
        if isinstance(batch, list):
            batch = tuple(batch)
        if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
            raise ValueError(f"{type(self.dataset).__name__}.__getitem__ must return a batch: an array, a dict "
                             f"of arrays, or a tuple `(x,)`, `(x, y)` or `(x, y, sample_weight)`; received "
                             f"{type(batch).__name__} {str(batch)[:80]}")
        if self.class_weight is not None:
            if len(batch) == 3:
                raise ValueError("`class_weight` and a sample_weight returned by the PyDataset cannot be used "
                                 "together: give one of them")
            if len(batch) == 2:
                batch = batch + (class_weight_to_sample_weights(to_numpy(batch[1]), self.class_weight),)
        return to_numpy(batch)

    def _indices(self):
        count = self.dataset.num_batches
        if count is None:
            return itertools.count()
        if self.shuffle:
            return iter(global_rng().permutation(count).tolist())
        return iter(range(count))

    def get_iterator(self):
        indices = self._indices()
        if self._workers > 1:
            return self._read_ahead(indices)
        return (self._standardize_batch(self.dataset[index], index) for index in indices)

    def _read_ahead(self, indices):
        """Batches read by a pool of threads, at most max_queue_size ahead, yielded in index order."""
        pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=type(self.dataset).__name__)
        pending = collections.deque()
        try:
            for index in itertools.islice(indices, self._max_queue_size):
                pending.append((index, pool.submit(self.dataset.__getitem__, index)))
            while pending:
                index, future = pending.popleft()
                batch = future.result()
                for following in itertools.islice(indices, 1):
                    pending.append((following, pool.submit(self.dataset.__getitem__, following)))
                yield self._standardize_batch(batch, index)
        finally:
            # A pass left unfinished (steps_per_epoch reached, training stopped): drop what was queued.
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    @property
    def num_batches(self) -> int | None:
        return self.dataset.num_batches

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


def _refuse_targets_and_weights(kind: str, y, sample_weight) -> None:
    """Keras's error for ``y`` or ``sample_weight`` given beside an ``x`` (of ``kind``) that yields batches."""
    for argument, value, description in [("y", y, "the targets"),
                                         ("sample_weight", sample_weight, "the sample weights")]:
        if value is not None:
            raise ValueError(f"When `x` is a {kind}, `{argument}` must not be given: {description} must be part "
                             f"of what the {kind} yields (batches `(x, y)` or `(x, y, sample_weight)`).")


def is_generator(x) -> bool:
    """A generator or another one-pass iterator (``iter(x) is x``), not an array or a container."""
    if isinstance(x, types.GeneratorType):
        return True
    return (hasattr(x, "__next__") and hasattr(x, "__iter__") and not is_array_like(x)
            and not isinstance(x, (str, bytes, list, tuple, dict)))


def is_reiterable(x) -> bool:
    """An object that starts a new pass of batches on each ``iter()`` (not an iterator, array or container)."""
    return (hasattr(x, "__iter__") and not hasattr(x, "__next__") and not is_array_like(x)
            and not isinstance(x, (str, bytes, list, tuple, dict, set)))


def get_data_adapter(x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None, shuffle=False,
                     class_weight=None, argument: str = "x") -> DataAdapter:
    """The adapter for ``x`` (with Keras's errors for arguments that do not apply to it); ``argument``
    names the data in errors."""
    if isinstance(x, DataAdapter):
        return x
    if x is None:
        raise ValueError("no data: `x` is None. Give arrays, a generator or a PyDataset.")
    if can_convert_arrays((x, y, sample_weight)):
        return ArrayDataAdapter(x, y, sample_weight=sample_weight, batch_size=batch_size, steps=steps_per_epoch,
                                shuffle=shuffle, class_weight=class_weight, argument=argument)
    if isinstance(x, PyDataset):
        _refuse_targets_and_weights("PyDataset", y, sample_weight)
        if batch_size is not None:
            warnings.warn("`batch_size` is ignored when `x` is a PyDataset: its __getitem__ makes the batches",
                          stacklevel=3)
        if shuffle and x.num_batches is None:
            warnings.warn("`shuffle=True` is ignored for an infinite PyDataset (num_batches is None): it is "
                          "expected to be shuffled already", stacklevel=3)
        return PyDatasetAdapter(x, class_weight=class_weight, shuffle=bool(shuffle), argument=argument)
    if is_generator(x):
        _refuse_targets_and_weights("generator", y, sample_weight)
        if class_weight is not None:
            raise ValueError(f"`class_weight` is not supported when `x` is a generator (as in Keras); yield "
                             f"`(x, y, sample_weight)` batches instead. Received class_weight={class_weight!r}")
        if batch_size is not None:
            warnings.warn("`batch_size` is ignored when `x` is a generator: it yields whole batches", stacklevel=3)
        if shuffle:
            warnings.warn("`shuffle=True` is ignored when `x` is a generator: it is expected to yield batches "
                          "in a shuffled order already", stacklevel=3)
        return GeneratorDataAdapter(x, argument=argument)
    if is_reiterable(x):
        kind = type(x).__name__
        _refuse_targets_and_weights(kind, y, sample_weight)
        if class_weight is not None:
            raise ValueError(f"`class_weight` is not supported when `x` is a {kind} (as in Keras for data "
                             f"loaders); yield `(x, y, sample_weight)` batches instead")
        if batch_size is not None:
            warnings.warn(f"`batch_size` is ignored when `x` is a {kind}: it yields whole batches", stacklevel=3)
        if shuffle:
            warnings.warn(f"`shuffle=True` is ignored when `x` is a {kind}: it is expected to shuffle its "
                          f"batches itself", stacklevel=3)
        return IterableDataAdapter(x, argument=argument)
    bad = [type(leaf).__name__ for leaf in flatten((x, y, sample_weight))
           if leaf is not None and not is_array_like(leaf)]
    raise ValueError(f"Unrecognized data type: x={str(x)[:80]} (of type {type(x).__name__}). Accepted: NumPy "
                     f"arrays (or lists/tuples/dicts of them), a generator or iterator of batches, a PyDataset. "
                     f"Not arrays: {', '.join(bad)}")


# --- epochs ---------------------------------------------------------------------------------------

class EpochIterator:
    """Epochs of steps over an adapter, with Keras 3's treatment of ``steps_per_epoch``.

    Iterating gives, for one epoch, ``(begin_step, end_step, iterator)``
    per execution of ``steps_per_execution`` steps; the caller draws up to
    that many batches with ``next(iterator)``. A ``StopIteration`` from the
    first draw means the data ran out: wrap the loop in
    :meth:`catch_stop_iteration`, which ends the epoch there (and learns the
    length of a generator). :meth:`reset` starts again from a new pass.
    ``argument`` names the data in errors (``"x"``, ``"validation_data"``).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size=None, steps_per_epoch=None, shuffle=False,
                 class_weight=None, steps_per_execution: int = 1, argument: str = "x"):
        self.steps_per_epoch = steps_per_epoch
        self.steps_per_execution = steps_per_execution
        self.data_adapter = get_data_adapter(x, y=y, sample_weight=sample_weight, batch_size=batch_size,
                                             steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                                             class_weight=class_weight, argument=argument)
        self._num_batches = self.data_adapter.num_batches
        self._current_iterator = None
        self._steps_seen = 0  # steps drawn from the current pass

    def reset(self) -> None:
        """Forget the current pass (the next epoch starts a new one) and end the adapter's epoch."""
        self._current_iterator = None
        self._num_batches = self.data_adapter.num_batches
        self._steps_seen = 0
        self.data_adapter.on_epoch_end()

    @property
    def num_batches(self) -> int | None:
        """Steps per epoch: ``steps_per_epoch`` if given, else the batches per pass (None while unknown)."""
        return self.steps_per_epoch or self._num_batches

    def _warn_ran_out(self) -> None:
        warnings.warn("The data ran out before the epoch's steps were done; the epoch ends here. Make sure it "
                      "can yield at least `steps_per_epoch * epochs` batches.", stacklevel=4)

    def __iter__(self):
        self.data_adapter.on_epoch_begin()
        steps = self.steps_per_epoch or self._num_batches or -1
        execution = self.steps_per_execution
        if steps > 0:
            if self._current_iterator is None or self.steps_per_epoch is None:
                self._current_iterator = iter(self.data_adapter.get_iterator())
                self._steps_seen = 0
            for step in range(0, steps, execution):
                if self._num_batches and self._steps_seen >= self._num_batches:
                    if self.steps_per_epoch:
                        self._warn_ran_out()
                    break
                self._steps_seen += execution
                yield step, step + execution - 1, self._current_iterator
            if self._num_batches and self._steps_seen >= self._num_batches:
                # The pass is used up: the next epoch starts a new one.
                self._current_iterator = iter(self.data_adapter.get_iterator())
                self._steps_seen = 0
        else:
            # Unknown length: run until the data stops (StopIteration, see catch_stop_iteration).
            iterator = iter(self.data_adapter.get_iterator())
            step = -execution
            while True:
                step += execution
                self._steps_seen = step + execution
                yield step, step + execution - 1, iterator
        self.data_adapter.on_epoch_end()

    @contextlib.contextmanager
    def catch_stop_iteration(self):
        """End the epoch quietly when the data runs out; a generator's length becomes known then."""
        try:
            yield
        except StopIteration:
            if self._num_batches is None:
                self._num_batches = self._steps_seen
            self._warn_ran_out()
            self._current_iterator = None
            self.data_adapter.on_epoch_end()
