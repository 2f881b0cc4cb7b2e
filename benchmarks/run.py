#!/usr/bin/env python
"""Time clearconv against PyTorch, side by side, in one process.

    python benchmarks/run.py [--rounds 5] [--cases vgg-3x3,strided] [--threads 2] [--json out.json]
                             [--skip-epoch] [--skip-zoo] [--models lenet5,...] [--model-steps 60]
                             [--model-turns 6] [--skip-models]

One command prints everything the performance figures need, top to bottom:

- the header: everything that changes timings (:mod:`clearconv_bench.header`);
  the malloc setting is applied here, by calling
  ``clearconv.allocator.keep_freed_memory()``, and the header says so;
- lenet-epoch first, in a process that has not yet held the other cases'
  large arrays, as a training job is (:mod:`clearconv_bench.epoch`);
- the NumPy GEMM peak, yardstick of the "% peak" columns;
- the standard cases (:mod:`clearconv_bench.cases`), forward and
  forward+backward, clearconv's automatic choice and every other algorithm
  that supports the case, against PyTorch in each of its memory formats;
- zoo inference, as built and folded (:mod:`clearconv_bench.zoo_inference`);
- whole models against their PyTorch twins: parity, training steps, inference,
  peak memory and the step split (:mod:`clearconv_bench.model_section`);
- the machine load, parity, and the checks of the targets
  (:mod:`clearconv_bench.targets`).

Every headline ratio is total clearconv time / total PyTorch time over every
turn (round), the two taking turns at going first, against PyTorch's faster
memory format in total (:mod:`clearconv_bench.turns`); the per-turn ratios
are printed apart, as a noise diagnostic. benchmarks/README.md describes every
column; docs/performance.md the method and the results.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_ROUNDS = 5
DEFAULT_THREADS = 2
EPOCHS = 3                # lenet-epoch: epochs per player, 10 turns each
MODEL_STEPS = 60          # whole models: training steps per player and model (as benchmarks/models.py)
MODEL_TURNS = 6           # whole models: training turns per model, and inference rounds

# benchmarks/ is this script's directory, first on sys.path: its package clearconv_bench imports from here.
from clearconv_bench.names import ALL_NAMES, EPOCH_CASE, MODEL_NAMES, ZOO_NAMES  # noqa: E402  (nothing heavy)
from clearconv_bench.threads import set_thread_environment  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="clearconv vs PyTorch timings on the standard cases.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"rounds (turns) of timed blocks per case and mode (default {DEFAULT_ROUNDS})")
    parser.add_argument("--cases", default=",".join(ALL_NAMES),
                        help="comma-separated case names (default: all): " + ", ".join(ALL_NAMES))
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads for both NumPy's BLAS and PyTorch (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every block time (seconds per call) and every figure to this JSON file")
    parser.add_argument("--skip-epoch", action="store_true",
                        help=f"leave out {EPOCH_CASE} (the longest case: {EPOCHS} training epochs per player)")
    parser.add_argument("--skip-zoo", action="store_true",
                        help="leave out the zoo inference rows (" + ", ".join(ZOO_NAMES) + ")")
    parser.add_argument("--models", default=",".join(MODEL_NAMES),
                        help="whole models compared (default: all): " + ", ".join(MODEL_NAMES))
    parser.add_argument("--model-steps", type=int, default=MODEL_STEPS,
                        help=f"whole models: training steps (batches of 64) per player and model (default "
                             f"{MODEL_STEPS})")
    parser.add_argument("--model-turns", type=int, default=MODEL_TURNS,
                        help=f"whole models: training turns per model and inference rounds (default {MODEL_TURNS})")
    parser.add_argument("--skip-models", action="store_true", help="leave out the whole-model section")
    args = parser.parse_args(argv)
    for name in ("rounds", "threads", "model_steps", "model_turns"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer; received {getattr(args, name)}")
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in MODEL_NAMES]
    if unknown or not models:
        parser.error(f"--models: unknown model(s) {unknown or args.models!r}; accepted: {', '.join(MODEL_NAMES)}")
    args.models = [] if args.skip_models else models
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in cases if name not in ALL_NAMES]
    if unknown or not cases:
        parser.error(f"--cases: unknown case(s) {unknown or args.cases!r}; accepted: {', '.join(ALL_NAMES)}")
    if args.skip_epoch:
        cases = [name for name in cases if name != EPOCH_CASE]
    if args.skip_zoo:
        cases = [name for name in cases if name not in ZOO_NAMES]
    if not cases and not args.models:
        parser.error("nothing left to run after --skip-epoch / --skip-zoo / --skip-models")
    args.cases = cases
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_environment(ARGS.threads)                             # before NumPy: OpenBLAS reads it at load time
    from clearconv_bench.checkout import use_this_checkout
    use_this_checkout()

import gc  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # pragma: no cover - the bench extra installs it
    sys.exit("benchmarks/run.py needs PyTorch (pip install -e '.[bench]', torch==2.13.0 CPU)")

from clearconv.kernels import conv as conv_ops  # noqa: E402
from clearconv_bench import epoch as epoch_run  # noqa: E402
from clearconv_bench import header, model_section, summary, table, targets, timing, units, zoo_inference  # noqa: E402
from clearconv_bench.cases import standard_cases  # noqa: E402
from clearconv_bench.load import METER  # noqa: E402
from clearconv_bench.peak import GEMM_CALLS, GEMM_SIZE, gemm_peak  # noqa: E402


def run_epoch(log=print) -> dict:
    """lenet-epoch: EPOCHS epochs of each player, taking turns; the loader's message if the data is missing."""
    log(f"  {EPOCH_CASE}: {EPOCHS} epochs of each player, taking turns")
    gc.collect()
    try:
        return epoch_run.compare(EPOCHS, log=log)
    except FileNotFoundError as error:
        return {"error": str(error)}


