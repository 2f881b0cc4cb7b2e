"""The scaling benchmark's figures, drawn from the records of every turn (pure arithmetic, no clock).

For one model and global batch, over every turn:

- **Headline throughput** of a configuration: images trained in all its
  turns / the seconds of all its timed steps (total time: a slow turn counts
  as the user waits through it). **Speed-up** of 2 x 1 over 1 x 2: the
  quotient of the two headline throughputs.
- **Per-turn** throughputs and speed-ups: a noise diagnostic (median and
  range), never the headline.
- **Time in collectives** (the configuration of several processes): the
  seconds inside the communicator's collectives over the seconds of the timed
  steps, on rank 0 and on the rank that spent most there. On shared memory
  that time is the transfer plus the wait for the slower process (a
  collective ends when the last process arrives). **Transfer**: the recorded
  Allreduces of one step replayed with every process ready, times the steps;
  **waiting**: the most-waiting rank's time in collectives minus the transfer
  (at least 0).
- **Contended turns**: turns in which processes outside the job used more
  than :data:`.load.BUSY_CORES` of a core.
"""

from __future__ import annotations

import statistics

from .load import BUSY_CORES
from .table import render

BASELINE, PARALLEL = "1x2", "2x1"


def _records(turns: list[dict], configuration: str, model: str, batch: int) -> list[dict]:
    found = []
    for results in turns:
        matches = [record for record in results[configuration]["records"]
                   if record["model"] == model and record["global_batch"] == batch]
        if len(matches) != 1:
            raise ValueError(f"scaling: {configuration} has {len(matches)} record(s) of {model} at batch {batch} "
                             f"in a turn; expected 1")
        found.append(matches[0])
    return found


def summarize_pair(turns: list[dict], model: str, batch: int) -> dict:
    """The figures of one model and global batch (see the module docstring) from every turn's records."""
    base, parallel = _records(turns, BASELINE, model, batch), _records(turns, PARALLEL, model, batch)
    images = [record["global_batch"] * record["steps"] for record in base]
    base_seconds = [record["wall_seconds"] for record in base]
    parallel_seconds = [record["wall_seconds"] for record in parallel]
    base_total, parallel_total = sum(base_seconds), sum(parallel_seconds)
    turn_speedups = [b / p for b, p in zip(base_seconds, parallel_seconds)]
    ranks = len(parallel[0]["collective_seconds"])
    collective_by_rank = [sum(record["collective_seconds"][rank] for record in parallel) for rank in range(ranks)]
    transfer = sum(record["transfer_seconds_per_step"] * record["steps"] for record in parallel)
    most = max(collective_by_rank)
    contended = [turn for turn, (b, p) in enumerate(zip(base, parallel))
                 if max(b["other_cores"], p["other_cores"]) > BUSY_CORES]
    steps = parallel[0]["steps"]
    return {
        "model": model, "global_batch": batch, "turns": len(base), "steps": steps,
        "parameters": parallel[0]["parameters"], "trainable_parameters": parallel[0]["trainable_parameters"],
        "gradient_bytes": 4 * parallel[0]["trainable_parameters"],
        "images_per_s": {BASELINE: sum(images) / base_total, PARALLEL: sum(images) / parallel_total},
        "ms_per_step": {BASELINE: base_total / sum(r["steps"] for r in base) * 1e3,
                        PARALLEL: parallel_total / sum(r["steps"] for r in parallel) * 1e3},
        "speedup": base_total / parallel_total,
        "turn_images_per_s": {BASELINE: [n / s for n, s in zip(images, base_seconds)],
                              PARALLEL: [n / s for n, s in zip(images, parallel_seconds)]},
        "turn_speedups": turn_speedups, "turn_speedup_median": statistics.median(turn_speedups),
        "turn_speedup_min": min(turn_speedups), "turn_speedup_max": max(turn_speedups),
        "collective_share_rank0": collective_by_rank[0] / parallel_total,
        "collective_share_max": most / parallel_total,
        "transfer_share": transfer / parallel_total,
        "waiting_share_max": max(0.0, most - transfer) / parallel_total,
        "collective_calls_per_step": parallel[0]["collective_calls"][0] / steps,
        "collective_bytes_per_step": parallel[0]["collective_bytes"][0] / steps,
        "contended_turns": contended,
    }


def summarize(run: dict, models, batches) -> list[dict]:
    """One summary per model and batch, in the order given."""
    return [summarize_pair(run["turns"], model, batch) for model in models for batch in batches]


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def format_table(rows: list[dict]) -> str:
    """The headline table: throughput of each configuration, speed-up, and where the 2-process step's time
    went."""
    header = ("model", "batch", "1x2 img/s", "2x1 img/s", "speed-up", "coll. rank 0", "coll. max rank",
              "transfer", "waiting", "calls/step", "contended turns")
    lines = [(row["model"], str(row["global_batch"]), f"{row['images_per_s'][BASELINE]:.0f}",
              f"{row['images_per_s'][PARALLEL]:.0f}", f"{row['speedup']:.2f}x",
              _percent(row["collective_share_rank0"]), _percent(row["collective_share_max"]),
              _percent(row["transfer_share"]), _percent(row["waiting_share_max"]),
              f"{row['collective_calls_per_step']:.0f}", f"{len(row['contended_turns'])}/{row['turns']}")
             for row in rows]
    return render(header, lines)


def format_diagnostics(rows: list[dict]) -> str:
    """Per-turn figures (noise diagnostic): ms per step, per-turn speed-ups."""
    header = ("model", "batch", "1x2 ms/step", "2x1 ms/step", "per-turn speed-up median", "range",
              "per-turn 2x1 img/s")
    lines = [(row["model"], str(row["global_batch"]), f"{row['ms_per_step'][BASELINE]:.1f}",
              f"{row['ms_per_step'][PARALLEL]:.1f}", f"{row['turn_speedup_median']:.2f}x",
              f"{row['turn_speedup_min']:.2f}-{row['turn_speedup_max']:.2f}",
              " ".join(f"{value:.0f}" for value in row["turn_images_per_s"][PARALLEL]))
             for row in rows]
    return render(header, lines)
