"""Turns and the figures drawn from them: the rules every headline ratio follows.

A benchmark compares clearconv with PyTorch by letting them take *turns*
(a round of timed blocks, or a tenth of a training epoch) on the same work.

- **Order.** Turn k runs the players in the order given when k is even and
  reversed when k is odd. Callers list clearconv first, so clearconv goes
  first on even turns and PyTorch first on odd ones: whatever the machine
  does to whoever runs first (caches, frequency, the other library's idle
  threads still spinning) falls on both alike.
- **Headline ratio.** Total clearconv time / total PyTorch time over every
  turn. A median of per-turn ratios would drop the slow turns a user waits
  through; the total keeps them.
- **PyTorch's memory format.** Where PyTorch has a choice (contiguous NCHW or
  channels_last), both are timed in the same turns and the ratio is held
  against the faster one in total time, since a user would pick it. Totals,
  not single turns, decide: picking the faster per turn would take the
  minimum of two noisy figures.
- **Diagnostic.** The per-turn ratios (their median, smallest and largest)
  are kept to show the noise; they are never the figure held to a target.

Pure logic: no NumPy, no PyTorch, no clock of its own.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping, Sequence


def turn_order(players: Sequence, turn: int) -> list:
    """``players`` as given on even turns, reversed on odd turns."""
    return list(players) if turn % 2 == 0 else list(players)[::-1]


def take_turns(players: Mapping[str, Callable], chunks: Sequence, pause: float = 0.0,
               sleep: Callable[[float], object] = time.sleep) -> dict:
    """Every player works through every chunk; turn k (chunk k) in :func:`turn_order`.

    ``players``: {name: work(chunk) -> seconds}, clearconv first. ``pause``
    seconds pass before each player's turn, so that the previous player's idle
    worker threads stop spinning. Returns ``{"seconds": {name: [seconds per
    turn]}, "first": [name of the player that went first, per turn]}``.
    """
    seconds = {name: [] for name in players}
    first = []
    for turn, chunk in enumerate(chunks):
        order = turn_order(list(players), turn)
        first.append(order[0])
        for name in order:
            sleep(pause)
            seconds[name].append(players[name](chunk))
    return {"seconds": seconds, "first": first}


def faster(totals: Mapping[str, float]) -> str:
    """The memory format with the smallest total time; on a tie, the first listed."""
    if not totals:
        raise ValueError("faster: no memory format was timed; expected at least one of contiguous, channels_last")
    return min(totals, key=lambda name: (totals[name], list(totals).index(name)))


def headline(ours: Sequence[float], theirs_by_format: Mapping[str, Sequence[float]]) -> dict:
    """clearconv's times against PyTorch's in each memory format, turn by turn.

    ``ours``: clearconv's time in each turn; ``theirs_by_format``: {format:
    PyTorch's time in the same turns}. Returns the totals, the faster format,
    ``ratio`` = total clearconv / total PyTorch in that format (the headline),
    and the per-turn ratios against it with their median, smallest and largest
    (the noise diagnostic).
    """
    ours = [float(value) for value in ours]
    if not ours or any(len(theirs) != len(ours) for theirs in theirs_by_format.values()):
        raise ValueError(f"headline: every side needs the same, non-zero number of turns; received clearconv "
                         f"{len(ours)} and PyTorch " + ", ".join(f"{name} {len(values)}" for name, values
                                                                 in theirs_by_format.items()))
    totals = {name: float(sum(values)) for name, values in theirs_by_format.items()}
    chosen = faster(totals)
    ratios = [a / b for a, b in zip(ours, theirs_by_format[chosen])]
    return {"turns": len(ours), "clearconv_total": float(sum(ours)), "torch_totals": totals,
            "torch_format": chosen, "ratio": float(sum(ours)) / totals[chosen], "turn_ratios": ratios,
            "turn_ratio_median": statistics.median(ratios), "turn_ratio_min": min(ratios),
            "turn_ratio_max": max(ratios)}