def warm_up_line(name: str, description: str, callables: dict, found: timing.Measurements) -> str:
    modes = timing.groups(callables)
    return (f"  warmed up {name} ({description}): calls per block "
            + "; ".join(f"{mode} " + ", ".join(f"{impl} {found.repeats[name, (mode, impl)]}" for impl in impls)
                        for mode, impls in modes.items()))


def parity_lines(rows: list[dict]) -> list[str]:
    bad = {row["row"]: (row["parity"], row["tolerance"]) for row in rows if not row["parity"] <= row["tolerance"]}
    if bad:
        return ["PARITY MISMATCH (the two sides do not compute the same thing; their ratio means nothing), rows "
                "marked '!': " + ", ".join(f"{name} {error:.2e} > {limit:g}" for name, (error, limit) in bad.items())]
    if not rows:
        return []
    by_algorithm = {}                                                # {(label, tolerance): worst error}
    for row in rows:
        key = (row["algorithm"] or row["case"], row["tolerance"])
        by_algorithm[key] = max(by_algorithm.get(key, 0.0), row["parity"])
    return ["parity: outputs and all gradients agree with PyTorch (every memory format) on every row timed; worst "
            "relative error " + ", ".join(f"{label} {error:.1e} (<= {limit:g})"
                                           for (label, limit), error in by_algorithm.items())]


