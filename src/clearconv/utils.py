"""Shared helpers and Keras 3's ``keras.utils``.

Randomness: every unseeded random draw in clearconv (initializers with
``seed=None``, dropout masks, shuffling, :mod:`clearconv.random`) comes from
one module-level :class:`numpy.random.Generator`. :func:`set_seed` replaces
it, so the same seed gives bit-identical results on the same machine.
clearconv never draws from NumPy's legacy global state (``np.random.seed``);
Keras's :func:`set_random_seed` seeds it too, with Python's ``random``, for
the user's own code.

Keras's utilities: :func:`to_categorical`, :func:`normalize`,
:func:`set_random_seed`, :func:`get_file` (which reads its cache and never
downloads), :func:`plot_model` and :func:`model_to_dot` (with pydot and
Graphviz), :func:`pack_x_y_sample_weight` and :func:`unpack_x_y_sample_weight`.

This module is imported by most of clearconv, so it imports nothing from
clearconv at module level; the few functions that need the rest of the
library import it when called.
"""

from __future__ import annotations

import contextlib
import html
import inspect
import numbers
import os
import random
import re
import threading
from typing import Any, Mapping

import numpy as np

# Seeded from OS entropy until set_seed is called.
_global_rng = np.random.default_rng()


def set_seed(seed: int | None) -> None:
    """Re-create the module-level generator from ``seed`` (None: fresh OS entropy)."""
    global _global_rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"set_seed: `seed` must be a non-negative integer or None; received {seed!r}")
    _global_rng = np.random.default_rng(seed)


class _ThreadGenerator(threading.local):
    """A generator that stands in for the global one in one thread only (None: none does)."""

    generator = None


_thread_generator = _ThreadGenerator()


def global_rng() -> np.random.Generator:
    """The generator used by every unseeded random draw in clearconv (in a thread inside
    :func:`private_global_rng`, that block's copy)."""
    generator = _thread_generator.generator
    return _global_rng if generator is None else generator


@contextlib.contextmanager
def private_global_rng():
    """Within the block, :func:`global_rng` in the calling thread is a copy of the global generator:
    the block's draws are those the global generator would give, but they leave it as it was, and the
    draws other threads make meanwhile are theirs alone (never repeated). Loading a model file uses it
    (see :func:`clearconv.layers.base.weights_from_file`). A block nested in another keeps its copy."""
    if _thread_generator.generator is not None:
        yield
        return
    source = _global_rng
    with source.bit_generator.lock:
        state = source.bit_generator.state
    copy = np.random.Generator(type(source.bit_generator)())
    copy.bit_generator.state = state
    _thread_generator.generator = copy
    try:
        yield
    finally:
        _thread_generator.generator = None


def snake_case(class_name: str) -> str:
    """Keras's lowercase name of a class: GlorotUniform -> glorot_uniform, L1L2 -> l1l2.

    An underscore goes before each capitalised word and between a lowercase
    letter and a capital; a digit followed by a capital ("L1L2") gets none.
    """
    spaced = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", spaced).lower()


def check_flag(owner: str, name: str, value) -> bool:
    """A boolean argument: True, False, NumPy's booleans, or the integers 0 and 1 (Keras keeps such values as
    given and reads them as truth values); anything else is a TypeError naming the argument."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    prefix = f"{owner}: " if owner else ""
    raise TypeError(f"{prefix}`{name}` must be True or False; received {name}={value!r}")


def valid_names(registry: Mapping[str, Any]) -> str:
    """The registry's names, sorted case-insensitively, as one comma-separated string."""
    return ", ".join(sorted(registry, key=lambda name: (name.lower(), name)))


def serialize_object(obj) -> dict | None:
    """``{"class_name": ..., "config": ...}`` for an object with ``get_config``; None stays None."""
    if obj is None:
        return None
    if not hasattr(obj, "get_config"):
        raise ValueError(f"Cannot serialize {obj!r}: it has no get_config(); give it by name or as a class "
                         f"with get_config/from_config.")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


