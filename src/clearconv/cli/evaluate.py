"""`clearconv evaluate`: loss and accuracy of a saved model on a dataset's test split."""

from __future__ import annotations

from .. import utils
from .errors import FileError, report
from .files import dataset_name, load_dataset, load_model_file


def check_fits(model, path: str, name: str, x_test, y_test) -> None:
    """Refuse (FileError naming ``path``) a model whose input shape is not the data's, or that does not
    give one score for each of the data's classes: one input, one (N, scores) output."""
    expected = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
    given = tuple(x_test.shape[1:])
    if expected is None or len(expected) != len(given) or any(e not in (None, g) for e, g in zip(expected, given)):
        shapes = ", ".join(str(tuple(symbol.shape[1:])) for symbol in model.inputs)
        raise FileError(f"{path}: the model takes inputs of shape {shapes}; {name} has {given}")
    classes, scores = int(y_test.max()) + 1, model.outputs[0].shape[-1]
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2 or (scores is not None and scores < classes):
        raise FileError(f"{path}: the model gives outputs of shape {tuple(model.outputs[0].shape)}; "
                        f"{name} needs one score for each of its {classes} classes")


def takes_one_hot(loss) -> bool:
    """Whether a compiled loss (a name, a Loss, or the config a loaded file holds) is categorical
    cross-entropy, which takes one-hot labels: `clearconv train --label-smoothing` compiles it."""
    if isinstance(loss, dict):
        loss = loss.get("class_name")
    name = loss if isinstance(loss, str) else type(loss).__name__
    return name in ("categorical_crossentropy", "CategoricalCrossentropy")


def run(args) -> int:
    model = load_model_file(args.path, compile=True)
    name = dataset_name(args.data)
    _, (x_test, y_test) = load_dataset(args.data, args.seed)
    check_fits(model, args.path, name, x_test, y_test)
    if not model.compiled:
        report("evaluate", "note", f"{args.path} holds no loss (saved before compile()): evaluating with "
                                   f"sparse_categorical_crossentropy and accuracy")
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if takes_one_hot(model.loss):
        y_test = utils.to_categorical(y_test, model.outputs[0].shape[-1])
    logs = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0, return_dict=True)
    others = ", ".join(f"{key} {value:.4f}" for key, value in logs.items() if key not in ("loss", "accuracy"))
    if "accuracy" in logs:
        line = f"test accuracy {logs['accuracy']:.4f} (loss {logs['loss']:.4f})"
    else:
        line = f"test loss {logs['loss']:.4f}"
    print(f"{line}{', ' + others if others else ''} on {len(x_test)} samples")
    return 0
