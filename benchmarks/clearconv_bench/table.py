"""The Markdown tables of ``benchmarks/run.py``: the main table and the per-turn noise diagnostic."""

from __future__ import annotations

from .names import MODES

FORMAT_LABELS = {"contiguous": "NCHW", "channels_last": "CL", "channels_last_3d": "CL3d"}
SHOWN_FORMATS = ("contiguous", "channels_last")   # the two columns of PyTorch's times; "-" where not offered


def render(header: tuple, lines: list[tuple]) -> str:
    """A Markdown table: first two columns left-aligned, the others right-aligned.

    A line of two cells (name, text) is a free-text row: the text runs past the column bars.
    """
    full = [line for line in lines if len(line) == len(header)]
    widths = [max(len(header[i]), *(len(line[i]) for line in full)) if full else len(header[i])
              for i in range(len(header))]
    widths[0] = max([widths[0]] + [len(line[0]) for line in lines])
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for line in lines:
        if len(line) != len(header):
            out.append(f"| {line[0].ljust(widths[0])} | {line[1]}")
            continue
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f}"


def gflops_cell(figures: dict) -> str:
    if figures["gflops"] is None:
        return "-"
    return f"{figures['gflops']:.1f} ({figures['percent_of_peak']:.0f}%)"


def torch_cell(figures: dict) -> str:
    """PyTorch's ms in NCHW / channels_last; '*' marks the faster one, the ratio's reference; '-': not offered."""
    cells = []
    for name in SHOWN_FORMATS:
        if name not in figures["torch_ms"]:
            cells.append("-")
            continue
        mark = "*" if name == figures["torch_format"] and len(figures["torch_ms"]) > 1 else ""
        cells.append(f"{figures['torch_ms'][name]:.3f}{mark}")
    return " / ".join(cells)


def format_table(entries: list) -> str:
    """The main table; ``entries`` are row dicts (:func:`.summary.summarize`) or (name, text) free-text rows."""
    header = ("case", "algorithm")
    for short in ("fwd", "fwd+bwd"):
        header += (f"{short} clearconv ms", f"{short} torch ms NCHW / CL", "ratio", f"{short} GFLOP/s (% peak)")
    header += ("peak MiB", "floor MiB", "peak/floor")
    lines = []
    for row in entries:
        if isinstance(row, tuple):
            lines.append(row)
            continue
        mark = "" if row["parity"] <= row["tolerance"] else " !"     # parity mismatch: see below the table
        cells = [row["row"] + mark, row["label"]]
        for mode in MODES:
            figures = row[mode]
            cells += [f"{figures['clearconv_ms']:.3f}", torch_cell(figures), f"{figures['ratio']:.2f}x",
                      gflops_cell(figures)]
        memory = row["memory"]
        cells += [mib(memory["peak_bytes"]), mib(memory["floor_bytes"]), f"{memory['ratio']:.2f}x"]
        lines.append(tuple(cells))
    return render(header, lines)


def format_diagnostics(rows: list[dict]) -> str:
    """Noise diagnostic: the per-turn ratios behind each headline ratio (never held to a target)."""
    header = ("case", "mode", "turns", "torch format", "headline (total)", "per-turn median", "per-turn range",
              "contended turns")
    lines = [(row["row"], mode, str(row[mode]["turns"]), FORMAT_LABELS[row[mode]["torch_format"]],
              f"{row[mode]['ratio']:.2f}x", f"{row[mode]['turn_ratio_median']:.2f}x",
              f"{row[mode]['turn_ratio_min']:.2f}-{row[mode]['turn_ratio_max']:.2f}",
              str(len(row[mode]["contended_turns"])))
             for row in rows for mode in MODES]
    return render(header, lines)