class Configurable:
    """Keras's config round trip for small objects (initializers, regularizers, constraints):
    subclasses list their arguments in ``get_config``; ``from_config`` calls the constructor."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


# --------------------------------------------------------------------------------------------------
# keras.utils: seeds, labels, arrays, training data
# --------------------------------------------------------------------------------------------------

def set_random_seed(seed) -> None:
    """Seed every generator a Keras program draws from, as ``keras.utils.set_random_seed`` does.

    Seeds clearconv's generator (as :func:`set_seed`), Python's ``random``
    module and NumPy's legacy global generator (``np.random.seed``). ``seed``:
    an int in [0, 2**32), the range NumPy's legacy generator takes.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: expected `seed` argument to be an integer. Received: seed={seed!r} "
                         f"(of type {type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: `seed` must be in [0, 2**32) (NumPy's legacy generator takes no "
                         f"other); received seed={seed}")
    seed = int(seed)
    set_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def to_categorical(x, num_classes=None):
    """Class indices -> one-hot rows (Keras's ``to_categorical``): shape (...) -> (..., num_classes).

    x: integer class indices in [0, num_classes), any shape; a trailing axis
    of size 1 is dropped first, so (N, 1) gives (N, num_classes) as (N,) does.
    Integral floats (3.0) are accepted. num_classes: None (or 0) means
    ``max(x) + 1``.

    Returns, as Keras does, a float64 NumPy array for array-like input and,
    for a :class:`~clearconv.autograd.Tensor`, a Tensor of dtype floatx
    (float32 by default).
    """
    from .autograd import Tensor
    is_tensor = isinstance(x, Tensor)
    values = np.asarray(x.data if is_tensor else x)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"to_categorical: `x` must hold integer class indices; received dtype {values.dtype}")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise ValueError("to_categorical: `x` must hold integer class indices; received non-integer values, e.g. "
                         f"{values[~(np.isfinite(values) & (values == np.round(values)))].flat[0]!r}")
    labels = values.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]                           # (..., 1) -> (...)
    labels = labels.reshape(-1)                      # (...) -> (n,)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer))
                                    or num_classes < 0):
        raise ValueError(f"to_categorical: `num_classes` must be None or a positive integer; "
                         f"received num_classes={num_classes!r}")
    if not num_classes:
        if labels.size == 0:
            raise ValueError("to_categorical: cannot infer `num_classes` from an empty `x`; pass num_classes")
        num_classes = int(labels.max()) + 1
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"to_categorical: class index {bad} is outside [0, {num_classes}) "
                         f"(num_classes={num_classes}); the class indices in `x` must be in [0, num_classes)")
    one_hot = np.zeros((labels.size, int(num_classes)))            # (n, C) float64, as Keras
    one_hot[np.arange(labels.size), labels] = 1
    one_hot = one_hot.reshape(shape + (int(num_classes),))          # (n, C) -> (..., C)
    if is_tensor:
        from .config import floatx
        return Tensor(one_hot.astype(floatx()))
    return one_hot


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``normalize``); same shape as ``x``.

    NumPy input (any array-like): a zero norm counts as 1 (zero slices stay
    zero); the result has NumPy's dtype of ``x / norm`` (float32 stays float32,
    integers give float64). ``axis=None`` divides by the norm
    ``np.linalg.norm(x, order)`` of the whole array (a matrix norm for 2-D x).
    ``order``: a number > 0 or ``np.inf``.

    :class:`~clearconv.autograd.Tensor` input, as Keras's backend-tensor path
    (``keras.ops.normalize``): ``x / max(norm, epsilon())``, ``order`` an int
    >= 1, ``axis=None`` the norm of all entries, a scalar becomes shape (1,);
    the result records its gradient.

    This is Keras's intended result; Keras 3.15's NumPy path gets ``axis=0``
    and 1-D input wrong (fixed upstream in keras-team/keras#23328 and #23428).
    """
    from .autograd import Tensor
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, (int, np.integer))):
        raise ValueError(f"normalize: `axis` must be an integer or None; received axis={axis!r}")
    if isinstance(x, Tensor):
        return _normalize_tensor(x, axis, order)
    values = np.asarray(x)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"normalize: `x` must be numeric; received dtype {values.dtype}")
    if isinstance(order, bool) or not isinstance(order, (int, float, np.integer, np.floating)) or not order > 0:
        raise ValueError(f"normalize: `order` must be a number > 0 or np.inf; received order={order!r}")
    if axis is not None and not -values.ndim <= axis < values.ndim:
        raise ValueError(f"normalize: `axis` must be in [{-values.ndim}, {values.ndim}) for `x` of shape "
                         f"{values.shape}; received axis={axis}")
    try:
        norm = np.linalg.norm(values, order, axis, keepdims=True)      # x's shape with 1 on the reduced axis
    except ValueError as error:
        raise ValueError(f"normalize: cannot take the order-{order} norm of `x` (shape {values.shape}) with "
                         f"axis={axis}: {error}. With axis=None, x must be 1-D or 2-D.") from None
    norm = np.where(norm == 0, np.ones_like(norm), norm)
    return values / norm


def _normalize_tensor(x, axis, order):
    """x / max(||x||_order along axis, epsilon) on a Tensor, with its gradient."""
    from .autograd import record
    from .config import epsilon
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"normalize: argument `order` must be an int >= 1 for a Tensor. Received: order={order!r}")
    data = x.data.reshape(1) if x.data.ndim == 0 else x.data                 # () -> (1,), as Keras
    if axis is not None and not -data.ndim <= axis < data.ndim:
        raise ValueError(f"normalize: `axis` must be in [{-data.ndim}, {data.ndim}) for `x` of shape "
                         f"{data.shape}; received axis={axis}")
    eps = epsilon()
    magnitude = np.abs(data)
    norm = np.sum(magnitude ** order, axis=axis, keepdims=True) ** (1.0 / order)   # 1 on the reduced axes
    denominator = np.maximum(norm, eps)
    output = (data / denominator).astype(data.dtype)

    def vjp(g):
        grad = g / denominator
        # Only a norm above epsilon depends on x: d||x||/dx = sign(x) |x|^(p-1) / ||x||^(p-1).
        active = norm > eps
        safe_norm = np.where(active, norm, 1)
        d_norm = np.sign(data) * magnitude ** (order - 1) / safe_norm ** (order - 1)
        along = np.sum(g * data, axis=axis, keepdims=True) / denominator ** 2
        grad = grad - np.where(active, along, 0) * d_norm
        return (grad.astype(data.dtype).reshape(x.shape),)
    return record(output, (x,), vjp)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Keras's tuple of training data: ``x`` alone (``(x,)`` when x is a tuple or list), ``(x, y)``, or
    ``(x, y, sample_weight)``."""
    if y is None:
        # A lone x needs no tuple unless it is one itself: (x,) keeps a multi-input list intact.
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``,
    missing entries None (Keras's ``unpack_x_y_sample_weight``; a list counts as a tuple)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if 1 <= len(data) <= 3:
        return tuple(data) + (None,) * (3 - len(data))
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found a tuple of {len(data)} entries: {data}")


def clear_session(free_memory: bool = True) -> None:
    """:func:`clearconv.backend.clear_session` (Keras exports it here too)."""
    from .backend import clear_session as clear
    clear(free_memory=free_memory)


def is_keras_tensor(x) -> bool:
    """:func:`clearconv.backend.is_keras_tensor` (Keras exports it here too)."""
    from .backend import is_keras_tensor as check
    return check(x)


def standardize_dtype(dtype) -> str:
    """:func:`clearconv.backend.standardize_dtype` (Keras exports it here too)."""
    from .backend import standardize_dtype as standardize
    return standardize(dtype)


# --------------------------------------------------------------------------------------------------
# keras.utils.get_file: the Keras cache, read only
# --------------------------------------------------------------------------------------------------

def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """The path of a file in Keras's cache, as ``keras.utils.get_file`` returns it; never a download.

    The file is looked for where Keras would have saved it:
    ``<cache_dir>/<cache_subdir>/<fname>``, cache_dir defaulting to
    ``$KERAS_HOME`` or ``~/.keras`` (an absolute ``cache_subdir`` is used as
    is); ``fname`` defaults to the last part of ``origin``. When it is there,
    ``file_hash`` (sha256, or md5: ``hash_algorithm`` "auto" tells them by
    length) is checked, ``extract=True`` (or ``untar=True``) unpacks a tar or
    zip archive next to it as Keras names the folder, and the path (of the
    file, or of the extracted folder) is returned.

    When it is not there, or with ``force_download=True``, FileNotFoundError
    says where to put the file: clearconv never downloads.
    """
    from .config import keras_home
    if fname is None and origin is None:
        raise ValueError("get_file: give `fname` or `origin` (the URL whose last part names the file)")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: `hash_algorithm` must be 'auto', 'sha256' or 'md5'; received {hash_algorithm!r}")
    name = os.fspath(fname) if fname is not None else ""
    if not name:
        name = os.path.basename(str(origin).split("?")[0].split("#")[0].rstrip("/"))
        if not name:
            raise ValueError(f"get_file: cannot tell the file name from origin={origin!r}; pass `fname`")
    elif os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"get_file: `fname` must be a file name, not a path; to choose the directory use "
                         f"`cache_dir`. Received: fname={name}")
    base = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else keras_home()
    directory = os.path.join(base, os.fspath(cache_subdir))
    extracting = bool(extract or untar)
    if extracting:
        # Keras's layout: "data.tar.gz" unpacks into data_extracted/; a name without a dot keeps the
        # archive as <name>_archive and unpacks into <name>/.
        if fname is not None and "." in name:
            target = os.path.join(directory, name)
            folder = os.path.join(directory, name[:name.find(".")] + "_extracted")
        else:
            target = os.path.join(directory, name + "_archive")
            folder = os.path.join(directory, name)
    else:
        target, folder = os.path.join(directory, name), None
    source = f" from {origin}" if origin else ""
    if force_download:
        raise FileNotFoundError(f"get_file: force_download=True asks for a download, and clearconv never "
                                f"downloads. Fetch the file{source} yourself and save it as {target}.")
    if not os.path.isfile(target):
        raise FileNotFoundError(f"get_file: {target} does not exist, and clearconv never downloads. Fetch the "
                                f"file{source} yourself and save it there (or pass cache_dir=DIR to look in "
                                f"DIR/{cache_subdir}/ instead).")
    if file_hash is not None and hash_algorithm == "auto":
        hash_algorithm = "sha256" if len(str(file_hash)) == 64 else "md5"
    if file_hash is not None and not _hash_matches(target, str(file_hash), hash_algorithm):
        raise ValueError(f"get_file: {target} does not match the expected {hash_algorithm} hash {file_hash} "
                         f"(incomplete or another version); replace it with the file{source}")
    if extracting:
        _extract_archive(target, folder, "tar" if untar else archive_format)
        return folder
    return target


def _hash_matches(path: str, expected: str, algorithm: str) -> bool:
    import hashlib
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == expected.lower()


def _extract_archive(archive: str, folder: str, archive_format) -> None:
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into ``folder``; no member may land outside it."""
    import tarfile
    import zipfile
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format or []))
    unknown = [f for f in formats if f not in ("tar", "zip")]
    if unknown or not formats:
        raise ValueError(f"get_file: `archive_format` must be 'auto', 'tar', 'zip' or a list of them; "
                         f"received {archive_format!r}")
    root = os.path.realpath(folder)
    if "tar" in formats and tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            if "filter" not in inspect.signature(bundle.extractall).parameters:
                raise RuntimeError("get_file: this Python's tarfile cannot refuse unsafe archive members "
                                   "(needs Python >= 3.10.12 or 3.11.4); extract the archive yourself")
            # the "data" filter refuses absolute paths, '..', links leaving the folder and device files
            bundle.extractall(root, filter="data")
        return
    if "zip" in formats and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                destination = os.path.realpath(os.path.join(root, member))
                if os.path.commonpath([destination, root]) != root:
                    raise ValueError(f"get_file: {archive} holds the member {member!r}, which would be written "
                                     f"outside {root}; refusing to extract it")
            bundle.extractall(root)
        return
    raise ValueError(f"get_file: {archive} is not a {' or '.join(formats)} archive, so extract=True cannot "
                     f"unpack it")


# --------------------------------------------------------------------------------------------------
# keras.utils.model_to_dot / plot_model: a model's layer graph through pydot and Graphviz
# --------------------------------------------------------------------------------------------------

_PYDOT_HELP = "install it with `pip install pydot`"
_GRAPHVIZ_HELP = ("install Graphviz, whose `dot` program draws the graph: `apt-get install graphviz` (Debian, "
                  "Ubuntu), `brew install graphviz` (macOS), or see https://graphviz.org/download/")


def _import_pydot(function: str):
    try:
        import pydot
    except ImportError:
        raise ImportError(f"{function} needs the Python package pydot, which is not installed: {_PYDOT_HELP}"
                          f"{'' if function == 'model_to_dot' else '; it also needs Graphviz: ' + _GRAPHVIZ_HELP}"
                          ) from None
    return pydot


def _check_plot_arguments(owner: str, model, kwargs: dict) -> None:
    """Keras's refusals shared by model_to_dot and plot_model: a removed argument, unknown ones,
    an unbuilt model."""
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError(f"{owner}: argument `layer_range` is no longer supported (as in Keras 3)")
    if kwargs:
        raise ValueError(f"{owner}: unrecognized keyword arguments {sorted(kwargs)}")
    if not getattr(model, "built", False):
        raise ValueError("This model has not yet been built. Build the model first by calling `build()` or by "
                         "calling the model on a batch of data.")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False,
                 show_trainable=False, splines="ortho", **kwargs):
    """The layer graph of ``model`` as a ``pydot.Dot`` (a ``pydot.Cluster`` with ``subgraph=True``).

    One node per layer (a functional model's ``Input`` layers included, a
    Sequential's not, as in Keras), one edge per connection between layer
    calls. Each node shows the layer's name and class (class only with
    ``show_layer_names=False``), and on request its activation, input and
    output shapes (``"?"`` for a layer called more than once), output dtype
    and whether it is trainable. ``expand_nested=True`` draws a nested model
    as a dashed cluster of its own layers instead of one node. A model
    without a layer graph (a subclassed ``Model``) is one node. Needs the
    package pydot; drawing it to a file (:func:`plot_model`) needs Graphviz.
    """
    from .models.sequential import Sequential
    _check_plot_arguments("model_to_dot", model, kwargs)
    pydot = _import_pydot("model_to_dot")
    if subgraph:
        dot = pydot.Cluster(graph_name=model.name, style="dashed", label=model.name, labeljust="l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    show = {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
            "show_layer_activations": show_layer_activations, "show_trainable": show_trainable}
    if not _has_graph(model):
        dot.add_node(_layer_node(pydot, model, None, show))
        return dot

    layers = model.layers
    calls = _layer_calls(model)
    for layer in layers:
        if expand_nested and _has_graph(layer):
            dot.add_subgraph(model_to_dot(layer, rankdir=rankdir, expand_nested=True, dpi=dpi, subgraph=True,
                                          splines=splines, **show))
        else:
            dot.add_node(_layer_node(pydot, layer, calls.get(id(layer)), show))

    def connect(source, destination, index):
        sources = _output_layers(source) if expand_nested else [source]
        destinations = [_input_layer(destination, index)] if expand_nested else [destination]
        for start in sources:
            for end in destinations:
                if not dot.get_edge(str(id(start)), str(id(end))):
                    edge = pydot.Edge(str(id(start)), str(id(end)))
                    edge.set("penwidth", "2")
                    dot.add_edge(edge)

    if isinstance(model, Sequential):
        for before, after in zip(layers, layers[1:]):      # the stack, in order
            connect(before, after, 0)
        return dot
    for node in model._nodes:                               # every call in the graph and what fed it
        for index, parent in enumerate(node.inputs):
            connect(parent.layer, node.layer, index)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draw ``model``'s layer graph (see :func:`model_to_dot`) into ``to_file``, as Keras's ``plot_model``.

    The format is the file's extension (``.png`` when there is none): any
    format of Graphviz's ``dot`` (png, svg, pdf, dot, ...). Returns an
    ``IPython.display.Image`` of the file when IPython is installed and the
    format is a bitmap (png, jpg, gif), else None. Needs the package pydot (``pip install
    pydot``) and Graphviz's ``dot`` program (``apt-get install graphviz``);
    ImportError says so when one is missing.
    """
    _check_plot_arguments("plot_model", model, kwargs)
    pydot = _import_pydot("plot_model")
    try:
        pydot.Dot.create(pydot.Dot())          # runs `dot` once on an empty graph
    except (OSError, getattr(pydot, "PydotException", OSError)) as error:
        raise ImportError(f"plot_model needs Graphviz's `dot` program, which was not found or failed "
                          f"({error}): {_GRAPHVIZ_HELP}") from None
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    # Keras returns an Image for every format but pdf; IPython's Image embeds only bitmaps, so the
    # other formats (svg, dot, ...) return None here instead of failing after the file is written.
    if extension.lower() in ("png", "jpg", "jpeg", "gif"):
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None


def _has_graph(model) -> bool:
    """True for a functional or Sequential model whose layer graph exists (not a plain layer)."""
    return hasattr(model, "_nodes") and hasattr(model, "inputs") and hasattr(model, "outputs")


def _layer_calls(model) -> dict:
    """id(layer) -> the symbolic tensors it produced in ``model`` (its Input tensors for an InputLayer)."""
    calls: dict = {}
    for tensor in list(model.inputs) + list(model._nodes):
        calls.setdefault(id(tensor.layer), []).append(tensor)
    return calls


def _output_layers(layer) -> list:
    """The innermost layers whose outputs leave ``layer`` (itself unless it is a model with a graph)."""
    if not _has_graph(layer):
        return [layer]
    return [inner for output in layer.outputs for inner in _output_layers(output.layer)]


def _input_layer(layer, index: int):
    """The innermost layer receiving input ``index`` of ``layer``: a nested functional model's Input layer,
    a nested Sequential's first layer."""
    from .models.sequential import Sequential
    while _has_graph(layer):
        if isinstance(layer, Sequential):
            layer = layer.layers[0]
        else:
            layer = layer.inputs[min(index, len(layer.inputs) - 1)].layer
    return layer


def _layer_node(pydot, layer, calls, show: dict):
    node = pydot.Node(str(id(layer)), label=_layer_label(layer, calls, **show))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _layer_label(layer, calls, show_shapes, show_dtype, show_layer_names, show_layer_activations,
                 show_trainable) -> str:
    """Graphviz's HTML-like label: a title row, then activation, shapes, dtype and trainable cells."""
    from .layers.core import InputLayer
    class_name = type(layer).__name__
    single = calls[0] if calls is not None and len(calls) == 1 else None       # "?" for a shared layer
    cells = []
    if show_shapes:
        if not isinstance(layer, InputLayer):
            shapes = None if single is None else [tensor.shape for tensor in single.inputs]
            shown = "?" if shapes is None else str(shapes[0] if len(shapes) == 1 else shapes)
            cells.append(f"Input shape: <b>{html.escape(shown)}</b>")
        shown = "?" if single is None else str(single.shape)
        cells.append(f"Output shape: <b>{html.escape(shown)}</b>")
    if show_dtype:
        shown = "?" if single is None else str(single.dtype)
        cells.append(f"Output dtype: <b>{html.escape(shown)}</b>")
    # Keras sizes the title to every column the options can give (two for shapes), whatever this layer shows.
    columns = max(1, 2 * bool(show_shapes) + bool(show_dtype) + bool(show_trainable))
    title = (f"<b>{html.escape(layer.name)}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>")
    rows = [f'<tr><td colspan="{columns}" bgcolor="black"><font point-size="16" color="white">{title}'
            f'</font></td></tr>']
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)
        rows.append(f'<tr><td colspan="{columns}" bgcolor="white"><font point-size="14">'
                    f'Activation: <b>{html.escape(str(name))}</b></font></td></tr>')
    row = [f'<td bgcolor="white"><font point-size="14">{cell}</font></td>' for cell in cells]
    if show_trainable and layer.weights:
        colour, word = ("forestgreen", "Trainable") if layer.trainable else ("firebrick", "Non-trainable")
        row.append(f'<td bgcolor="{colour}"><font point-size="14" color="white"><b>{word}</b></font></td>')
    if row:
        rows.append(f"<tr>{''.join(row)}</tr>")
    return f'<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">{"".join(rows)}</table>>'


def __getattr__(name: str):
    # PyDataset lives with the data plumbing, which imports this module: it is loaded on first use.
    if name in ("PyDataset", "Sequence"):  # Sequence is Keras's older name for PyDataset
        from .data.py_dataset import PyDataset
        return PyDataset
    if name == "register_keras_serializable":
        from .saving import register_keras_serializable
        return register_keras_serializable
    raise AttributeError(f"module 'clearconv.utils' has no attribute {name!r}")
