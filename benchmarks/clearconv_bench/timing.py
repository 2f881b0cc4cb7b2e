"""Timed blocks and rounds of turns.

- **Blocks, never call-by-call alternation.** Alternating two libraries call
  by call slows both (each one's idle BLAS/OpenMP threads keep spinning and
  take the other's cores), so each implementation is timed in its own block:
  one untimed warm-up call, then enough calls to last about BLOCK_SECONDS,
  with a PAUSE_SECONDS pause between blocks.
- **Rounds are turns.** A round runs one block per implementation of a case
  and mode (a *group*), in :func:`.turns.turn_order`: the order given on even
  rounds (clearconv first), reversed on odd ones (PyTorch first). Every
  round counts in the totals (:func:`.turns.headline`).
- **Contended turns.** A group during which other processes used more than
  BUSY_CORES is measured again after a pause, at most MAX_ATTEMPTS times and
  only while the run is younger than RETRY_DEADLINE seconds (a busy machine
  cannot stretch the run much); the last attempt is kept, and the report
  says which turns stayed contended.

The clock, the pause and the load meter are arguments, so the logic can be
checked with fakes.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Callable

from .load import BUSY_CORES, METER
from .turns import turn_order

BLOCK_SECONDS = 0.25      # target duration of one timed block
MAX_REPEATS = 1000        # cap on the calls in one block
PAUSE_SECONDS = 0.05      # between blocks: lets idle BLAS/OpenMP threads stop spinning
BLOCK_LIMIT = 1.0         # a block stops early past this (a busy machine would otherwise stretch it)
MAX_ATTEMPTS = 3          # per group of blocks (one per implementation) of a round
RETRY_PAUSE = 0.5         # seconds to wait before measuring a contended group again
RETRY_DEADLINE = 150.0    # seconds into the run after which contended groups are kept as they are


def call_seconds(function: Callable, minimum_seconds: float = 0.05, clock: Callable = time.perf_counter) -> float:
    """Rough seconds per call, for choosing the block length."""
    calls, start = 0, clock()
    while True:
        function()
        calls += 1
        elapsed = clock() - start
        if elapsed >= minimum_seconds or calls >= MAX_REPEATS:
            return elapsed / calls


def time_block(function: Callable, repeats: int, clock: Callable = time.perf_counter,
               meter=METER) -> tuple[float, float]:
    """One block: an untimed warm-up call, then ``repeats`` timed calls (fewer past BLOCK_LIMIT seconds).

    Returns (seconds per call, cores used by other processes during the block).
    """
    function()
    gc.collect()
    gc.disable()
    try:
        before = meter.read()
        start = clock()
        calls = 0
        while calls < repeats:
            function()
            calls += 1
            if clock() - start > BLOCK_LIMIT:
                break
        elapsed = clock() - start
        after = meter.read()
    finally:
        gc.enable()
    return elapsed / calls, meter.cores(before, after)


@dataclass
class Measurements:
    seconds: dict        # {case: {(mode, implementation): [seconds per call, one per round]}}
    contention: dict     # {case: {(mode, implementation): [cores used by others, one per round]}}
    repeats: dict = field(default_factory=dict)   # {(case, (mode, implementation)): calls per block}
    retries: int = 0


def warm_up(name: str, callables: dict, found: Measurements, sleep: Callable = time.sleep) -> None:
    """Untimed calls (allocator, caches, threads), then the calls per block of each implementation."""
    found.seconds[name] = {key: [] for key in callables}
    found.contention[name] = {key: [] for key in callables}
    for key, function in callables.items():
        function()
        function()
        found.repeats[name, key] = max(1, min(MAX_REPEATS, round(BLOCK_SECONDS / call_seconds(function))))
        sleep(PAUSE_SECONDS)


def groups(callables: dict) -> dict[str, list]:
    """{mode: [implementations, in the order given]}."""
    found = {}
    for mode, implementation in callables:
        found.setdefault(mode, []).append(implementation)
    return found


def run_rounds(units: dict, rounds: int, found: Measurements, run_start: float, log=print,
               clock: Callable = time.perf_counter, sleep: Callable = time.sleep, meter=METER) -> None:
    """Time every unit ({(mode, implementation): callable}, clearconv listed first) in ``rounds`` rounds.

    See the module docstring for the order and for contended groups.
    """
    for round_index in range(rounds):
        start = clock()
        for name, callables in units.items():
            for mode, implementations in groups(callables).items():
                for attempt in range(MAX_ATTEMPTS):
                    group = {}
                    for implementation in turn_order(implementations, round_index):
                        key = (mode, implementation)
                        group[key] = time_block(callables[key], found.repeats[name, key], clock=clock, meter=meter)
                        sleep(PAUSE_SECONDS)
                    busy = max(cores for _, cores in group.values())
                    if busy <= BUSY_CORES or attempt == MAX_ATTEMPTS - 1 or clock() - run_start > RETRY_DEADLINE:
                        break
                    found.retries += 1
                    sleep(RETRY_PAUSE)
                for key, (seconds, cores) in group.items():
                    found.seconds[name][key].append(seconds)
                    found.contention[name][key].append(cores)
        log(f"  round {round_index + 1}/{rounds} done in {clock() - start:.1f} s")


def contended_turns(found: Measurements, name: str, keys) -> list[int]:
    """Rounds during which other processes used more than BUSY_CORES in any of the blocks ``keys``."""
    per_key = [found.contention[name][key] for key in keys]
    return [index for index, loads in enumerate(zip(*per_key)) if max(loads) > BUSY_CORES]
