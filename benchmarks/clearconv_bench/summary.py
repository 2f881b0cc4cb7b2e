"""A case's rows from its measurements: headline ratios, both PyTorch formats, GFLOP/s, memory; the load note."""

from __future__ import annotations

import statistics

from .load import BUSY_CORES, METER
from .names import MAIN, MODES
from .parity import tolerance
from .timing import Measurements, contended_turns
from .turns import headline

BACKWARD_FACTOR = {"forward": 1.0, "forward+backward": 3.0}   # forward+backward counts 3x the forward's MACs


def compare(found: Measurements, name: str, mode: str, implementation: str, torch_keys: dict) -> dict:
    """:func:`.turns.headline` of one clearconv implementation against PyTorch's formats, with ms and contention.

    ``clearconv_ms`` and ``torch_ms`` (per format) are total time / turns, per
    call, so ``ratio`` is exactly clearconv_ms / torch_ms of the faster format.
    """
    ours = found.seconds[name][mode, implementation]
    result = headline(ours, {fmt: found.seconds[name][mode, key] for fmt, key in torch_keys.items()})
    contended = contended_turns(found, name, [(mode, implementation)] + [(mode, key) for key in torch_keys.values()])
    result.update(clearconv_ms=1e3 * result["clearconv_total"] / result["turns"],
                  torch_ms={fmt: 1e3 * total / result["turns"] for fmt, total in result["torch_totals"].items()},
                  contended_turns=contended, quiet=not contended)
    return result


def summarize(prepared, found: Measurements, peak_gflops: float) -> list[dict]:
    """One row per clearconv implementation of a :class:`.units.PreparedCase`: times, ratios, GFLOP/s, memory."""
    case = prepared.case
    rows = []
    floor = prepared.floor["floor"]
    for implementation, algorithm in prepared.algorithms.items():
        row = {"case": case.name, "implementation": implementation, "algorithm": algorithm,
               "row": case.name if implementation == MAIN else f"{case.name} [{algorithm}]",
               "label": ("-" if algorithm is None else f"auto={algorithm}") if implementation == MAIN else algorithm,
               "parity": prepared.parity[implementation], "tolerance": tolerance(algorithm, case.rank)}
        for mode in MODES:
            row[mode] = compare(found, case.name, mode, implementation, prepared.torch_keys)
            gflops = None
            if prepared.macs is not None:
                gflops = BACKWARD_FACTOR[mode] * 2.0 * prepared.macs / (row[mode]["clearconv_ms"] * 1e-3) / 1e9
            row[mode]["gflops"] = gflops
            row[mode]["percent_of_peak"] = None if gflops is None else 100.0 * gflops / peak_gflops
        peak = prepared.peak_bytes[implementation]
        row["memory"] = {"peak_bytes": peak, "floor_bytes": floor, "ratio": peak / floor, "floor_parts": prepared.floor}
        rows.append(row)
    return rows


def contention_note(found: Measurements, rows: list[dict], zoo_rows: list[dict]) -> str:
    """How busy the machine was, and which turns stayed contended (they count in the totals)."""
    if not METER.available:
        return "machine load: not measured (no /proc/stat)"
    everything = [cores for case in found.contention.values() for values in case.values() for cores in values]
    if not everything:
        return "machine load: nothing timed"
    contended = [f"{row['row']} {mode} {len(row[mode]['contended_turns'])}/{row[mode]['turns']}"
                 for row in rows for mode in MODES if row[mode]["contended_turns"]]
    contended += [f"{row['model']} {len(row['contended_turns'])}/{row['turns']}" for row in zoo_rows
                  if row["contended_turns"]]
    line = (f"machine load: other processes used {statistics.median(everything):.2f} cores (median over blocks, "
            f"max {max(everything):.2f}); {found.retries} contended group(s) of blocks measured again")
    if contended:
        line += (f"\n  turns still contended (> {BUSY_CORES} core used by others), counted in the totals; "
                 "targets they decide are INCONCLUSIVE: " + ", ".join(contended))
    return line
