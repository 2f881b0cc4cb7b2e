"""Zoo models predicting one batch, as built and with BatchNormalization folded (clearconv only).

The headline speed-up is total as-built time / total folded time over every
round, the two taking turns (as built first on even rounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from clearconv import layers as cc_layers
from clearconv import utils, zoo

from .names import ZOO_NAMES
from .parity import relative_error
from .table import render
from .timing import Measurements, contended_turns
from .turns import headline

ZOO_BATCH = 256           # images per predict call
FOLD_TOLERANCE = 1e-4     # folded vs as-built predictions, relative to the largest


@dataclass
class ZooCase:
    """Inference of a zoo model, as built and with its BatchNormalization folded."""

    name: str
    make_model: Callable
    extra: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"zoo.{self.name}, predict on a batch of {ZOO_BATCH}"


def zoo_cases() -> dict[str, ZooCase]:
    return {name: ZooCase(name, getattr(zoo, name)) for name in ZOO_NAMES}


def randomize_batchnorm(model, rng: np.random.Generator) -> None:
    """Non-trivial BatchNormalization parameters and statistics, so folding them changes the kernels."""
    for layer in model.layers:
        if isinstance(layer, cc_layers.BatchNormalization):
            values = []
            for weight in layer.weights:
                role = weight.name.rsplit("/", 1)[-1]
                if role in ("gamma", "moving_variance"):
                    values.append(rng.uniform(0.5, 1.5, weight.shape).astype(np.float32))
                else:
                    values.append((rng.standard_normal(weight.shape) * 0.1).astype(np.float32))
            layer.set_weights(values)


def prepare_zoo(case: ZooCase, rng: np.random.Generator) -> dict[tuple, Callable]:
    """A zoo model (random weights) as built and folded, on one fixed random batch; built listed first."""
    utils.set_seed(0)
    model = case.make_model()
    randomize_batchnorm(model, rng)
    input_shape = tuple(model.inputs[0].shape[1:])
    x = rng.random((ZOO_BATCH, *input_shape), dtype=np.float32)
    folded = model.fold_batchnorm()
    built_output = model.predict(x, batch_size=ZOO_BATCH, verbose=0)
    folded_output = folded.predict(x, batch_size=ZOO_BATCH, verbose=0)
    case.extra.update(input_shape=input_shape, fold_error=relative_error(folded_output, built_output))
    return {("predict", "built"): lambda: model.predict(x, batch_size=ZOO_BATCH, verbose=0),
            ("predict", "folded"): lambda: folded.predict(x, batch_size=ZOO_BATCH, verbose=0)}


def summarize_zoo(case: ZooCase, found: Measurements) -> dict:
    """ms per batch (total / turns), images per second and the speed-up as built / folded in total time."""
    built = found.seconds[case.name]["predict", "built"]
    figures = headline(found.seconds[case.name]["predict", "folded"], {"built": built})   # ratio = folded / built
    turns = figures["turns"]
    built_ms, folded_ms = 1e3 * figures["torch_totals"]["built"] / turns, 1e3 * figures["clearconv_total"] / turns
    return {"model": case.name, "input_shape": case.extra["input_shape"], "batch": ZOO_BATCH,
            "built_ms": built_ms, "folded_ms": folded_ms,
            "built_images_per_s": ZOO_BATCH / (built_ms * 1e-3), "folded_images_per_s": ZOO_BATCH / (folded_ms * 1e-3),
            "speedup": 1.0 / figures["ratio"], "turn_speedups": [1.0 / r for r in figures["turn_ratios"]],
            "fold_error": case.extra["fold_error"], "turns": turns,
            "contended_turns": contended_turns(found, case.name, [("predict", "built"), ("predict", "folded")])}


def format_zoo_table(zoo_rows: list[dict]) -> str:
    header = ("model", "input", "as built ms/batch", "as built img/s", "folded ms/batch", "folded img/s",
              "speed-up", "per-turn speed-ups", "folded vs built")
    lines = [(row["model"], f"{ZOO_BATCH}x" + "x".join(str(n) for n in row["input_shape"]),
              f"{row['built_ms']:.1f}", f"{row['built_images_per_s']:.0f}", f"{row['folded_ms']:.1f}",
              f"{row['folded_images_per_s']:.0f}", f"{row['speedup']:.2f}x",
              f"{min(row['turn_speedups']):.2f}-{max(row['turn_speedups']):.2f}", f"{row['fold_error']:.1e}")
             for row in zoo_rows]
    return render(header, lines)
