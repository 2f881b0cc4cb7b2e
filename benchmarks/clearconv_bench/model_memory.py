"""Peak memory of a training step and of a batch predict, each library in a fresh process of its own.

    python -m clearconv_bench.model_memory --library clearconv --model small_vgg [--threads 2]

(run from ``benchmarks/``) prints one JSON line: {work: MiB}, the works being
``train step`` (one Adam step on a batch of 64) and ``predict b256`` (a
predict on a batch of 256), for clearconv, or for PyTorch's twin in each of
its memory formats (``--library torch``).

**What is measured.** The resident memory the work adds at its peak:
``VmHWM`` (the process's resident high-water mark, /proc/self/status) after
the work minus ``VmRSS`` just before it, the high-water mark having been reset
to the current resident size (``echo 5 > /proc/self/clear_refs``) just before
the work. It counts everything the work touches, whoever allocates it (NumPy,
numba, PyTorch's allocator, BLAS buffers), which tracemalloc would not.
ru_maxrss was not chosen: it cannot be reset, so after imports and
data creation (whose transient peaks can exceed the work's) the difference
would understate the work.

**Fairness.** Before any measurement, imports, the model, its data and
``clearconv.allocator.keep_freed_memory()`` (as in the timed runs) are
done, and each side runs its work once on a batch of 2: one-time costs
(loading numba's compiled kernels, the optimizer's slots, PyTorch's
first-call set-up) are paid there, at a size too small to leave memory
behind that the measured work could reuse. glibc's ``malloc_trim(0)`` then
returns freed memory to the system before each work, on both sides alike,
so neither side's measurement is flattered by memory freed earlier and kept.
Each work starts from the same model and weights; the PyTorch formats
each get their own twin.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys

WORKS = ("train step", "predict b256")
CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
TRAIN_BATCH = 64
PREDICT_BATCH = 256
WARM_UP_BATCH = 2


def status_kib(field: str, path: str = STATUS) -> int:
    """A ``Vm*`` field of /proc/self/status, in KiB."""
    with open(path) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{path} has no {field} field")


def available() -> bool:
    """Whether the peak can be reset and read (Linux with /proc)."""
    return os.path.exists(STATUS) and os.access(CLEAR_REFS, os.W_OK)


def trim() -> None:
    """Return freed heap memory to the system (glibc); nothing elsewhere."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_added_mib(work) -> float:
    """Run ``work()``; the resident memory it added at its peak, in MiB (module docstring)."""
    trim()
    with open(CLEAR_REFS, "w") as handle:
        handle.write("5")                                            # reset VmHWM to the current VmRSS
    before = status_kib("VmRSS")
    work()
    return (status_kib("VmHWM") - before) / 1024


def _clearconv_works(spec, x, y):
    from clearconv import optimizers, utils

    utils.set_seed(0)
    model = spec.make_model()
    model.compile(optimizer=optimizers.Adam(1e-3), loss=spec.loss)
    model.train_on_batch(x[:WARM_UP_BATCH], y[:WARM_UP_BATCH])       # one-time costs, at a negligible size
    model.predict(x[:WARM_UP_BATCH], verbose=0)
    return {"clearconv": {"train step": lambda: model.train_on_batch(x[:TRAIN_BATCH], y[:TRAIN_BATCH]),
                          "predict b256": lambda: model.predict(x[:PREDICT_BATCH], batch_size=PREDICT_BATCH,
                                                                verbose=0)}}


def _torch_works(spec, x, y):
    import torch

    from .trainers import torch_trainer

    from clearconv import utils

    utils.set_seed(0)
    model = spec.make_model()
    found = {}
    for name in spec.torch_formats:
        trainer = torch_trainer(spec.name, model, x, y, spec.loss, TRAIN_BATCH, 0, name)
        trainer.step(trainer.images[:WARM_UP_BATCH], trainer.labels[:WARM_UP_BATCH])

        def predict(trainer=trainer, count=PREDICT_BATCH):
            trainer.model.eval()
            with torch.no_grad():
                out = trainer.model.predict(trainer.images[:count])
            trainer.model.train()
            return out

        predict(count=WARM_UP_BATCH)
        found[f"torch:{name}"] = {
            "train step": lambda trainer=trainer: trainer.step(trainer.images[:TRAIN_BATCH],
                                                               trainer.labels[:TRAIN_BATCH]),
            "predict b256": predict}
    return found


def measure(library: str, model_name: str) -> dict:
    """{player: {work: MiB}} in this process (call it in a fresh one: see :func:`measure_in_child`)."""
    import numpy as np

    from .header import apply_malloc_setting
    from .whole_models import SPECS, random_data

    apply_malloc_setting()
    spec = SPECS[model_name]
    x, y = random_data(spec, PREDICT_BATCH, np.random.default_rng(0))
    players = _clearconv_works(spec, x, y) if library == "clearconv" else _torch_works(spec, x, y)
    return {player: {work: peak_added_mib(function) for work, function in works.items()}
            for player, works in players.items()}


def measure_in_child(library: str, model_name: str, threads: int, timeout: float = 300.0) -> dict:
    """:func:`measure` in a fresh Python process; {player: {work: MiB}} or {"error": message}."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/
    command = [sys.executable, "-m", "clearconv_bench.model_memory", "--library", library, "--model", model_name,
               "--threads", str(threads)]
    try:
        done = subprocess.run(command, cwd=here, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def memory_rows(specs, threads: int, log=print) -> list[dict]:
    """Per model and work: clearconv's MiB, PyTorch's per format, the ratio against PyTorch's smaller peak."""
    if not available():
        return [{"model": spec.name, "error": f"{CLEAR_REFS} is not writable: the peak cannot be reset"}
                for spec in specs]
    rows = []
    for spec in specs:
        ours = measure_in_child("clearconv", spec.name, threads)
        theirs = measure_in_child("torch", spec.name, threads)
        log(f"  memory of {spec.name} measured")
        if "error" in ours or "error" in theirs:
            rows.append({"model": spec.name, "error": ours.get("error") or theirs.get("error")})
            continue
        for work in WORKS:
            torch_mib = {player.split(":", 1)[1]: figures[work] for player, figures in theirs.items()}
            smaller = min(torch_mib, key=torch_mib.get)
            clearconv_mib = ours["clearconv"][work]
            rows.append({"model": spec.name, "work": work, "clearconv_mib": clearconv_mib, "torch_mib": torch_mib,
                         "torch_format": smaller,
                         "ratio": clearconv_mib / torch_mib[smaller] if torch_mib[smaller] > 0 else float("inf")})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Peak memory of one model's training step and predict.")
    parser.add_argument("--library", choices=("clearconv", "torch"), required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    from .names import MODEL_NAMES
    if args.model not in MODEL_NAMES:
        parser.error(f"--model: unknown model {args.model!r}; accepted: {', '.join(MODEL_NAMES)}")
    from .threads import set_thread_environment
    set_thread_environment(args.threads)                             # before NumPy loads its BLAS
    from .checkout import use_this_checkout
    use_this_checkout()
    if args.library == "torch":
        import torch
        torch.set_num_threads(args.threads)
    print(json.dumps(measure(args.library, args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
