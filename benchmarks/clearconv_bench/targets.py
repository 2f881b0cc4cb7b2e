"""The performance targets and their verdicts, on the headline ratios (total time over every turn).

A verdict is PASS or FAIL when every case deciding it ran only quiet turns;
FAIL as well when a failing case ran quiet; otherwise INCONCLUSIVE (a
contended turn flatters clearconv: PyTorch's OpenMP team suffers more from a
busy core than OpenBLAS).
"""

from __future__ import annotations

import statistics

from .names import MAIN, MODES

# (description, case names or "2d", mode, limit on the ratio clearconv / PyTorch's faster memory format)
TARGETS = (
    ("no 2D case above 2x, forward+backward", "2d", "forward+backward", 2.0),
    ("conv1d and transposed at most 1.5x, forward+backward", ("conv1d", "transposed"), "forward+backward", 1.5),
    ("3x3 stride-1 forward at most 1.3x", ("vgg-3x3", "deep-3x3"), "forward", 1.3),
    ("pointwise and maxpool at most 1.0x, forward+backward", ("pointwise", "maxpool"), "forward+backward", 1.0),
)
MEDIAN_TARGET = 1.3       # forward+backward, median over the 2D conv cases of their headline ratios
EPOCH_TARGET = 1.2        # LeNet-5 training epochs, total time
MEMORY_TARGET = 2.0       # peak / floor
INCONCLUSIVE = "INCONCLUSIVE (contended turns decide it: rerun on a quiet machine)"


def verdict(failed: list, quiet: dict) -> str:
    """PASS / FAIL / INCONCLUSIVE; ``failed``: case names over the limit, ``quiet``: {case: no contended turn}."""
    if any(quiet[name] for name in failed):
        return "FAIL"
    if all(quiet.values()):
        return "FAIL" if failed else "PASS"
    return INCONCLUSIVE


def check_lines(cases: list, rows: list[dict], column_buffer_mib: float) -> list[str]:
    """Median ratios, every target of TARGETS and the memory target, over the main rows."""
    lines = []
    main = {row["case"]: row for row in rows if row["implementation"] == MAIN}
    conv_2d = [case for case in cases if case.is_conv]
    for mode in MODES if conv_2d else ():
        median = statistics.median(main[case.name][mode]["ratio"] for case in conv_2d)
        line = (f"median of the headline ratios over the 2D conv cases ({len(conv_2d)}: "
                f"{', '.join(case.name for case in conv_2d)}), {mode}: {median:.2f}x")
        if mode == "forward+backward":
            quiet = all(main[case.name][mode]["quiet"] for case in conv_2d)
            outcome = ("FAIL" if median > MEDIAN_TARGET else "PASS") if quiet else INCONCLUSIVE
            line += f"; target <= {MEDIAN_TARGET:g}x: {outcome}"
        lines.append(line)
    for description, names, mode, limit in TARGETS:
        checked = [case for case in cases if (case.is_2d if names == "2d" else case.name in names)]
        if not checked:
            continue
        quiet = {case.name: main[case.name][mode]["quiet"] for case in checked}
        failed = [case.name for case in checked if main[case.name][mode]["ratio"] > limit]
        lines.append(f"check, target \"{description}\": {verdict(failed, quiet)}")
        for case in checked:
            result = main[case.name][mode]
            note = "" if quiet[case.name] else f", {len(result['contended_turns'])} contended turn(s)"
            lines.append(f"  {case.name} {mode}: {result['ratio']:.2f}x against torch {result['torch_format']} "
                         f"{'PASS' if result['ratio'] <= limit else 'FAIL'}{note}")
    if rows:
        over = [row for row in rows if row["memory"]["ratio"] > MEMORY_TARGET]
        memory = "FAIL" if any(row["implementation"] == MAIN for row in over) else "PASS"
        lines.append(f"check, target \"forward+backward peak memory <= {MEMORY_TARGET:g}x the floor\" (main rows; "
                     f"column buffer limit {column_buffer_mib:.1f} MiB): {memory}")
        if over:
            lines.append("  over the target: " + ", ".join(f"{row['row']} {row['memory']['ratio']:.2f}x"
                                                             for row in over))
    return lines


# Whole models (:mod:`.whole_models`): total-time ratios against PyTorch's faster format, and peak memory against
# PyTorch's smaller peak.
MODEL_TRAINING_TARGET = 1.0
MODEL_INFERENCE_TARGET = 1.0
MODEL_MEMORY_TARGET = 1.5


def model_verdict(ratio: float, limit: float, quiet: bool) -> str:
    """PASS / FAIL / INCONCLUSIVE of one whole-model row, by the rule of :func:`verdict` (one word)."""
    return verdict(["row"] if ratio > limit else [], {"row": quiet}).split(" ", 1)[0]


def model_check_lines(train_rows: list[dict], inference_rows: list[dict], memory_rows: list[dict]) -> list[str]:
    """The three whole-model targets, each with its verdict and the rows that decide it."""
    lines = []
    checks = (
        (f"every whole-model training row <= {MODEL_TRAINING_TARGET:g}x PyTorch", MODEL_TRAINING_TARGET,
         [(f"{row['model']} training", row["ratio"], row["quiet"], f"torch {row['torch_format']}")
          for row in train_rows]),
        (f"every whole-model inference row <= {MODEL_INFERENCE_TARGET:g}x PyTorch", MODEL_INFERENCE_TARGET,
         [(f"{row['model']} {row['mode']}", row["ratio"], row["quiet"], f"torch {row['torch_format']}")
          for row in inference_rows]),
        (f"whole-model peak memory <= {MODEL_MEMORY_TARGET:g}x PyTorch's", MODEL_MEMORY_TARGET,
         [(f"{row['model']} {row['work']}", row["ratio"], True, f"torch {row['torch_format']}")
          for row in memory_rows if "error" not in row]),
    )
    for description, limit, decided in checks:
        if not decided:
            continue
        failed = [name for name, ratio, _, _ in decided if ratio > limit]
        quiet = {name: row_quiet for name, _, row_quiet, _ in decided}
        lines.append(f"check, target \"{description}\": {verdict(failed, quiet)}")
        for name, ratio, row_quiet, against in decided:
            note = "" if row_quiet else " (contended turns)"
            lines.append(f"  {name}: {ratio:.2f}x against {against} {model_verdict(ratio, limit, row_quiet)}{note}")
    return lines
