"""`clearconv train`: train a zoo model on a dataset and save it, never losing the trained model.

The order is what keeps the work: every option and the destination are checked before the data is
read; the model is built and a save of it is tried before training; after training the model is
saved first (to a fallback file if the destination fails), then evaluated on the test split.

Launched by MPI (``mpirun -n 4 clearconv train ...``), every process reads the data and trains on its
shard of each batch under :class:`clearconv.distribution.DataParallel`: the same model as one process
with the same ``--batch-size``. Rank 0 alone prints and saves; the test split is evaluated sharded.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from typing import NamedTuple

from .errors import FileError, UsageError, one_line
from .files import check_model_saves, check_output_path, dataset_name, load_dataset, save_with_fallback


class Recipe(NamedTuple):
    """What `clearconv train` runs when an option is not given: documented in docs/training.md.

    label_smoothing > 0 trains with CategoricalCrossentropy on one-hot labels (Keras's sparse loss has no
    smoothing); weight_decay > 0 trains with AdamW instead of Adam.
    """
    model: str
    epochs: int
    learning_rate: float
    batch_size: int = 32
    validation_split: float = 0.1
    lr_schedule: str = "constant"
    label_smoothing: float = 0.0
    weight_decay: float = 0.0


# The recipe of each dataset (its default model), and under (dataset, model) the recipe of a model that
# has its own, used when that model is named.
RECIPES = {
    "digits": Recipe("digits_cnn", 30, 1e-3),
    "fashion-mnist": Recipe("lenet5", 10, 1e-3),
    "mnist": Recipe("lenet5", 10, 1e-3),
    # The published CNN's recipe: Adam 1e-2, batch 100, all 4,000 training samples, 6,000 steps.
    "mnist1d": Recipe("mnist1d_cnn", 150, 1e-2, batch_size=100, validation_split=0.0),
    "signals": Recipe("signal1d", 15, 1e-3),
    # Augmentation in the model; all 60,000 images, smoothed targets, cosine decay over 40 epochs.
    ("fashion-mnist", "augmented_vgg"): Recipe("augmented_vgg", 40, 2e-3, batch_size=128, validation_split=0.0,
                                               lr_schedule="cosine", label_smoothing=0.1),
}


def recipe_for(data_name: str, model_name: str | None) -> Recipe:
    """The named model's own recipe for this dataset if it has one, else the dataset's."""
    if model_name is not None and (data_name, model_name) in RECIPES:
        return RECIPES[data_name, model_name]
    return RECIPES[data_name]


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def build_classifier(model_name: str, data_name: str, input_shape: tuple, num_classes: int):
    """The zoo model for these inputs, checked to give one probability per class (UsageError if not)."""
    from .. import zoo
    if "num_classes" not in inspect.signature(zoo.MODELS[model_name]).parameters:
        raise UsageError(f"{model_name} is not a classifier of one input (it takes no num_classes); "
                         f"train trains classifiers such as {RECIPES[data_name].model}")
    try:
        model = zoo.get(model_name, input_shape=input_shape, num_classes=num_classes)
    except (TypeError, ValueError) as error:
        raise UsageError(f"{model_name} does not fit {data_name}'s inputs of shape {input_shape}: "
                         f"{one_line(error)}") from error
    output_shape = tuple(model.outputs[0].shape)
    if len(model.inputs) != 1 or output_shape != (None, num_classes):
        raise UsageError(f"{model_name} gives outputs of shape {output_shape}, not one probability for each "
                         f"of {data_name}'s {num_classes} classes; train trains classifiers such as "
                         f"{RECIPES[data_name].model}")
    return model


def _one_line_report(error: BaseException) -> tuple[str, int]:
    """How a process of an MPI launch reports the error that ends the job: the command's one line and exit
    code (as ``clearconv.cli.main`` gives them on one process)."""
    if isinstance(error, KeyboardInterrupt):
        return "clearconv train: error: interrupted", 130
    return f"clearconv train: error: {one_line(error)}", 2 if isinstance(error, UsageError) else 1


def run(args) -> int:
    from .. import distribution
    if distribution.launched_by_mpi():  # no flag: the launcher's environment says it
        distribution.set_distribution(distribution.DataParallel())
    # Under MPI an error on one process would leave the others waiting in a collective (or, raised on
    # every process alike, end each on its own): it ends the whole job with one line and the exit code
    # the command gives on one process (2 for a UsageError). One process: errors propagate to main().
    describe = None if getattr(args, "debug", False) else _one_line_report
    with distribution.abort_on_error(distribution.active(), describe):
        return _train(args)


def _train(args) -> int:
    from .. import allocator, distribution, optimizers, utils
    from ..data.batches import validation_split_index
    # Every process runs this function alike; one copy of each line is printed.
    say = print if distribution.is_main() else (lambda *args, **kwargs: None)
    name = dataset_name(args.data)
    recipe = recipe_for(name, args.model)
    # `is None`, not `or`: a value given is used as given (the parser has refused 0 and empty names).
    model_name = recipe.model if args.model is None else args.model
    epochs = recipe.epochs if args.epochs is None else args.epochs
    learning_rate = recipe.learning_rate if args.lr is None else args.lr
    batch_size = recipe.batch_size if args.batch_size is None else args.batch_size
    validation_split = recipe.validation_split if args.validation_split is None else args.validation_split
    lr_schedule = recipe.lr_schedule if args.lr_schedule is None else args.lr_schedule
    label_smoothing = recipe.label_smoothing if args.label_smoothing is None else args.label_smoothing
    weight_decay = recipe.weight_decay if args.weight_decay is None else args.weight_decay
    output = f"{model_name}-{name}.clearconv" if args.output is None else args.output
    check_output_path(output)
    if args.log is not None:
        check_output_path(args.log, "history.csv", "--log")
        if os.path.abspath(args.log) == os.path.abspath(output):
            raise UsageError(f"--log {args.log} is the model's --output file; give the log a file of its own, "
                             f"such as history.csv")
    if args.validate_on_test and validation_split:
        raise UsageError(f"--validate-on-test validates on the test split, so it needs --validation-split 0; "
                         f"received a validation split of {validation_split:g}")

    utils.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_dataset(args.data, args.seed)
    fit_samples = len(x_train)
    if validation_split:
        try:
            fit_samples = validation_split_index(fit_samples, validation_split, "--validation-split")
        except ValueError as error:
            raise UsageError(one_line(error)) from error
    num_classes = int(y_train.max()) + 1
    model = build_classifier(model_name, name, tuple(x_train.shape[1:]), num_classes)
    schedule = learning_rate
    if lr_schedule == "cosine":
        schedule = optimizers.CosineDecay(learning_rate, decay_steps=epochs * math.ceil(fit_samples / batch_size))
    optimizer = (optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay) if weight_decay
                 else optimizers.Adam(learning_rate=schedule))
    if label_smoothing:
        # Smoothing needs a distribution per sample: one-hot labels and the categorical loss, as in Keras.
        from .. import losses
        y_train, y_test = utils.to_categorical(y_train, num_classes), utils.to_categorical(y_test, num_classes)
        loss = losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    else:
        loss = "sparse_categorical_crossentropy"
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    check_model_saves(model, output)

    processes = distribution.world_size()
    say(f"training {model_name} ({model.count_params():,} parameters) on {name}: "
        f"{_count(fit_samples, 'training sample')}, {_count(epochs, 'epoch')}, batch size {batch_size}"
        f"{f' over {processes} processes' if processes > 1 else ''}, "
        f"{'AdamW' if weight_decay else 'Adam'} learning rate {learning_rate:g}"
        f"{' with cosine decay' if lr_schedule == 'cosine' else ''}"
        f"{f', weight decay {weight_decay:g}' if weight_decay else ''}"
        f"{f', label smoothing {label_smoothing:g}' if label_smoothing else ''}; saving to {output}")
    say(allocator.describe())
    if args.validate_on_test:
        say(f"validating on the {len(x_test):,} test samples after every epoch (a curve to watch; nothing "
            f"is chosen by it)")
    callbacks = []
    if args.log is not None:
        from ..callbacks import CSVLogger
        callbacks.append(CSVLogger(args.log))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=validation_split, callbacks=callbacks,
                        validation_data=(x_test, y_test) if args.validate_on_test else None,
                        validation_batch_size=256 if args.validate_on_test else None,
                        verbose=0 if args.quiet else 1)
    seconds = time.perf_counter() - start
    saved, save_failure = save_with_fallback(model, output)    # before anything else can fail
    try:
        loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    except Exception as error:
        raise FileError(f"evaluating on the test split failed: {one_line(error)} (the trained model is saved "
                        f"in {saved})") from error
    epochs_run = len(history.epoch)
    stopped = "" if epochs_run == epochs else f" (stopped early: {epochs_run} of {epochs})"
    say(f"{model_name} on {name}: {_count(epochs_run, 'epoch')}{stopped} in {seconds:.1f} s "
        f"({seconds / max(1, epochs_run):.1f} s/epoch)")
    say(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out samples")
    if save_failure is not None:
        raise FileError(f"could not save to {output}: {save_failure}; the trained model was saved to {saved} "
                        f"instead")
    say(f"saved to {saved}")
    return 0
