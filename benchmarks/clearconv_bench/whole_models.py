"""Whole zoo models, clearconv against their PyTorch twins: training steps, inference, parity.

The five models (:data:`SPECS`) are zoo.lenet5, zoo.small_vgg,
zoo.small_resnet, zoo.unet (its default 32x32x1 input, one class, a
per-pixel binary cross-entropy) and zoo.signal1d (512x1 signals, 2 classes);
PyTorch runs each model's twin (:mod:`.model_twins`) in every memory format
it offers (NCHW and channels_last for the 2D models, contiguous for the 1D
one), each with its own copy of clearconv's initial weights.

- **Data**: random, seeded (:func:`random_data`): uniform images in [0, 1)
  and uniform labels (or masks). Speed does not depend on the values.
- **Training** (:func:`train_rows`): ``steps`` batches of BATCH_SIZE, Adam
  1e-3 and the model's loss, cut into ``turns`` turns of whole batches, the
  players taking turns exactly as the LeNet-5 epochs do
  (:func:`.epoch.race`: untimed start-up on throwaway copies, clearconv first
  on even turns, PyTorch first on odd ones, CPU of other processes measured
  per turn). clearconv trains with ``fit`` (one call per turn), PyTorch with
  its usual loop. Headline: total clearconv time / total time of PyTorch's
  faster format. Afterwards one more turn of clearconv, instrumented,
  gives the step split (:mod:`.step_split`), a diagnostic.
- **Inference** (:func:`inference_units`): clearconv's ``model.predict``
  against the twin's ``module.eval()`` forward (with its last activation)
  under ``torch.no_grad()``, on one batch of 1 and one of
  INFERENCE_BATCH_SIZE, timed in blocks and rounds (:mod:`.timing`) as the
  conv cases are. ``model(x, training=False)`` on the batch of 1 is timed too,
  a diagnostic: predict's extra cost over it is its data adapter, callbacks
  and batching.
- **Parity** first (:mod:`.model_parity`); **memory** in fresh processes
  (:mod:`.model_memory`).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np
import torch

from clearconv import utils, zoo

from .epoch import WARM_UP_BATCHES, race
from .lenet import split_turns
from .names import MODEL_NAMES
from .step_split import StepSplit
from .summary import compare
from .timing import Measurements
from .trainers import ClearconvTrainer, torch_trainer
from .turns import headline
from .model_twins import copy_weights, make_twin, to_channels_first
from .zoo_inference import randomize_batchnorm

BATCH_SIZE = 64
INFERENCE_BATCH_SIZE = 256
DEFAULT_STEPS = 60        # training steps per player and model (about 2 minutes for the five on 2 cores)
DEFAULT_TURNS = 6         # training turns per model; also the inference rounds
SEED = 0
INFERENCE_MODES = ("predict b1", f"predict b{INFERENCE_BATCH_SIZE}")
CALL = "clearconv:call"   # diagnostic implementation: model(x, training=False) on the batch of 1


@dataclass(frozen=True)
class ModelSpec:
    """A zoo model to compare: its input (no batch axis), its loss and its classes (None: a per-pixel mask)."""

    name: str
    input_shape: tuple
    loss: str
    classes: int | None

    def make_model(self):
        return getattr(zoo, self.name)()

    @property
    def rank(self) -> int:
        return len(self.input_shape) - 1

    @property
    def torch_formats(self) -> tuple:
        return ("contiguous", "channels_last") if self.rank == 2 else ("contiguous",)

    @property
    def description(self) -> str:
        target = "per-pixel mask" if self.classes is None else f"{self.classes} classes"
        return f"zoo.{self.name}, {'x'.join(map(str, self.input_shape))}, {target}, {self.loss}"


SPECS = {
    "lenet5": ModelSpec("lenet5", (28, 28, 1), "sparse_categorical_crossentropy", 10),
    "small_vgg": ModelSpec("small_vgg", (28, 28, 1), "sparse_categorical_crossentropy", 10),
    "small_resnet": ModelSpec("small_resnet", (28, 28, 1), "sparse_categorical_crossentropy", 10),
    "unet": ModelSpec("unet", (32, 32, 1), "binary_crossentropy", None),
    "signal1d": ModelSpec("signal1d", (512, 1), "sparse_categorical_crossentropy", 2),
}
assert tuple(SPECS) == MODEL_NAMES


def random_data(spec: ModelSpec, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random samples: x (count, *input_shape) float32 in [0, 1); y int64 labels (count,) or a
    float32 0/1 mask of x's shape (per-pixel models)."""
    if count < 1:
        raise ValueError(f"random_data: count must be a positive integer; received {count}")
    x = rng.random((count, *spec.input_shape), dtype=np.float32)
    if spec.classes is None:
        y = (rng.random(x.shape) < 0.5).astype(np.float32)
    else:
        y = rng.integers(0, spec.classes, count)
    return x, y


