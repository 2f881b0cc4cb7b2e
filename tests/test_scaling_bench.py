"""The scaling benchmark (benchmarks/scaling.py): the N-machine cost model, the summary, the arguments, one launch.

``benchmarks/`` is not on ``sys.path``: its package ``clearconv_bench`` is
loaded from its file path, as tests/test_benchmarks.py does. The cost model's
expected values are hand arithmetic on links chosen so that the numbers come
out round (alpha = 0 and 8 Gbit/s = 1e9 bytes/s, or the stated links); the
summary is checked on fake records whose figures are chosen by hand. One
launch of 1 and 2 processes (skipped without mpi4py or mpirun) checks the
measured records against what the model of a step says they must hold.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys

import pytest

from bench_package import BENCHMARKS, load as _load


def _load_script():
    """benchmarks/scaling.py as a module (not ``__main__``: it sets no environment and runs nothing)."""
    _load("names")
    spec = importlib.util.spec_from_file_location("scaling_script", BENCHMARKS / "scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model = _load("scaling_model")
summary = _load("scaling_summary")
launch = _load("scaling_launch")
script = _load_script()

GIGABYTE_LINK = model.Link("8 Gbit/s, no latency", 8.0, 0.0)       # 1e9 bytes/s: seconds = bytes / 1e9


# --------------------------------------------------------------------------- ring all-reduce arithmetic

def test_ring_allreduce_hand_computed():
    # 4 MB over 4 processes at 10 Gbit/s (1.25e9 bytes/s), alpha 50 us:
    # 2 * 3 * 50e-6 = 3e-4 s of latency, 2 * 3 / 4 * 4e6 / 1.25e9 = 4.8e-3 s of transfer.
    link = model.Link("10", 10.0, 50e-6)
    assert model.ring_allreduce_seconds(4e6, 4, link) == pytest.approx(3e-4 + 4.8e-3)
    assert model.ring_allreduce_seconds(4e6, 1, link) == 0.0
    # The bytes each process sends tend to 2 S as N grows: 2 * 63 / 64 * 1e9 / 1e9 = 1.96875 s.
    assert model.ring_allreduce_seconds(1e9, 64, GIGABYTE_LINK) == pytest.approx(1.96875)


def test_short_allreduce_is_recursive_doubling_latency():
    link = model.Link("t", 1.0, 1e-3)
    assert [model.short_allreduce_seconds(n, link) for n in (2, 4, 5, 8, 64)] == \
        pytest.approx([1e-3, 2e-3, 3e-3, 3e-3, 6e-3])


def test_communication_of_a_step_hand_computed():
    link = model.Link("100", 100.0, 5e-6)                               # 1.25e10 bytes/s
    # LeNet-5: 61,706 float32 gradients = 246,824 bytes, one bucket; on 2 processes the ring is
    # 2 * 1 * 5e-6 + 2 * 1/2 * 246824 / 1.25e10, plus 2 short Allreduces of 1 * 5e-6 each.
    ring = 1e-5 + 246824 / 1.25e10
    assert model.communication_seconds(61706, 2, link) == pytest.approx(ring + 2 * 5e-6)
    # 9 BatchNormalization layers add 27 short Allreduces.
    assert model.communication_seconds(61706, 2, link, batchnorm_layers=9) == pytest.approx(ring + 29 * 5e-6)
    assert model.communication_seconds(61706, 1, link, batchnorm_layers=9) == 0.0


def test_gradients_beyond_one_bucket_pay_latency_per_bucket():
    # 10 MiB of gradients: buckets of 4, 4 and 2 MiB; the bytes add up to one transfer of 10 MiB,
    # the latencies to 3 rings' worth.
    link = model.Link("t", 8.0, 1e-4)
    parameters = 10 * 2**20 // 4
    expected = 3 * 2 * 3 * 1e-4 + 2 * 3 / 4 * 10 * 2**20 / 1e9 + 2 * 2 * 1e-4
    assert model.communication_seconds(parameters, 4, link) == pytest.approx(expected)


def test_small_collectives_count():
    assert [model.small_collectives(n) for n in (0, 1, 9)] == [2, 5, 29]
    with pytest.raises(ValueError, match="batchnorm_layers"):
        model.small_collectives(-1)


# --------------------------------------------------------------------------- speed-up and efficiency

def test_strong_and_weak_scaling_hand_computed():
    # 250,000 parameters = 1e6 bytes; on 4 machines at 1e9 bytes/s without latency the gradients take
    # 2 * 3 / 4 * 1e-3 = 1.5e-3 s; the 2 short Allreduces cost nothing (alpha = 0).
    strong = model.predict(0.1, 250_000, 4, GIGABYTE_LINK, "strong")
    assert strong["communication_seconds"] == pytest.approx(1.5e-3)
    assert strong["step_seconds"] == pytest.approx(0.025 + 1.5e-3)
    assert strong["speedup"] == pytest.approx(0.1 / 0.0265)
    assert strong["efficiency"] == pytest.approx(0.1 / 0.0265 / 4)
    weak = model.predict(0.1, 250_000, 4, GIGABYTE_LINK, "weak")
    assert weak["step_seconds"] == pytest.approx(0.1015)
    assert weak["speedup"] == pytest.approx(4 * 0.1 / 0.1015)
    assert weak["efficiency"] == pytest.approx(0.1 / 0.1015)


def test_largest_paying_hand_computed():
    # Strong: efficiency = T / (T + 2 (N - 1) * 1e-3) >= 1/2 while N - 1 <= T / 2e-3: T = 0.1 gives N = 51.
    assert model.largest_paying(0.1, 250_000, GIGABYTE_LINK, "strong") == 51
    # Weak: efficiency = T / (T + 2 (N - 1) / N * 1e-3); with T = 1.5e-3, (N - 1) / N <= 3/4: N = 4.
    assert model.largest_paying(1.5e-3, 250_000, GIGABYTE_LINK, "weak") == 4
    # Communication longer than the whole step already at N = 2: no N pays.
    assert model.largest_paying(1e-4, 250_000, GIGABYTE_LINK, "strong") == 1


@pytest.mark.parametrize("link", model.LINKS, ids=lambda link: link.name)
@pytest.mark.parametrize("machines", [2, 8, 64])
def test_compute_needed_is_the_fifty_percent_point(link, machines):
    # A property: with exactly that compute per process, strong scaling runs at 50% efficiency.
    needed = model.compute_needed(1_000_000, machines, link)
    assert model.predict(needed * machines, 1_000_000, machines, link, "strong")["efficiency"] == \
        pytest.approx(0.5)


def test_efficiency_falls_with_machines_and_rises_with_bandwidth():
    for scaling in model.SCALINGS:
        slow, fast = model.LINKS[0], model.LINKS[2]
        by_n = [model.predict(0.05, 468_010, n, slow, scaling, 4)["efficiency"] for n in model.MACHINE_COUNTS]
        assert by_n == sorted(by_n, reverse=True)
        assert model.predict(0.05, 468_010, 8, fast, scaling, 4)["efficiency"] > \
            model.predict(0.05, 468_010, 8, slow, scaling, 4)["efficiency"]


def test_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scaling"):
        model.predict(0.1, 1000, 2, GIGABYTE_LINK, "diagonal")
    with pytest.raises(ValueError, match="compute_seconds"):
        model.predict(0.0, 1000, 2, GIGABYTE_LINK, "strong")
    with pytest.raises(ValueError, match="machines"):
        model.ring_allreduce_seconds(10, 0, GIGABYTE_LINK)
    with pytest.raises(ValueError, match="nbytes"):
        model.ring_allreduce_seconds(-1, 2, GIGABYTE_LINK)


def test_prediction_table_has_a_row_per_scaling_link_and_model():
    models = {"a": {"compute_seconds": 0.1, "parameters": 250_000, "batchnorm_layers": 0},
              "b": {"compute_seconds": 0.01, "parameters": 1000, "batchnorm_layers": 2}}
    rows = model.prediction_rows(models)
    assert len(rows) == 2 * len(model.LINKS) * 2
    assert [len(row["cells"]) for row in rows] == [len(model.MACHINE_COUNTS)] * len(rows)
    text = model.format_predictions(rows)
    assert len(text.splitlines()) == 2 + len(rows)
    assert "N=64" in text and "largest N >= 50%" in text
    assert len(model.format_compute_needed().splitlines()) == 2 + 5


# --------------------------------------------------------------------------- summary of the turns

def _record(model_name, batch, steps, wall, collective=(0.0,), transfer=0.0, other=0.0):
    return {"model": model_name, "global_batch": batch, "steps": steps, "wall_seconds": wall,
            "parameters": 100, "trainable_parameters": 90, "collective_seconds": list(collective),
            "collective_calls": [3 * steps] * len(collective), "collective_bytes": [400 * steps] * len(collective),
            "transfer_seconds_per_step": transfer, "other_cores": other}


def test_summary_uses_total_time_and_splits_the_collectives():
    # Two turns of 10 steps of 64 images: 1x2 takes 1 s then 3 s, 2x1 takes 1 s then 1 s.
    turns = [{"1x2": {"records": [_record("m", 64, 10, 1.0)]},
              "2x1": {"records": [_record("m", 64, 10, 1.0, (0.2, 0.5), transfer=0.01)]}},
             {"1x2": {"records": [_record("m", 64, 10, 3.0, other=0.5)]},
              "2x1": {"records": [_record("m", 64, 10, 1.0, (0.4, 0.1), transfer=0.01)]}}]
    row = summary.summarize_pair(turns, "m", 64)
    assert row["images_per_s"] == pytest.approx({"1x2": 1280 / 4.0, "2x1": 1280 / 2.0})
    assert row["speedup"] == pytest.approx(2.0)                     # total time, not the median of 1 and 3
    assert row["turn_speedups"] == pytest.approx([1.0, 3.0])
    assert row["ms_per_step"] == pytest.approx({"1x2": 200.0, "2x1": 100.0})
    # Rank 0 spent 0.6 s in collectives, rank 1 0.6 s too; transfer 2 turns x 10 steps x 0.01 s = 0.2 s.
    assert row["collective_share_rank0"] == pytest.approx(0.3)
    assert row["collective_share_max"] == pytest.approx(0.3)
    assert row["transfer_share"] == pytest.approx(0.1)
    assert row["waiting_share_max"] == pytest.approx(0.2)
    assert row["collective_calls_per_step"] == 3
    assert row["gradient_bytes"] == 360
    assert row["contended_turns"] == [1]
    table = summary.format_table([row])
    assert "2.00x" in table and "30%" in table and "1/2" in table


def test_summary_refuses_missing_records():
    turns = [{"1x2": {"records": []}, "2x1": {"records": [_record("m", 64, 10, 1.0)]}}]
    with pytest.raises(ValueError, match="1x2 has 0 record"):
        summary.summarize_pair(turns, "m", 64)


# --------------------------------------------------------------------------- arguments and launches

def test_arguments_defaults_and_errors(capsys):
    args = script.parse_args([])
    assert (args.models, args.global_batch, args.steps, args.turns) == \
        (["lenet5", "small_vgg", "small_resnet"], [64, 256], 10, 4)
    args = script.parse_args(["--models", "unet, signal1d", "--global-batch", "8,32", "--steps", "3"])
    assert args.models == ["unet", "signal1d"] and args.global_batch == [8, 32] and args.steps == 3
    assert script.worker_arguments(args) == ["--models", "unet,signal1d", "--global-batch", "8,32", "--steps", "3",
                                             "--seed", "0"]
    for bad, word in ((["--models", "resnet50"], "zoo models"), (["--global-batch", "64,1"], "integers >= 2"),
                      (["--steps", "0"], "positive integer"), (["--worker"], "--out")):
        with pytest.raises(SystemExit):
            script.parse_args(bad)
        assert word in capsys.readouterr().err


def test_launch_command_and_environment():
    command = launch.launch_command("/x/mpirun", 2, ["--steps", "1"], "HYDRA build details:")
    assert command[:3] == ["/x/mpirun", "-n", "2"]
    assert command[3:6] == [sys.executable, str(BENCHMARKS / "scaling.py"), "--worker"]
    assert "--oversubscribe" in launch.launch_command("mpirun", 2, [], "mpirun (Open MPI) 5.0.3")
    env = launch.launch_environment(1, {"PATH": "/bin", "OMP_NUM_THREADS": "8"})
    assert env["PATH"] == "/bin"
    assert all(env[name] == "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                             "NUMBA_NUM_THREADS"))
    assert launch.describe_mpi("HYDRA build details:\n    Version:   5.0.2\n") == "MPICH (Hydra 5.0.2)"
    assert launch.describe_mpi("mpirun (Open MPI) 5.0.3\n") == "mpirun (Open MPI) 5.0.3"


def test_turns_alternate_which_configuration_goes_first(monkeypatch):
    monkeypatch.setattr(launch, "mpirun_version", lambda mpirun: "")
    calls = []

    def fake(mpirun, processes, threads, arguments, version):
        calls.append((processes, threads))
        return {"launch_seconds": 0.0, "records": []}

    run = launch.run_turns(3, [], "mpirun", log=lambda text: None, launcher=fake)
    assert run["first"] == ["1x2", "2x1", "1x2"]
    assert calls == [(1, 2), (2, 1), (2, 1), (1, 2), (1, 2), (2, 1)]


MPIRUN = launch.find_mpirun()


@pytest.mark.skipif(MPIRUN is None, reason="no mpirun next to the Python executable or on PATH")
def test_one_launch_of_each_configuration_gives_sane_records():
    pytest.importorskip("mpi4py")
    steps = 2
    run = launch.run_turns(1, ["--models", "lenet5", "--global-batch", "8", "--steps", str(steps)], MPIRUN,
                           log=lambda text: None)
    single, double = (run["turns"][0][name] for name in ("1x2", "2x1"))
    assert single["processes"] == 1 and double["processes"] == 2
    assert "1 (threadpoolctl)" in double["threads"] or "threadpoolctl not installed" in double["threads"]
    one, two = single["records"][0], double["records"][0]
    assert one["collective_calls"] == [0] and one["collective_seconds"] == [0.0]
    # LeNet-5's docstring: 61,706 parameters, all trainable, no BatchNormalization. A step reduces the
    # float32 gradients (one bucket) and the model's small collectives: 1 + 2 Allreduces on each rank.
    assert two["trainable_parameters"] == 61706 and two["batchnorm_layers"] == 0
    assert two["allreduces_per_step"][0] == [61706, "float32"]
    assert two["collective_calls"] == [steps * (1 + model.small_collectives(0))] * 2
    assert all(count >= steps * 61706 * 4 for count in two["collective_bytes"])
    for record in (one, two):
        assert len(record["step_seconds"]) == steps and all(math.isfinite(v) for v in record["losses"])
        assert 0 < sum(record["step_seconds"]) <= record["wall_seconds"]
    assert all(0 <= seconds <= wall for seconds, wall in zip(two["collective_seconds"], two["rank_wall_seconds"]))
    assert 0 < two["transfer_seconds_per_step"] < two["wall_seconds"]
    # Same seed, same data, same initial weights (rank 0's, broadcast): the first loss agrees.
    assert two["losses"][0] == pytest.approx(one["losses"][0], rel=1e-4)
    row = summary.summarize_pair(run["turns"], "lenet5", 8)
    assert row["speedup"] > 0 and 0 <= row["transfer_share"] <= 1
