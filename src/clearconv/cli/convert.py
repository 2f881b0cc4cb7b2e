"""`clearconv convert IN OUT`: a model from one file format to another, checked by reading it back.

IN is any model file clearconv reads (its own, Keras ``.keras``/``.h5``, ONNX); a PyTorch state_dict or a
safetensors file holds weights only, so ``--like`` names the architecture (a model file or a zoo model) they
are loaded into. OUT's extension picks the format: ``.keras``, ``.onnx``, ``.weights.h5`` (weights in Keras's
layout), anything else clearconv's own. The written file is read back and its predictions on a seeded random
sample are compared with the model's: the command prints the largest difference (unless one sample's tensors
hold more than PROBE_VALUES values, which it says).
"""

from __future__ import annotations

import numpy as np

from .errors import FileError, UsageError, one_line
from .files import check_output_path, check_readable, model_or_zoo

_NAMES = {"clearconv": "clearconv's own format", "keras": "Keras 3 (.keras)", "keras-h5": "Keras HDF5",
          "torch": "a torch.save state_dict", "safetensors": "safetensors", "onnx": "ONNX"}


def _read(args):
    """(model, format of IN) for the IN file."""
    from ..io import file_format, load_model, load_weights
    from ..io.formats import WEIGHTS_ONLY
    check_readable(args.source, "a model file")
    try:
        kind = file_format(args.source)
    except ValueError as error:
        raise FileError(one_line(error)) from error
    if kind in WEIGHTS_ONLY:
        if args.like is None:
            raise UsageError(f"{args.source} holds {_NAMES[kind]}: weights without an architecture; name the "
                             f"architecture with --like MODEL_FILE or --like ZOO_NAME")
        model, _ = model_or_zoo(args.like)
        try:
            load_weights(model, args.source)
        except ValueError as error:
            raise FileError(one_line(error)) from error
        return model, kind
    if args.like is not None:
        raise UsageError(f"--like: {args.source} holds a whole model ({_NAMES[kind]}); --like is for weights-only "
                         f"files (PyTorch state_dicts, safetensors)")
    try:
        return load_model(args.source), kind
    except ValueError as error:
        raise FileError(one_line(error)) from error


PROBE_VALUES = 2**26   # the read-back check runs when one sample's tensors hold at most this many values (256 MiB)


def _probe(model) -> list:
    """A seeded random input of one sample for every model input (unknown sizes taken as 8)."""
    rng = np.random.default_rng(0)
    return [rng.standard_normal((1, *[8 if d is None else d for d in symbol.shape[1:]])).astype(symbol.dtype or
                                                                                               "float32")
            for symbol in model.inputs]


def _values_per_sample(model) -> int:
    """How many values one sample's layer outputs hold in all (what running the check costs)."""
    from ..explain.shapes import shape_table
    try:
        rows = shape_table(model)
    except Exception:   # a layer whose shape arithmetic is not modelled: assume the check is affordable
        return 0
    return sum(int(np.prod([8 if d is None else d for d in row.output_shape[1:]])) for row in rows)


def _outputs(model, inputs) -> list:
    out = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else
                                    list(out.values()) if isinstance(out, dict) else [out])]


def run(args) -> int:
    from ..io import load_model, load_weights
    check_output_path(args.output, example="model.keras", option="OUT")
    model, kind = _read(args)
    weights_only = args.output.lower().endswith(".weights.h5")
    try:
        if weights_only:
            model.save_weights(args.output)
        else:
            model.save(args.output)
    except ValueError as error:   # a layer the target format lacks, an extension no writer takes
        raise FileError(f"{args.output}: {one_line(error)}") from error
    parameters = sum(int(np.prod(w.shape)) for w in model.weights)
    print(f"converted {args.source} ({_NAMES[kind]}) to {args.output}: model {model.name}, {len(model.layers)} "
          f"layers, {parameters:,} parameters")
    values = _values_per_sample(model)
    if values > PROBE_VALUES:
        print(f"read back: not compared (one sample's tensors hold {values:,} values, more than the check's "
              f"{PROBE_VALUES:,})")
        return 0
    inputs = _probe(model)
    expected = _outputs(model, inputs)
    if weights_only:
        from ..models import clone_model
        again = clone_model(model)      # the architecture with fresh weights, then the file's
        load_weights(again, args.output)
    else:
        again = load_model(args.output, compile=False)
    difference = max(float(np.max(np.abs(a - b))) if a.size else 0.0
                     for a, b in zip(expected, _outputs(again, inputs)))
    print(f"read back: predictions on a seeded random input differ by at most {difference:.3g}")
    return 0
