"""`clearconv train`: train a zoo model on a dataset and save it, never losing the trained model.

The order is what keeps the work: every option and the destination are checked before the data is
read; the model is built and a save of it is tried before training; after training the model is
saved first (to a fallback file if the destination fails), then evaluated on the test split.
"""

from __future__ import annotations

import inspect
import math
import time

from .errors import FileError, UsageError, one_line
from .files import check_model_saves, check_output_path, dataset_name, load_dataset, save_with_fallback

# Default model, epochs and learning rate per dataset: recipes documented in docs/training.md.
RECIPES = {
    "digits": ("digits_cnn", 30, 1e-3),
    "fashion-mnist": ("lenet5", 10, 1e-3),
    "mnist": ("lenet5", 10, 1e-3),
    "mnist1d": ("mnist1d_cnn", 40, 1e-3),
    "signals": ("signal1d", 15, 1e-3),
}


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def build_classifier(model_name: str, data_name: str, input_shape: tuple, num_classes: int):
    """The zoo model for these inputs, checked to give one probability per class (UsageError if not)."""
    from .. import zoo
    if "num_classes" not in inspect.signature(zoo.MODELS[model_name]).parameters:
        raise UsageError(f"{model_name} is not a classifier of one input (it takes no num_classes); "
                         f"train trains classifiers such as {RECIPES[data_name][0]}")
    try:
        model = zoo.get(model_name, input_shape=input_shape, num_classes=num_classes)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{model_name} does not fit {data_name}'s inputs of shape {input_shape}: "
                         f"{one_line(error)}") from error
    output_shape = tuple(model.outputs[0].shape)
    if len(model.inputs) != 1 or output_shape != (None, num_classes):
        raise UsageError(f"{model_name} gives outputs of shape {output_shape}, not one probability for each "
                         f"of {data_name}'s {num_classes} classes; train trains classifiers such as "
                         f"{RECIPES[data_name][0]}")
    return model


def run(args) -> int:
    from .. import allocator, optimizers, utils
    from ..data.batches import validation_split_index
    name = dataset_name(args.data)
    recipe_model, recipe_epochs, recipe_learning_rate = RECIPES[name]
    # `is None`, not `or`: a value given is used as given (the parser has refused 0 and empty names).
    model_name = recipe_model if args.model is None else args.model
    epochs = recipe_epochs if args.epochs is None else args.epochs
    learning_rate = recipe_learning_rate if args.lr is None else args.lr
    output = f"{model_name}-{name}.clearconv" if args.output is None else args.output
    check_output_path(output)

    utils.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(args.data, args.seed)
    fit_samples = len(x_train)
    if args.validation_split:
        try:
            fit_samples = validation_split_index(fit_samples, args.validation_split, "--validation-split")
        except ValueError as error:
            raise UsageError(one_line(error)) from error
    model = build_classifier(model_name, name, tuple(x_train.shape[1:]), int(y_train.max()) + 1)
    schedule = learning_rate
    if args.lr_schedule == "cosine":
        schedule = optimizers.CosineDecay(learning_rate, decay_steps=epochs * math.ceil(fit_samples / args.batch_size))
    model.compile(optimizer=optimizers.Adam(learning_rate=schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    check_model_saves(model, output)

    print(f"training {model_name} ({model.count_params():,} parameters) on {name}: "
          f"{_count(fit_samples, 'training sample')}, {_count(epochs, 'epoch')}, batch size {args.batch_size}, "
          f"Adam learning rate {learning_rate:g}{' with cosine decay' if args.lr_schedule == 'cosine' else ''}; "
          f"saving to {output}")
    print(allocator.describe())
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs,
                        validation_split=args.validation_split, verbose=0 if args.quiet else 1)
    seconds = time.perf_counter() - start
    saved, save_failure = save_with_fallback(model, output)    # before anything else can fail
    try:
        loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    except Exception as error:
        raise FileError(f"evaluating on the test split failed: {one_line(error)} (the trained model is saved "
                        f"in {saved})") from error
    epochs_run = len(history.epoch)
    stopped = "" if epochs_run == epochs else f" (stopped early: {epochs_run} of {epochs})"
    print(f"{model_name} on {name}: {_count(epochs_run, 'epoch')}{stopped} in {seconds:.1f} s "
          f"({seconds / max(1, epochs_run):.1f} s/epoch)")
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out samples")
    if save_failure is not None:
        raise FileError(f"could not save to {output}: {save_failure}; the trained model was saved to {saved} "
                        f"instead")
    print(f"saved to {saved}")
    return 0
