"""Synchronous data parallelism on N machines, on paper: the ring all-reduce cost against the compute of a step.

Every step of :class:`clearconv.distribution.DataParallel` computes the
gradients of the process's shard, then sums them over the processes; the
next step starts after the sum (the reduction runs after the backward, not
during it: see docs/distribution.md), so a step lasts compute + communication.

**Gradient reduction.** A ring all-reduce of S bytes over N processes is a
reduce-scatter then an all-gather, each N - 1 rounds in which every process
sends one S/N chunk to its neighbour; so each process sends (and receives)
``2 (N - 1) / N * S`` bytes over its link and waits ``2 (N - 1)`` message
latencies::

    t_ring(S, N) = 2 (N - 1) * alpha + 2 (N - 1) / N * S / beta

with ``beta`` the link bandwidth in bytes/s and ``alpha`` the latency of one
message. S = 4 bytes x the trainable parameters (float32 gradients), cut into
``ceil(S / BUCKET_BYTES)`` Allreduce calls as the library does (each pays its
own latencies; every zoo model fits in one bucket).

**The small collectives.** A step makes other Allreduces of a few bytes: one
for the loss shares (the float64 buffer), one for the metrics, and three per
BatchNormalization layer (the per-channel count and sum, the squared
deviations, and ``sum(dy)``, ``sum(dy * x_hat)`` in the backward). MPI
implementations reduce short messages by recursive doubling, so each costs
``ceil(log2 N) * alpha``; their bytes are negligible.

**Compute.** ``compute_seconds``: one process's time for a step of the batch
B on one machine (measured). Strong scaling keeps the global batch B, so each
of N processes computes B/N samples: ``compute_seconds / N`` (perfect
division; a real step keeps some fixed cost per call, so this flatters large
N). Weak scaling keeps B per process: ``compute_seconds`` per step, N times
the samples.

Speed-up: the throughput on N machines over the throughput on one (which
communicates nothing); efficiency: speed-up / N. Pure arithmetic: no NumPy,
no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .table import render

BUCKET_BYTES = 4 * 2**20        # the library's Allreduce bucket (clearconv.distribution.communicator.BUCKET_BYTES)
GRADIENT_BYTES = 4              # float32 gradients
SCALINGS = ("strong", "weak")
MACHINE_COUNTS = (2, 4, 8, 16, 64)
PAYING_EFFICIENCY = 0.5         # below this, half of every machine's time is communication: scaling stops paying


@dataclass(frozen=True)
class Link:
    """A network link between machines: bandwidth in Gbit/s, latency of one message in seconds."""

    name: str
    gbit_per_s: float
    alpha: float

    @property
    def bytes_per_s(self) -> float:
        return self.gbit_per_s * 1e9 / 8


# Latencies: about 50 us for a message through TCP over Ethernet (kernel stack both ends), about 5 us
# for an RDMA network (InfiniBand or RoCE class) at 100 Gbit/s.
LINKS = (Link("1 Gbit/s Ethernet", 1.0, 50e-6),
         Link("10 Gbit/s Ethernet", 10.0, 50e-6),
         Link("100 Gbit/s InfiniBand-class", 100.0, 5e-6))


def ring_allreduce_seconds(nbytes: float, machines: int, link: Link) -> float:
    """Seconds of one ring all-reduce of ``nbytes`` over ``machines`` processes: ``2 (N-1) alpha + 2 (N-1)/N
    nbytes / beta``; 0 on one machine."""
    _check_machines(machines)
    if nbytes < 0:
        raise ValueError(f"ring_allreduce_seconds: `nbytes` must be >= 0; received {nbytes}")
    if machines == 1:
        return 0.0
    rounds = 2 * (machines - 1)
    return rounds * link.alpha + rounds / machines * nbytes / link.bytes_per_s


def short_allreduce_seconds(machines: int, link: Link) -> float:
    """Seconds of an Allreduce of a few bytes by recursive doubling: ``ceil(log2 N) alpha``."""
    _check_machines(machines)
    return math.ceil(math.log2(machines)) * link.alpha


def small_collectives(batchnorm_layers: int) -> int:
    """Allreduces of a few bytes per training step besides the gradients: the float64 loss shares, the
    metrics, and 3 per BatchNormalization layer (2 in the forward, 1 in the backward)."""
    if batchnorm_layers < 0:
        raise ValueError(f"small_collectives: `batchnorm_layers` must be >= 0; received {batchnorm_layers}")
    return 2 + 3 * batchnorm_layers


def communication_seconds(parameters: int, machines: int, link: Link, batchnorm_layers: int = 0) -> float:
    """Seconds of communication in one step: the gradients (ring, in buckets) and the small collectives."""
    _check_machines(machines)
    if machines == 1:
        return 0.0
    nbytes = GRADIENT_BYTES * parameters
    buckets = max(1, math.ceil(nbytes / BUCKET_BYTES))
    gradients = sum(ring_allreduce_seconds(min(BUCKET_BYTES, nbytes - index * BUCKET_BYTES), machines, link)
                    for index in range(buckets))
    return gradients + small_collectives(batchnorm_layers) * short_allreduce_seconds(machines, link)


def predict(compute_seconds: float, parameters: int, machines: int, link: Link, scaling: str,
            batchnorm_layers: int = 0) -> dict:
    """One model on ``machines`` machines: ``{"step_seconds", "compute_seconds", "communication_seconds",
    "speedup", "efficiency"}``.

    ``compute_seconds``: one machine's step on the batch B; ``scaling``:
    "strong" (global batch B, compute / N per process) or "weak" (B per
    process). See the module docstring.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"predict: `scaling` must be one of {', '.join(SCALINGS)}; received {scaling!r}")
    if not compute_seconds > 0:
        raise ValueError(f"predict: `compute_seconds` must be > 0; received {compute_seconds}")
    compute = compute_seconds / machines if scaling == "strong" else compute_seconds
    communication = communication_seconds(parameters, machines, link, batchnorm_layers)
    step = compute + communication
    # Samples per second on N machines over one machine's: strong, B / step against B / compute_seconds;
    # weak, N B / step against the same.
    speedup = compute_seconds / step * (1 if scaling == "strong" else machines)
    return {"step_seconds": step, "compute_seconds": compute, "communication_seconds": communication,
            "speedup": speedup, "efficiency": speedup / machines}


