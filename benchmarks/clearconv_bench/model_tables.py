"""The whole-model tables: training, inference, peak memory and the step split (Markdown, as :mod:`.table`)."""

from __future__ import annotations

from .step_split import KINDS, PARTS
from .table import FORMAT_LABELS, SHOWN_FORMATS, render
from .targets import MODEL_INFERENCE_TARGET, MODEL_MEMORY_TARGET, MODEL_TRAINING_TARGET, model_verdict


def torch_times(values: dict, chosen: str, digits: int = 2) -> str:
    """PyTorch's figures in NCHW / channels_last; '*' marks the one the ratio holds against; '-': not offered."""
    cells = []
    for name in SHOWN_FORMATS:
        if name not in values:
            cells.append("-")
            continue
        mark = "*" if name == chosen and len(values) > 1 else ""
        cells.append(f"{values[name]:.{digits}f}{mark}")
    return " / ".join(cells)


def format_training(rows: list[dict]) -> str:
    header = ("model", "input", "steps x batch", "clearconv ms/step", "torch ms/step NCHW / CL", "ratio",
              f"target <= {MODEL_TRAINING_TARGET:g}x", "per-turn median (range)", "contended turns",
              "start-up s (clearconv / torch)")
    lines = []
    for row in rows:
        start_up = row["start_up_seconds"]
        torch_start = max(seconds for player, seconds in start_up.items() if player != "clearconv")
        lines.append((row["model"], "x".join(map(str, row["input_shape"])), f"{row['steps']} x {row['batch_size']}",
                      f"{row['clearconv_ms']:.2f}", torch_times(row["torch_ms"], row["torch_format"]),
                      f"{row['ratio']:.2f}x", model_verdict(row["ratio"], MODEL_TRAINING_TARGET, row["quiet"]),
                      f"{row['turn_ratio_median']:.2f}x ({row['turn_ratio_min']:.2f}-{row['turn_ratio_max']:.2f})",
                      f"{len(row['contended_turns'])}/{row['turns']}",
                      f"{start_up['clearconv']:.2f} / {torch_start:.2f}"))
    return render(header, lines)


def format_inference(rows: list[dict]) -> str:
    header = ("model", "batch", "clearconv predict ms", "model(x) ms (diagnostic)", "predict overhead ms",
              "torch ms NCHW / CL", "ratio", f"target <= {MODEL_INFERENCE_TARGET:g}x", "img/s clearconv / torch",
              "per-turn median (range)", "contended turns")
    lines = []
    for row in rows:
        call = row.get("call_ms")
        torch_ms = row["torch_ms"][row["torch_format"]]
        lines.append((row["model"], str(row["batch"]), f"{row['clearconv_ms']:.3f}",
                      "-" if call is None else f"{call:.3f}",
                      "-" if call is None else f"{row['clearconv_ms'] - call:+.3f}",
                      torch_times(row["torch_ms"], row["torch_format"], 3), f"{row['ratio']:.2f}x",
                      model_verdict(row["ratio"], MODEL_INFERENCE_TARGET, row["quiet"]),
                      f"{row['batch'] / row['clearconv_ms'] * 1e3:.0f} / {row['batch'] / torch_ms * 1e3:.0f}",
                      f"{row['turn_ratio_median']:.2f}x ({row['turn_ratio_min']:.2f}-{row['turn_ratio_max']:.2f})",
                      f"{len(row['contended_turns'])}/{row['turns']}"))
    return render(header, lines)


def format_memory(rows: list[dict]) -> str:
    header = ("model", "work", "clearconv MiB", "torch MiB NCHW / CL", "ratio", f"target <= {MODEL_MEMORY_TARGET:g}x")
    lines = []
    for row in rows:
        if "error" in row:
            lines.append((row["model"], f"not measured: {row['error']}"))
            continue
        lines.append((row["model"], row["work"], f"{row['clearconv_mib']:.1f}",
                      torch_times(row["torch_mib"], row["torch_format"], 1), f"{row['ratio']:.2f}x",
                      "PASS" if row["ratio"] <= MODEL_MEMORY_TARGET else "FAIL"))
    return render(header, lines)


def format_split(rows: list[dict]) -> str:
    """clearconv's training step split, ms per step and share of the step, per model (a diagnostic)."""
    short = {"forward": "forward"} | {f"backward {kind}": f"bwd {kind}" for kind in KINDS} | {
        "optimizer": "optimizer", "bookkeeping": "bookkeeping"}
    header = ("model", "step ms (instrumented fit)") + tuple(short[part] for part in PARTS)
    lines = []
    for row in rows:
        split = row["split"]
        step = split["step_ms"]
        lines.append((row["model"], f"{step:.2f}")
                     + tuple(f"{split['parts'][part]:.2f} ({100 * split['parts'][part] / step:.0f}%)"
                             for part in PARTS))
    return render(header, lines)


def legend() -> list[str]:
    return [f"NCHW = contiguous, CL = channels_last ({', '.join(FORMAT_LABELS)}); '*' marks PyTorch's faster "
            "format in total time (smaller peak for memory), the one each ratio holds against"]