def check_parity(specs: list[ModelSpec], rng: np.random.Generator, batch_size: int = BATCH_SIZE) -> dict:
    """{model: :func:`.model_parity.check` on one random batch}."""
    from . import model_parity

    results = {}
    for spec in specs:
        x, y = random_data(spec, batch_size, rng)
        results[spec.name] = model_parity.check(spec, x, y, SEED)
    return results


def train_row(spec: ModelSpec, steps: int, turns: int, rng: np.random.Generator,
              batch_size: int = BATCH_SIZE, seed: int = SEED) -> dict:
    """``steps`` training steps of each player, in ``turns`` turns; the headline, diagnostics and step split."""
    if steps < 1 or turns < 1:
        raise ValueError(f"train_row: steps and turns must be positive integers; received {steps}, {turns}")
    x, y = random_data(spec, steps * batch_size, rng)
    players = ("clearconv",) + tuple(f"torch:{name}" for name in spec.torch_formats)

    def make_trainers():
        ours = ClearconvTrainer(x, y, spec.make_model, spec.loss, None, batch_size, seed)
        made = {"clearconv": ours}
        for player in players[1:]:                                   # before any training: the same initial weights
            made[player] = torch_trainer(spec.name, ours.model, x, y, spec.loss, batch_size, seed,
                                         player.split(":", 1)[1])
        return made

    chunks = split_turns(np.arange(len(x)), batch_size, min(turns, steps))
    warm_up = np.arange(min(len(x), WARM_UP_BATCHES * batch_size))
    gc.collect()
    raced = race(make_trainers, warm_up, chunks)
    trainers = raced.pop("trainers")
    figures = headline(raced["seconds"]["clearconv"],
                       {player.split(":", 1)[1]: raced["seconds"][player] for player in players[1:]})
    split = StepSplit(trainers["clearconv"].model).fit(x[chunks[0]], y[chunks[0]], batch_size)
    figures.update(raced)
    figures.update(model=spec.name, steps=steps, batch_size=batch_size, input_shape=spec.input_shape,
                   clearconv_ms=1e3 * figures["clearconv_total"] / steps,
                   torch_ms={name: 1e3 * total / steps for name, total in figures["torch_totals"].items()},
                   quiet=not raced["contended_turns"], split=split)
    return figures


def train_rows(specs: list[ModelSpec], steps: int, turns: int, rng: np.random.Generator, log=print) -> list[dict]:
    rows = []
    for spec in specs:
        rows.append(train_row(spec, steps, turns, rng))
        row = rows[-1]
        log(f"  trained {spec.name}: {steps} steps each in {len(row['first'])} turns, clearconv "
            f"{row['clearconv_ms']:.1f} ms/step")
    return rows


def inference_units(spec: ModelSpec, rng: np.random.Generator) -> dict:
    """{(mode, implementation): callable}: clearconv first, its diagnostic call, then PyTorch in each format.

    The model has random BatchNormalization statistics (as the zoo rows), copied into the twins.
    """
    utils.set_seed(SEED)
    model = spec.make_model()
    randomize_batchnorm(model, rng)
    units = {}
    for mode, count in zip(INFERENCE_MODES, (1, INFERENCE_BATCH_SIZE)):
        x = rng.random((count, *spec.input_shape), dtype=np.float32)
        units[mode, "clearconv"] = (lambda x=x, count=count: model.predict(x, batch_size=count, verbose=0))
        if count == 1:
            units[mode, CALL] = (lambda x=x: model(x, training=False))
        for name in spec.torch_formats:
            module = make_twin(spec.name)
            copy_weights(model, module)
            module = module.to(memory_format=_memory_format(name)).eval()
            tensor = torch.from_numpy(to_channels_first(x)).contiguous(memory_format=_memory_format(name))
            units[mode, f"torch:{name}"] = (lambda module=module, tensor=tensor: _torch_predict(module, tensor))
    return units


def _memory_format(name: str):
    from .torch_twins import memory_format
    return memory_format(name)


def _torch_predict(module, tensor):
    with torch.no_grad():
        return module.predict(tensor)


def inference_rows(specs: list[ModelSpec], found: Measurements) -> list[dict]:
    """Per model and mode: clearconv's predict against PyTorch's faster format (total time), and the
    diagnostic call's time on the batch of 1."""
    rows = []
    for spec in specs:
        name = inference_name(spec)
        torch_keys = {fmt: f"torch:{fmt}" for fmt in spec.torch_formats}
        for mode in INFERENCE_MODES:
            row = compare(found, name, mode, "clearconv", torch_keys)
            row.update(model=spec.name, mode=mode, batch=1 if mode == INFERENCE_MODES[0] else INFERENCE_BATCH_SIZE)
            if (mode, CALL) in found.seconds[name]:
                call = found.seconds[name][mode, CALL]
                row["call_ms"] = 1e3 * sum(call) / len(call)
            rows.append(row)
    return rows


def inference_name(spec: ModelSpec) -> str:
    return f"{spec.name} inference"
