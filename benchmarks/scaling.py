#!/usr/bin/env python
"""Data-parallel training throughput against the process count on this machine, and its model for N machines.

    python benchmarks/scaling.py [--models lenet5,small_vgg,small_resnet] [--steps 10] [--turns 4]
                                 [--global-batch 64,256] [--seed 0] [--json out.json]
    python benchmarks/scaling.py --model-only [--model-batch 256] [--model-steps 5]

The measurement trains each model on seeded random data of its shape with the
same global batch and number of steps in two configurations of this
machine's two cores: 1 process x 2 threads and 2 processes x 1 thread
(:class:`clearconv.distribution.DataParallel` over MPI), both launched with
``mpirun -n P`` (:mod:`clearconv_bench.scaling_launch` says why), taking
turns: the headline is images/s over every turn, the per-turn figures a
diagnostic; for 2 processes, the share of the step spent in collectives and
how much of it is transfer rather than waiting (:mod:`clearconv_bench.scaling_summary`).
``--model-only`` times one step of each zoo model on one process and prints
the predicted speed-up and efficiency on N machines
(:mod:`clearconv_bench.scaling_model`). See docs/scaling.md.
"""

from __future__ import annotations

import argparse
import sys

# benchmarks/ is this script's directory, first on sys.path: its package clearconv_bench imports from here.
from clearconv_bench.names import MODEL_NAMES
from clearconv_bench.threads import set_thread_environment

DEFAULT_MODELS = ("lenet5", "small_vgg", "small_resnet")
DEFAULT_BATCHES = (64, 256)
DEFAULT_STEPS = 10
DEFAULT_TURNS = 4
MACHINE_THREADS = 2              # one process x 2 threads: the whole 2-core machine, the model's "one machine"


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected comma-separated zoo models among {', '.join(MODEL_NAMES)}; "
                                         f"received {text!r}")
    return names


def _batches(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(value < 2 for value in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 2 (each of 2 processes needs a "
                                         f"sample), e.g. 64,256; received {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; received {text!r}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=_names, default=list(DEFAULT_MODELS),
                        help=f"comma-separated, among {', '.join(MODEL_NAMES)} (default: %(default)s)")
    parser.add_argument("--global-batch", type=_batches, default=list(DEFAULT_BATCHES),
                        help="comma-separated global batch sizes (default: 64,256)")
    parser.add_argument("--steps", type=_positive, default=DEFAULT_STEPS, help="timed steps per launch")
    parser.add_argument("--turns", type=_positive, default=DEFAULT_TURNS,
                        help="launches of each configuration, alternating which goes first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write every figure and record to this file")
    parser.add_argument("--model-only", action="store_true",
                        help="time each zoo model on one process and print the N-machine prediction only")
    parser.add_argument("--model-batch", type=_positive, default=256,
                        help="batch of the timed step for --model-only (default: 256)")
    parser.add_argument("--model-steps", type=_positive, default=5, help="timed steps per model for --model-only")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)   # inside an mpirun launch
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker and not args.out:
        parser.error("--worker needs --out FILE")
    return args


def worker_arguments(args) -> list[str]:
    """The arguments a launch's worker needs, as command-line words."""
    return ["--models", ",".join(args.models), "--global-batch", ",".join(str(b) for b in args.global_batch),
            "--steps", str(args.steps), "--seed", str(args.seed)]


if __name__ == "__main__":
    ARGS = parse_args()
    if not ARGS.worker:  # a worker's threads come from its launch's environment
        set_thread_environment(MACHINE_THREADS)                     # before NumPy: OpenBLAS reads it at load time
    from clearconv_bench.checkout import use_this_checkout
    use_this_checkout()


def run_worker(args) -> int:
    import json

    from clearconv_bench import scaling_worker
    result = scaling_worker.measure(args.models, args.global_batch, args.steps, args.seed)
    if result is not None:                                           # rank 0
        with open(args.out, "w") as out:
            json.dump(result, out)
    return 0


def single_process_steps(names, batch: int, steps: int, seed: int) -> dict:
    """{model: {"compute_seconds", "mean_seconds", "parameters", "batchnorm_layers"}}: one process, this
    process's threads, ``steps`` timed train_on_batch calls after the warm-up.

    ``compute_seconds`` is the fastest step: the model wants one machine's
    compute, and the fastest of several steps is the one least slowed by
    other processes (the mean is kept beside it).
    """
    import time

    from clearconv_bench import scaling_worker
    found = {}
    for name in names:
        model, x, y, loss = scaling_worker.model_data(name, batch, seed)
        model.compile(optimizer="adam", loss=loss)
        for _ in range(scaling_worker.WARM_UP_STEPS):
            model.train_on_batch(x, y)
        seconds = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            seconds.append(time.perf_counter() - start)
        trainable = sum(int(weight.data.size) for weight in model.trainable_weights)
        found[name] = {"compute_seconds": min(seconds), "mean_seconds": sum(seconds) / steps,
                       "parameters": trainable, "batchnorm_layers": scaling_worker.batchnorm_layers(model)}
        print(f"  {name}: fastest step of {batch} {min(seconds) * 1e3:.1f} ms (mean {sum(seconds) / steps * 1e3:.1f}) "
              f"on one process; {trainable:,} trainable parameters", flush=True)
    return found


def run_model(args, header_text: str) -> int:
    import json

    from clearconv_bench import scaling_model
    from clearconv_bench.load import METER
    print(header_text)
    print(f"one machine = this one: 1 process x {MACHINE_THREADS} threads, batch {args.model_batch}, "
          f"{args.model_steps} timed steps per model")
    before = METER.read()
    models = single_process_steps(MODEL_NAMES, args.model_batch, args.model_steps, args.seed)
    other_cores = METER.cores(before, METER.read())
    print(f"machine load: other processes used {other_cores:.2f} cores meanwhile")
    links = "; ".join(f"{link.name}: alpha {link.alpha * 1e6:g} us" for link in scaling_model.LINKS)
    print(f"\nPredicted speed-up (efficiency) on N machines; ring all-reduce, no overlap; {links}")
    rows = scaling_model.prediction_rows(models)
    print(scaling_model.format_predictions(rows))
    print("\nCompute per process per step (ms) at which N machines reach 50% efficiency (gradients only)")
    print(scaling_model.format_compute_needed())
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"batch": args.model_batch, "models": models, "other_cores": other_cores,
                       "predictions": rows}, out, indent=1)
    return 0