def main(args) -> int:
    malloc = header.apply_malloc_setting()                           # before the first large allocation
    torch.set_num_threads(args.threads)
    all_cases, all_zoo = standard_cases(), zoo_inference.zoo_cases()
    cases = [all_cases[name] for name in args.cases if name in all_cases]
    zoo_models = [all_zoo[name] for name in args.cases if name in all_zoo]
    fields = header.header_fields(args.threads, malloc, torch_module=torch)
    print("clearconv vs PyTorch, float32, one process")
    print(header.format_header(fields))
    start = time.perf_counter()
    epoch = run_epoch() if EPOCH_CASE in args.cases else None
    rng = np.random.default_rng(20240601)
    peak = gemm_peak(rng)
    print(f"GEMM peak (NumPy float32 {GEMM_SIZE}x{GEMM_SIZE} @ {GEMM_SIZE}x{GEMM_SIZE}, median of "
          f"{GEMM_CALLS} calls{'' if peak['quiet'] else ', CONTENDED'}): {peak['gflops']:.1f} GFLOP/s")
    print(f"rounds (turns): {args.rounds}, block ~{timing.BLOCK_SECONDS} s per implementation, case and mode, "
          "clearconv first on even turns, PyTorch first on odd ones; times = total over every turn / turns; "
          "ratio = total clearconv / total PyTorch in its faster memory format (marked *; NCHW = contiguous, "
          "CL = channels_last); algorithms: " + ", ".join(conv_ops.ALGORITHMS)
          + f" (not timed: {', '.join(units.SKIPPED_ALGORITHMS)})")

    found = timing.Measurements({}, {})
    prepared, zoo_units = {}, {}
    for case in cases:
        prepared[case.name] = units.prepare(case, rng)
        timing.warm_up(case.name, prepared[case.name].callables, found)
        prepared[case.name].measure_memory()
        print(warm_up_line(case.name, case.description, prepared[case.name].callables, found), flush=True)
    for model in zoo_models:
        zoo_units[model.name] = zoo_inference.prepare_zoo(model, rng)
        timing.warm_up(model.name, zoo_units[model.name], found)
        print(warm_up_line(model.name, model.description, zoo_units[model.name], found), flush=True)
    timing.run_rounds({**{name: unit.callables for name, unit in prepared.items()}, **zoo_units},
                      args.rounds, found, start)

    entries = []                                                     # each case's rows, then its failed ones
    for case in cases:
        entries += summary.summarize(prepared[case.name], found, peak["gflops"])
        entries += list(prepared[case.name].failed.items())
    rows = [entry for entry in entries if isinstance(entry, dict)]
    failed = dict(entry for entry in entries if isinstance(entry, tuple))
    zoo_rows = [zoo_inference.summarize_zoo(model, found) for model in zoo_models]
    print()
    print(table.format_table(entries + ([] if epoch is None else
                                        [(EPOCH_CASE, epoch_run.epoch_text(epoch, targets.EPOCH_TARGET))])))
    if rows:
        print("\nnoise diagnostic, not the headline: per-turn ratios clearconv / PyTorch (the faster format in "
              "total), their median and range")
        print(table.format_diagnostics(rows))
    if zoo_rows:
        print(f"\nzoo inference (predict, one batch of {zoo_inference.ZOO_BATCH} random inputs; speed-up = total "
              "as built / total folded; per-turn speed-ups: noise diagnostic; folded vs built = max |diff| / "
              "max |as built|):")
        print(zoo_inference.format_zoo_table(zoo_rows))
    print()
    print(summary.contention_note(found, rows, zoo_rows))
    for line in parity_lines(rows):
        print(line)
    if failed:
        print("ALGORITHM FAILED (it supports the case but raised; see its row): " + ", ".join(failed))
    bad_fold = {row["model"]: row["fold_error"] for row in zoo_rows
                if not row["fold_error"] <= zoo_inference.FOLD_TOLERANCE}
    if bad_fold:
        print("FOLD MISMATCH (folded and as-built predictions differ): "
              + ", ".join(f"{name} {error:.2e} > {zoo_inference.FOLD_TOLERANCE:g}" for name, error in bad_fold.items()))
    for line in targets.check_lines(cases, rows, conv_ops.column_buffer_limit() / 2**20):
        print(line)
    whole = None
    if args.models:
        whole = model_section.run_section(args.models, args.model_steps, args.model_turns, args.threads)
        for line in model_section.section_lines(whole):
            print(line)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        payload = {"header": fields, "rounds": args.rounds, "gemm_peak": peak,
                   "column_buffer_limit": conv_ops.column_buffer_limit(), "machine_load_measured": METER.available,
                   "rows": rows, "failed_rows": failed, "zoo": zoo_rows, "lenet_epoch": epoch, "whole_models": whole,
                   "seconds_per_call": {name: {f"{mode}/{impl}": values for (mode, impl), values in table_.items()}
                                        for name, table_ in found.seconds.items()},
                   "other_processes_cores": {name: {f"{mode}/{impl}": values for (mode, impl), values
                                                    in table_.items()} for name, table_ in found.contention.items()}}
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2, default=str)
    bad_parity = any(not row["parity"] <= row["tolerance"] for row in rows)
    bad_models = whole is not None and model_section.parity_failed(whole)
    return 1 if bad_parity or bad_fold or failed or bad_models else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