def largest_paying(compute_seconds: float, parameters: int, link: Link, scaling: str, batchnorm_layers: int = 0,
                   limit: int = 4096) -> int:
    """The largest N (up to ``limit``) whose efficiency is still >= PAYING_EFFICIENCY; 1 when even N = 2 is
    below it. Efficiency falls as N grows in both scalings (communication grows, compute per process does
    not), so the first N below the threshold ends the search."""
    best = 1
    for machines in range(2, limit + 1):
        if predict(compute_seconds, parameters, machines, link, scaling, batchnorm_layers)["efficiency"] \
                < PAYING_EFFICIENCY:
            break
        best = machines
    return best


def compute_needed(parameters: int, machines: int, link: Link) -> float:
    """Compute seconds per process per step at which N machines reach exactly PAYING_EFFICIENCY (50%): the
    step must compute at least as long as it communicates (gradients only, no BatchNormalization)."""
    share = PAYING_EFFICIENCY / (1 - PAYING_EFFICIENCY)   # compute / communication at the threshold: 1
    return share * communication_seconds(parameters, machines, link)


def _check_machines(machines: int) -> None:
    if not isinstance(machines, int) or isinstance(machines, bool) or machines < 1:
        raise ValueError(f"`machines` must be an integer >= 1; received {machines!r}")


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------

def prediction_rows(models: dict, machine_counts=MACHINE_COUNTS, links=LINKS) -> list[dict]:
    """One row per (scaling, link, model): ``{"scaling", "link", "model", "parameters", "compute_ms", "cells":
    [predict(...) per N], "largest_paying"}``.

    ``models``: {name: {"compute_seconds", "parameters", "batchnorm_layers"}}.
    """
    rows = []
    for scaling in SCALINGS:
        for link in links:
            for name, figures in models.items():
                arguments = (figures["compute_seconds"], figures["parameters"])
                cells = [predict(*arguments, machines, link, scaling, figures["batchnorm_layers"])
                         for machines in machine_counts]
                rows.append({"scaling": scaling, "link": link.name, "model": name,
                             "parameters": figures["parameters"], "compute_ms": figures["compute_seconds"] * 1e3,
                             "cells": cells,
                             "largest_paying": largest_paying(*arguments, link, scaling,
                                                              figures["batchnorm_layers"])})
    return rows


def format_predictions(rows: list[dict], machine_counts=MACHINE_COUNTS) -> str:
    """The prediction table, Markdown: speed-up and efficiency per N; the largest N at >= 50% efficiency."""
    header = ("scaling", "link", "model", "params", "compute ms") + tuple(f"N={n}" for n in machine_counts) \
        + ("largest N >= 50%",)
    lines = []
    for row in rows:
        cells = [f"{cell['speedup']:.1f}x ({cell['efficiency'] * 100:.0f}%)" for cell in row["cells"]]
        paying = str(row["largest_paying"]) if row["largest_paying"] < 4096 else ">= 4096"
        lines.append((row["scaling"], row["link"], row["model"], f"{row['parameters']:,}",
                      f"{row['compute_ms']:.1f}", *cells, paying if row["largest_paying"] > 1 else "none"))
    return render(header, lines)


def format_compute_needed(parameter_counts=(10**4, 10**5, 10**6, 10**7, 10**8), machine_counts=(8, 64),
                          links=LINKS) -> str:
    """Compute per process per step (ms) that 50% efficiency needs, per model size, link and N."""
    header = ("params", "gradient MB") + tuple(f"{link.name}, N={n}" for link in links for n in machine_counts)
    lines = [(f"{count:,}", f"{count * GRADIENT_BYTES / 1e6:g}",
              *(f"{compute_needed(count, n, link) * 1e3:.2f}" for link in links for n in machine_counts))
             for count in parameter_counts]
    return render(header, lines)

