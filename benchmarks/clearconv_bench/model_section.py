"""The whole-model section of ``benchmarks/run.py`` and of ``benchmarks/models.py``: run it, then print it.

Order: parity (before anything is timed), training turns model by model,
inference rounds over every model, then peak memory in fresh processes (last,
so that the children never run beside a timed block).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from . import model_tables, timing
from .load import BUSY_CORES, METER
from .model_memory import memory_rows
from .model_parity import summary_text
from .targets import model_check_lines
from .whole_models import (BATCH_SIZE, INFERENCE_BATCH_SIZE, SPECS, check_parity, inference_name, inference_rows,
                           inference_units, train_rows)

SECTION_SEED = 20240601


def run_section(names, steps: int, turns: int, threads: int, log=print, memory: bool = True) -> dict:
    """Every figure of the section for the models ``names`` (keys of :data:`.whole_models.SPECS`)."""
    unknown = [name for name in names if name not in SPECS]
    if unknown or not names:
        raise ValueError(f"run_section: unknown model(s) {unknown or names!r}; accepted: {', '.join(SPECS)}")
    specs = [SPECS[name] for name in names]
    rng = np.random.default_rng(SECTION_SEED)
    start = time.perf_counter()
    log(f"whole models: parity of {', '.join(names)} against PyTorch (float64 twin as the exact result)")
    parity = check_parity(specs, rng)
    log(f"whole models: training, {steps} steps x batch {BATCH_SIZE} per player in {turns} turns, model by model")
    train = train_rows(specs, steps, turns, rng, log)
    found = timing.Measurements({}, {})
    units = {inference_name(spec): inference_units(spec, rng) for spec in specs}
    for name, callables in units.items():
        timing.warm_up(name, callables, found)
    log(f"whole models: inference, {turns} rounds")
    timing.run_rounds(units, turns, found, time.perf_counter(), log)
    inference = inference_rows(specs, found)
    memory_found = memory_rows(specs, threads, log) if memory else []
    return {"models": list(names), "steps": steps, "turns": turns, "threads": threads, "parity": parity,
            "training": train, "inference": inference, "memory": memory_found,
            "inference_contention": {name: {f"{mode}/{impl}": values for (mode, impl), values in table.items()}
                                     for name, table in found.contention.items()},
            "inference_seconds_per_call": {name: {f"{mode}/{impl}": values for (mode, impl), values in table.items()}
                                           for name, table in found.seconds.items()},
            "retries": found.retries, "seconds": time.perf_counter() - start}


def parity_failed(result: dict) -> bool:
    return any(not figures["ok"] for figures in result["parity"].values())


def load_line(result: dict) -> str:
    """How busy the machine was during the section's training turns and inference blocks."""
    if not METER.available:
        return "machine load: not measured (no /proc/stat)"
    turns = [cores for row in result["training"] for cores in row["other_processes_cores"]]
    blocks = [cores for table in result["inference_contention"].values() for values in table.values()
              for cores in values]
    everything = turns + blocks
    if not everything:
        return "machine load: nothing timed"
    line = (f"machine load: other processes used {statistics.median(everything):.2f} cores (median over training "
            f"turns and inference blocks, max {max(everything):.2f}); {result['retries']} contended group(s) of "
            "inference blocks measured again")
    contended = [f"{row['model']} training {len(row['contended_turns'])}/{row['turns']}"
                 for row in result["training"] if row["contended_turns"]]
    contended += [f"{row['model']} {row['mode']} {len(row['contended_turns'])}/{row['turns']}"
                  for row in result["inference"] if row["contended_turns"]]
    if contended:
        line += (f"\n  turns still contended (> {BUSY_CORES} core used by others), counted in the totals; "
                 "targets they decide are INCONCLUSIVE: " + ", ".join(contended))
    return line


def section_lines(result: dict) -> list[str]:
    """The section as printed: settings, tables, parity, machine load, split, checks."""
    lines = [f"\nwhole models, clearconv vs PyTorch (same architecture, weights, Adam 1e-3 with epsilon 1e-7, "
             f"loss, batches and threads: {result['threads']}); random seeded data (uniform [0, 1) inputs, uniform "
             "labels or masks: speed does not depend on the values); times = total over every turn / steps or "
             "calls; ratio = total clearconv / total PyTorch in its faster memory format (marked *; NCHW = "
             "contiguous, CL = channels_last)",
             f"\ntraining: {result['steps']} steps of batch {BATCH_SIZE} per player, in {result['turns']} turns "
             "(clearconv fit, PyTorch's loop); untimed start-up on throwaway copies before the turns",
             model_tables.format_training(result["training"]),
             f"\ninference: predict on a batch of 1 (many calls) and of {INFERENCE_BATCH_SIZE}, {result['turns']} "
             "rounds of blocks; PyTorch: module.eval() forward + last activation under torch.no_grad(); "
             "model(x) = clearconv's model(x, training=False), predict overhead = predict - model(x)",
             model_tables.format_inference(result["inference"])]
    if result["memory"]:
        lines += ["\npeak memory: resident memory added at the work's peak (VmHWM reset before it, minus VmRSS), "
                  "each library and model in a fresh process; ratio against PyTorch's smaller peak (marked *)",
                  model_tables.format_memory(result["memory"])]
    lines += ["\nstep split of clearconv's training step (diagnostic; one more turn of fit, instrumented): forward "
              "(with the loss), backward by the kind of operation that recorded each node (bwd other: reshape, "
              "dropout, add, concatenate, the loss, and the tape's own work), optimizer, bookkeeping (the rest of "
              "fit's step)",
              model_tables.format_split(result["training"]), "",
              load_line(result)]
    mismatched = [name for name, figures in result["parity"].items() if not figures["ok"]]
    if mismatched:
        lines.append("PARITY MISMATCH (the model and its PyTorch twin do not compute the same thing; their ratio "
                     "means nothing): " + ", ".join(mismatched))
    lines.append("parity (relative to the largest value, against the float64 twin):")
    lines += ["  " + summary_text(name, figures) for name, figures in result["parity"].items()]
    lines += model_check_lines(result["training"], result["inference"], result["memory"])
    lines.append(f"whole-model section: {result['seconds']:.0f} s")
    return lines
