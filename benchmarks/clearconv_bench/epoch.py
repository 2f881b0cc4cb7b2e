"""lenet-epoch: LeNet-5 training epochs on Fashion-MNIST, clearconv and PyTorch taking turns.

Each epoch is cut into TURNS_PER_EPOCH turns of whole batches; in each turn
clearconv, PyTorch contiguous (NCHW) and PyTorch channels_last train on the
same batches, in :func:`.turns.turn_order` (clearconv first on even turns,
PyTorch first on odd ones; the turn count runs on across epochs), with a
PAUSE_SECONDS pause before each, so that no one's idle worker threads still
spin during another's turn. This machine's speed drifts by up to 1.7x over
minutes; short alternating turns spread that drift over all three.

Before the turns, each player trains a throwaway copy of its model on
WARM_UP_BATCHES batches: one-time start-up (loading numba's compiled
kernels, first-call caches of both libraries) is paid once per process, not
per epoch, so it stays out of the turns; its seconds are reported apart.

The headline is :func:`.turns.headline`: total clearconv time / total time of
PyTorch's faster memory format, over every turn. The per-turn and per-epoch
ratios are a noise diagnostic. CPU used by other processes is measured per
turn; contended turns count in the total and make the verdict inconclusive.
"""

from __future__ import annotations

import gc

from .load import BUSY_CORES, METER
from .turns import headline, take_turns

PLAYERS = ("clearconv", "torch:contiguous", "torch:channels_last")   # clearconv first: see turns.turn_order
TURNS_PER_EPOCH = 10
PAUSE_SECONDS = 0.5
WARM_UP_BATCHES = 4


def epoch_figures(seconds: dict, turns_per_epoch: int) -> dict:
    """Headline and diagnostics from {player: [seconds per turn]} (players named as in PLAYERS)."""
    torch_seconds = {player.split(":", 1)[1]: values for player, values in seconds.items() if player != "clearconv"}
    figures = headline(seconds["clearconv"], torch_seconds)

    def per_epoch(values):
        return [sum(values[start:start + turns_per_epoch]) for start in range(0, len(values), turns_per_epoch)]

    epochs = {player: per_epoch(values) for player, values in seconds.items()}
    chosen = epochs["torch:" + figures["torch_format"]]
    figures.update(epoch_seconds=epochs,
                   epoch_ratios=[a / b for a, b in zip(epochs["clearconv"], chosen)])
    return figures


def race(make_trainers, warm_up, chunks, pause: float = PAUSE_SECONDS) -> dict:
    """Untimed start-up, then the players take turns over ``chunks``: the mechanism of every training row.

    ``make_trainers()`` returns {player: trainer} (clearconv first), each with
    ``train(samples) -> seconds``. A throwaway set trains on ``warm_up`` first
    (one-time start-up, reported apart); a fresh set then takes turns, chunk k
    being turn k (:func:`.turns.take_turns`), with the CPU other processes used
    measured around every player's turn. Returns the fresh ``trainers``, the
    ``seconds`` per player and turn, who went ``first``, ``start_up_seconds``,
    ``other_processes_cores`` per turn (the most over its players) and the
    ``contended_turns``.
    """
    start_up = {player: trainer.train(warm_up) for player, trainer in make_trainers().items()}   # thrown away
    trainers = make_trainers()
    loads = []

    def measured(trainer):
        def train(samples):
            before = METER.read()
            seconds = trainer.train(samples)
            loads.append(METER.cores(before, METER.read()))
            return seconds
        return train

    gc.collect()
    played = take_turns({player: measured(trainer) for player, trainer in trainers.items()}, chunks, pause)
    count = len(trainers)
    per_turn = [max(loads[turn * count:(turn + 1) * count]) for turn in range(len(chunks))]
    return {"trainers": trainers, "seconds": played["seconds"], "first": played["first"],
            "start_up_seconds": start_up, "other_processes_cores": per_turn,
            "contended_turns": [turn for turn, cores in enumerate(per_turn) if cores > BUSY_CORES]}


def compare(epochs: int = 1, batch_size: int | None = None, seed: int | None = None, data_dir=None,
            images: int | None = None, turns_per_epoch: int = TURNS_PER_EPOCH, log=print) -> dict:
    """Train the three players for ``epochs`` epochs on the same batches, taking turns; their figures.

    ``images``: train on the first ``images`` training images only (quick
    checks); None: all of them. Raises FileNotFoundError (the loader's
    message) when the dataset is missing.
    """
    from . import lenet                                              # PyTorch is needed only here

    batch_size = lenet.DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    seed = lenet.DEFAULT_SEED if seed is None else seed
    (x, y), (x_test, y_test) = lenet.load_fashion_mnist(data_dir)
    if images is not None:
        x, y = x[:images], y[:images]

    def make_trainers():
        ours = lenet.clearconv_trainer(x, y, batch_size, seed)
        made = {"clearconv": ours}
        for player in PLAYERS[1:]:                                   # before any training: the same initial weights
            made[player] = lenet.torch_lenet_trainer(x, y, ours, batch_size, seed, player.split(":", 1)[1])
        return made

    warm_up = list(range(min(len(x), WARM_UP_BATCHES * batch_size)))
    chunks = [chunk for order in lenet.epoch_orders(len(x), epochs, seed)
              for chunk in lenet.split_turns(order, batch_size, turns_per_epoch)]
    log(f"  {len(chunks)} turns of {', '.join(PLAYERS)} ({epochs} epoch(s) of {len(x)} images, batch {batch_size})")
    raced = race(make_trainers, warm_up, chunks)
    trainers = raced.pop("trainers")
    figures = epoch_figures(raced["seconds"], len(chunks) // epochs)
    figures.update(raced)
    figures.update(images=len(x), epochs=epochs, batch_size=batch_size, players=PLAYERS,
                   accuracy={player: trainer.accuracy(x_test, y_test) for player, trainer in trainers.items()})
    return figures


def epoch_text(result: dict, target: float) -> str:
    """The lenet-epoch row of run.py's table: the headline, its verdict, the diagnostics and the accuracies."""
    if "error" in result:
        return result["error"]
    contended = result["contended_turns"]
    outcome = ("PASS" if result["ratio"] <= target else "FAIL") if not contended else \
        f"INCONCLUSIVE, {len(contended)} contended turn(s)"
    epochs = result["epoch_seconds"]
    mean = {player: sum(values) / len(values) for player, values in epochs.items()}
    accuracy = result["accuracy"]
    return (f"{result['epochs']} epochs each, {result['turns']} turns ({result['images']} images, batch "
            f"{result['batch_size']}, Adam): s/epoch clearconv {mean['clearconv']:.2f}, torch NCHW "
            f"{mean['torch:contiguous']:.2f}, torch CL {mean['torch:channels_last']:.2f}; total-time ratio "
            f"{result['ratio']:.2f}x against torch {result['torch_format']} (target <= {target:g}x: {outcome}); "
            f"diagnostic: per-turn median {result['turn_ratio_median']:.2f}x, range "
            f"{result['turn_ratio_min']:.2f}-{result['turn_ratio_max']:.2f}, per epoch "
            f"{', '.join(f'{r:.2f}' for r in result['epoch_ratios'])}; untimed start-up ({WARM_UP_BATCHES} batches) "
            + ", ".join(f"{player} {seconds:.2f} s" for player, seconds in result["start_up_seconds"].items())
            + f"; test accuracy clearconv "
            f"{accuracy['clearconv']:.4f}, torch NCHW {accuracy['torch:contiguous']:.4f}, torch CL "
            f"{accuracy['torch:channels_last']:.4f}")
