"""`clearconv explain`: one output value of one layer, or Winograd's algorithm, worked out as the tutorials write it.

The model is a model file or a zoo model (built untrained, which the output says); the input an image
file (``--input``, read as ``clearconv predict`` reads it) or example ``--index`` of a dataset's test
split (``--data``). ``--layer`` defaults to the first convolution layer (``nested_model/layer`` names one
inside a nested model; ``--call K`` picks the call of a layer the model calls more than once), ``--at`` to
index 0 on every axis.

``--winograd 1d|2d`` instead of a model prints :func:`clearconv.explain.winograd` step by step: F(m, 3) or
F(m x m, 3 x 3) with ``--tile`` m (2 or 4, default 2), on ``--signal`` and ``--kernel`` .npy files or, for
what is not given, a seeded example (``--seed``) of small integers in [-3, 3], one tile's input
((m+2) or (m+2) x (m+2)) and a 3 or 3 x 3 kernel.
"""

from __future__ import annotations

import numpy as np

from .errors import FileError, UsageError, one_line
from .files import example_input, input_source, model_or_zoo, pick_layer

EXAMPLE_RANGE = (-3, 3)   # the seeded Winograd example's integers, both ends included
# each mode's own options (argparse's dests); the other mode refuses them
_WINOGRAD_ONLY = ("tile", "signal", "kernel")
_MODEL_ONLY = ("input", "data", "layer", "at", "call")
_NPY_MAGIC = b"\x93NUMPY"   # the first bytes of every .npy file


def _check_mode(args) -> None:
    """Exactly one of a model TARGET (with --input or --data) or --winograd, each with its own options."""
    if args.winograd is not None:
        if args.target is not None:
            raise UsageError(f"give a model TARGET or --winograd, not both; received {args.target!r} and "
                             f"--winograd {args.winograd}")
        given = [f"--{name}" for name in _MODEL_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{', '.join(given)}: options of a model TARGET, not of --winograd (which takes "
                             f"--tile, --signal, --kernel, --seed)")
        return
    if args.target is None:
        raise UsageError("give a model TARGET with --input IMAGE or --data NAME, or --winograd 1d|2d")
    given = [f"--{name}" for name in _WINOGRAD_ONLY if getattr(args, name) is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: options of --winograd, not of a model TARGET ({args.target!r})")
    if args.input is None and args.data is None:
        raise UsageError(f"{args.target}: give the input to explain, --input IMAGE or --data NAME")


def _winograd_array(path: str, option: str, rank: int, shape_rule: str, fits) -> np.ndarray:
    """The real, finite ``rank``-D array of the .npy file ``path`` for which ``fits(shape)`` holds, as float64;
    a FileError naming the file and ``option`` otherwise."""
    from .files import check_readable
    check_readable(path, "a .npy array")
    with open(path, "rb") as file:
        header = file.read(len(_NPY_MAGIC))
    if header != _NPY_MAGIC:  # a pickle, text, an .npz archive: np.load would call them all pickles
        raise FileError(f"{path} ({option}): not a .npy file (np.save writes them); pickles, text and .npz "
                        f"archives are not read")
    try:
        values = np.load(path, allow_pickle=False)
    except Exception as error:  # an array of Python objects, a truncated file
        raise FileError(f"{path} ({option}): not a .npy array of numbers ({one_line(error)})") from error
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.complexfloating):
        raise FileError(f"{path} ({option}): must hold real numbers; received dtype {values.dtype}")
    if values.ndim != rank or not fits(values.shape):
        raise FileError(f"{path} ({option}): --winograd {rank}d takes {shape_rule}; received shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise FileError(f"{path} ({option}): holds nan or inf")
    return values.astype(np.float64)


def _winograd(args) -> int:
    from ..explain import winograd
    rank = 1 if args.winograd == "1d" else 2
    tile = 2 if args.tile is None else args.tile
    rng = np.random.default_rng(args.seed)
    low, high = EXAMPLE_RANGE
    drawn = f"drawn with --seed {args.seed} (integers in [{low}, {high}])"
    if args.signal is not None:
        rule = "a 1D array (n,) with n >= 3" if rank == 1 else "a 2D array (h, w) with h, w >= 3"
        x = _winograd_array(args.signal, "--signal", rank, rule, lambda shape: min(shape) >= 3)
    else:
        x = rng.integers(low, high + 1, size=(tile + 2,) * rank)     # one tile's input
    if args.kernel is not None:
        shape = (3,) * rank
        g = _winograd_array(args.kernel, "--kernel", rank, f"a kernel of shape {shape}", lambda s: s == shape)
    else:
        g = rng.integers(low, high + 1, size=(3,) * rank)
    if args.signal is None and args.kernel is None:
        print(f"example: x and kernel g {drawn}")
    else:
        print(f"example: x {'from ' + args.signal if args.signal is not None else drawn}, kernel g "
              f"{'from ' + args.kernel if args.kernel is not None else drawn}")
    print(winograd(x, g, tile).format())
    return 0


def run(args) -> int:
    from ..explain import SUPPORTED_LAYERS, Tracer
    from ..explain.worked import worked_example
    _check_mode(args)
    if args.winograd is not None:
        return _winograd(args)
    model, untrained = model_or_zoo(args.target)
    if len(model.inputs) != 1:
        raise FileError(f"{args.target}: explain takes models of one input; this one has {len(model.inputs)}")
    layer = pick_layer(args.layer, model)
    if type(layer).__name__ not in SUPPORTED_LAYERS:
        raise UsageError(f"--layer {layer.name}: {type(layer).__name__} layers cannot be explained; supported "
                         f"kinds: {', '.join(SUPPORTED_LAYERS)}")
    x = example_input(args, model, "explain")
    tracer = Tracer(model, x)
    try:
        shape = tracer.output(layer, args.call).shape
    except ValueError as error:  # a layer called more than once without --call, or --call out of range
        message = one_line(error).replace('call=', '--call ').replace('call must', '--call must')
        raise UsageError(f"--layer {layer.name}: {message}") from error
    at = (0,) * len(shape) if args.at is None else args.at
    if len(at) != len(shape) or any(not 0 <= i < n for i, n in zip(at, shape)):
        raise UsageError(f"--at {','.join(map(str, at))}: layer {layer.name}'s output has shape {shape} (batch "
                         f"axis left out); give {len(shape)} integers, each from 0 to its size - 1")
    untrained_note = " (zoo model, untrained: random weights)" if untrained else ""
    print(f"model {model.name}{untrained_note}, input {input_source(args)}")
    print(worked_example(tracer.trace(layer, at, args.call)))
    return 0