def run_measurement(args, header_text: str) -> int:
    import importlib.util
    import json

    from clearconv_bench import scaling_launch, scaling_summary
    from clearconv_bench.scaling_worker import WARM_UP_STEPS
    mpirun = scaling_launch.find_mpirun()
    if mpirun is None:
        print("scaling: no mpirun next to this Python or on PATH; pip install 'clearconv[mpi]' (mpi4py and the "
              "mpich wheel)")
        return 1
    if importlib.util.find_spec("mpi4py") is None:                  # the workers of several processes need it
        print("scaling: mpi4py is not installed; pip install 'clearconv[mpi]'")
        return 1
    print(header_text)
    print("configurations: " + ", ".join(f"{name} = {p} process(es) x {t} thread(s)" for name, (p, t)
                                          in scaling_launch.CONFIGURATIONS.items())
          + f"; both through `{mpirun} -n P`")
    print(f"models {', '.join(args.models)}; global batch {', '.join(map(str, args.global_batch))}; "
          f"{args.steps} timed steps per launch after {WARM_UP_STEPS + 1} untimed; {args.turns} turns")
    run = scaling_launch.run_turns(args.turns, worker_arguments(args), mpirun)
    print(f"MPI: {run['mpi']}")
    for name in scaling_launch.CONFIGURATIONS:
        print(f"{name} worker: {run['turns'][0][name]['threads']}")
    rows = scaling_summary.summarize(run, args.models, args.global_batch)
    print("\nThroughput: images/s over every turn (total time); 2x1 speed-up over 1x2; share of the 2x1 step in "
          "collectives (rank 0, the rank that waited most), transfer alone, waiting for the slower rank")
    print(scaling_summary.format_table(rows))
    print("\nNoise diagnostic: per-turn figures (not the headline)")
    print(scaling_summary.format_diagnostics(rows))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"arguments": vars(args), "header": header_text, "summary": rows, "run": run}, out,
                      indent=1)
    return 0


def main(args) -> int:
    if args.worker:
        return run_worker(args)
    from clearconv_bench import header
    malloc = header.apply_malloc_setting()
    header_text = header.format_header(header.header_fields(MACHINE_THREADS, malloc))
    return run_model(args, header_text) if args.model_only else run_measurement(args, header_text)


if __name__ == "__main__":
    sys.exit(main(ARGS))
