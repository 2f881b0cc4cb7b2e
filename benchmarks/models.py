#!/usr/bin/env python
"""Whole zoo models, clearconv against PyTorch: training steps, inference and peak memory.

    python benchmarks/models.py [--models lenet5,small_vgg,small_resnet,unet,signal1d] [--steps 60] [--turns 6]
                                [--threads 2] [--json out.json] [--skip-memory]

The same section ``benchmarks/run.py`` prints after its other rows
(:mod:`clearconv_bench.model_section`): parity of each model with its PyTorch
twin first, then ``--steps`` training steps of batch 64 per player in
``--turns`` turns (clearconv first on even turns, PyTorch first on odd ones),
predict on a batch of 1 and of 256 in ``--turns`` rounds of blocks, peak
memory of a training step and of a batch-256 predict in fresh processes, the
step split of clearconv's training step, and the targets' verdicts. The exit
status is 1 when a model and its twin disagree (PARITY MISMATCH).
"""

from __future__ import annotations

import argparse
import sys

# benchmarks/ is this script's directory, first on sys.path: its package clearconv_bench imports from here.
from clearconv_bench.names import MODEL_NAMES  # noqa: E402  (imports nothing heavy)
from clearconv_bench.threads import set_thread_environment  # noqa: E402

DEFAULT_STEPS = 60        # the defaults of clearconv_bench.whole_models, repeated here before NumPy is imported
DEFAULT_TURNS = 6
DEFAULT_THREADS = 2


def parse_models(parser: argparse.ArgumentParser, text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown or not names:
        parser.error(f"--models: unknown model(s) {unknown or text!r}; accepted: {', '.join(MODEL_NAMES)}")
    return names


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Whole zoo models, clearconv vs PyTorch.")
    parser.add_argument("--models", default=",".join(MODEL_NAMES),
                        help="comma-separated zoo models (default: all): " + ", ".join(MODEL_NAMES))
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"training steps (batches of 64) per player and model (default {DEFAULT_STEPS})")
    parser.add_argument("--turns", type=int, default=DEFAULT_TURNS,
                        help=f"training turns per model, and inference rounds (default {DEFAULT_TURNS})")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads for both NumPy's BLAS and PyTorch (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH", default=None, help="also write every figure to this JSON file")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the peak-memory processes")
    args = parser.parse_args(argv)
    for name in ("steps", "turns", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer; received {getattr(args, name)}")
    args.models = parse_models(parser, args.models)
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_environment(ARGS.threads)                             # before NumPy: OpenBLAS reads it at load time
    from clearconv_bench.checkout import use_this_checkout
    use_this_checkout()

import json  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:  # pragma: no cover - the bench extra installs it
    sys.exit("benchmarks/models.py needs PyTorch (pip install -e '.[bench]', torch==2.13.0 CPU)")

from clearconv_bench import header, model_section  # noqa: E402


def main(args) -> int:
    malloc = header.apply_malloc_setting()                           # before the first large allocation
    torch.set_num_threads(args.threads)
    fields = header.header_fields(args.threads, malloc, torch_module=torch)
    print("clearconv vs PyTorch, whole models, float32")
    print(header.format_header(fields))
    result = model_section.run_section(args.models, args.steps, args.turns, args.threads,
                                       memory=not args.skip_memory)
    for line in model_section.section_lines(result):
        print(line)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"header": fields, **result}, handle, indent=2, default=str)
    return 1 if model_section.parity_failed(result) else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
