"""Data-parallel training under ``mpirun -n 2`` and ``-n 3`` equals one process with the same global batch.

Two launches run every case of mpi_cases.py (one launch per process count,
since each costs about a second of start-up); the single-process oracle is
the same case run here, in the pytest process, without a distribution. The
weights after training agree within 1e-5 of their scale in float32 and 1e-12
in float64 (the only differences are the order of the sums over the shards);
every process ends with the same weights, bit for bit.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "mpi_cases.py"

CASES_2 = ["lenet32", "bn64", "on_batch", "predict", "nan", "interrupt", "files", "checkpoint", "empty11",
           "ignore_class", "stop_one_rank", "synchronise"]
CASES_3 = ["lenet32", "lenet64", "bn32", "bn64", "on_batch", "predict", "nan", "interrupt", "resume", "random",
           "empty12", "ignore_class", "stop_one_rank", "synchronise", "zoo_lenet5"]
TOLERANCE = {"zoo_lenet5": 1e-12, "lenet32": 1e-5, "bn32": 1e-5, "lenet64": 1e-12, "bn64": 1e-12, "on_batch": 1e-12,
             "nan": 1e-5, "interrupt": 1e-5, "resume": 1e-5, "checkpoint": 1e-5, "empty11": 1e-12,
             "empty12": 1e-12, "ignore_class": 1e-12, "stop_one_rank": 1e-5, "synchronise": 1e-5}


def _find_mpirun() -> str | None:
    """mpirun next to this Python first (the mpich wheel installs it there), then on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    if beside.exists():
        return str(beside)
    return shutil.which("mpirun") or shutil.which("mpiexec")


MPIRUN = _find_mpirun()
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="no mpirun next to the Python executable or on PATH "
                                                       "(pip install 'clearconv[mpi]' installs mpich's)")


def _launch(processes: int, out_dir: Path, cases: list[str], timeout: float = 120, program=None):
    """Run mpi_cases.py's ``cases`` (or the ``program`` argv given) under ``mpirun -n processes``."""
    command = [MPIRUN, "-n", str(processes)]
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:  # more processes than cores, as root in containers
        command += ["--oversubscribe", "--allow-run-as-root"]
    # One BLAS thread per process: 3 processes on 2 cores would otherwise fight over them.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    # A clean working directory: a file there named like a standard module would shadow it in every process.
    program = program or [sys.executable, str(SCRIPT), str(out_dir), *cases]
    result = subprocess.run(command + program, cwd=out_dir, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return result, time.perf_counter() - started


def _load_cases():
    spec = importlib.util.spec_from_file_location("mpi_cases", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{processes: folder with <case>_rank<r>.npz}`` after one launch per process count."""
    folders = {}
    for processes, cases in ((2, CASES_2), (3, CASES_3)):
        folder = tmp_path_factory.mktemp(f"mpi{processes}")
        if "resume" in cases:  # the checkpoint that 2 processes wrote resumes on 3
            shutil.copy(folders[2] / "resume.keras", folder / "resume.keras")
        result, _ = _launch(processes, folder, cases)
        assert result.returncode == 0, f"mpirun -n {processes} failed:\n{result.stdout}\n{result.stderr}"
        folders[processes] = folder
    return folders


_ORACLES: dict = {}


def _oracle(case: str, folder: str) -> dict:
    """The case in this process, without a distribution (computed once per case; the checkpoint case writes
    into ``folder``, the resume case reads from it)."""
    if case not in _ORACLES:
        _ORACLES[case] = _load_cases().run(case, folder)
    return _ORACLES[case]


def _ranks(folder: Path, case: str, processes: int) -> list:
    return [dict(np.load(folder / f"{case}_rank{rank}.npz")) for rank in range(processes)]


def _assert_close(got: dict, expected: dict, tolerance: float, where: str) -> None:
    """Every weight and logged series within ``tolerance`` of the oracle, relative to the array's scale (an
    entry near 0, e.g. a bias that barely moves, is held to the scale of its array, not to itself)."""
    assert sorted(got) == sorted(expected), where
    for key, value in expected.items():
        value = np.asarray(value, dtype=np.float64)
        scale = float(np.max(np.abs(value))) if value.size else 0.0
        np.testing.assert_allclose(np.asarray(got[key], dtype=np.float64), value, rtol=tolerance,
                                   atol=tolerance * scale, err_msg=f"{where}: {key}")


@pytest.mark.parametrize("processes,case", [(p, c) for p, cases in ((2, CASES_2), (3, CASES_3)) for c in cases
                                            if c not in ("predict", "files", "random")])
def test_training_equals_one_process(runs, processes, case, tmp_path):
    folder = runs[processes]
    # resume: the checkpoint 2 processes wrote (copied beside the 3-process run) resumes here on one;
    # checkpoint: the oracle's own file goes to a folder of its own.
    oracle_folder = runs[3] if case == "resume" else tmp_path
    expected = _oracle(case, str(oracle_folder))
    ranks = _ranks(folder, case, processes)
    for rank, got in enumerate(ranks):
        _assert_close(got, expected, TOLERANCE[case], f"{case} on rank {rank} of {processes}")
        for key in got:  # every process holds the same weights and logs, bit for bit
            np.testing.assert_array_equal(got[key], ranks[0][key], err_msg=f"{case}: {key} on rank {rank}")


@pytest.mark.parametrize("processes", [2, 3])
def test_stops_agree(runs, processes):
    """A NaN in one shard refuses the step on every process; a Ctrl-C on the last process stops all after
    the same step (the second: the signal comes before it runs)."""
    for rank, got in enumerate(_ranks(runs[processes], "nan", processes)):
        assert int(got["steps"]) == 1 and got["h_loss"].shape == (1,), f"rank {rank}"
    for rank, got in enumerate(_ranks(runs[processes], "interrupt", processes)):
        assert int(got["steps"]) == 2, f"rank {rank}"


@pytest.mark.parametrize("processes", [2, 3])
def test_a_callback_on_one_process_stops_every_process(runs, processes):
    """stop_training set after batch 1 on the last process only: every process stops after that batch (2
    steps, one epoch); stop_evaluating / stop_predicting after batch 0: the first batch of 4 samples only."""
    for rank, got in enumerate(_ranks(runs[processes], "stop_one_rank", processes)):
        assert int(got["steps"]) == 2 and got["h_loss"].shape == (1,), f"rank {rank}"
        assert got["predicted"].shape == (4, 3), f"rank {rank}"


@pytest.mark.parametrize("processes,case", [(2, "empty11"), (3, "empty12")])
def test_empty_shard_moving_statistics(runs, processes, case):
    """The process with an empty last shard updates BatchNormalization's moving statistics with the global
    batch's, as the others do: equal on every process, bit for bit, and to one process's."""
    ranks = _ranks(runs[processes], case, processes)
    # w1..w4 of _flat_bn: gamma, beta, moving_mean, moving_variance
    oracle = _oracle(case, str(runs[processes]))
    for rank, got in enumerate(ranks):
        for key in ("w3", "w4"):
            np.testing.assert_array_equal(got[key], ranks[0][key], err_msg=f"{case}: {key} on rank {rank}")
            np.testing.assert_allclose(got[key], oracle[key], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("processes", [2, 3])
def test_predict_gathers_in_order(runs, processes):
    expected = _oracle("predict", str(runs[2]))["gathered"]
    for rank, got in enumerate(_ranks(runs[processes], "predict", processes)):
        np.testing.assert_allclose(got["everywhere"], expected, rtol=1e-6, atol=1e-7)
        if rank == 0:
            assert not got["is_none"]
            np.testing.assert_allclose(got["gathered"], expected, rtol=1e-6, atol=1e-7)
        else:
            assert got["is_none"], "predict returns None off rank 0 unless every_rank=True"


def test_random_layers_draw_per_process_streams(runs):
    """Dropout (seeded or not) and a seeded augmentation layer draw different noise on each process, while
    the global generator, which orders the samples, and the weights stay the same everywhere."""
    ranks = _ranks(runs[3], "random", 3)
    for rank, got in enumerate(ranks[1:], start=1):
        for key in ("unseeded_draw", "seeded_draw", "flip_state"):
            assert not np.array_equal(got[key], ranks[0][key]), f"{key} on rank {rank} repeats rank 0's"
        np.testing.assert_array_equal(got["global_draw"], ranks[0]["global_draw"])
        for key in (key for key in got if key.startswith("w")):
            np.testing.assert_array_equal(got[key], ranks[0][key])


def test_files_written_once(runs):
    folder = runs[2]
    ranks = _ranks(folder, "files", 2)
    # Rank 0 called the writers: 2 epoch checkpoints + the final save; the best-only weights at least once.
    assert int(ranks[0]["save_model"]) == 3 and int(ranks[0]["save_weights"]) >= 1
    assert int(ranks[1]["save_model"]) == 0 and int(ranks[1]["save_weights"]) == 0
    lines = (folder / "log.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch,"), lines  # appended by one writer: header + 2 epochs
    assert sorted(os.listdir(folder / "ckpt")) == ["epoch1.keras", "epoch2.keras"]
    assert (folder / "final.keras").exists() and (folder / "best.weights.h5").exists()


def test_a_rank_that_raises_ends_the_job(tmp_path):
    result, seconds = _launch(2, tmp_path, ["raise"], timeout=60)
    assert result.returncode != 0
    assert "boom on purpose" in result.stderr and "rank 1" in result.stderr, result.stderr[-2000:]
    assert seconds < 60


def test_clearconv_train_under_mpirun_prints_once_and_saves_once(tmp_path):
    """`mpirun -n 2 clearconv train` needs no flag: it trains data-parallel, prints each line once, saves one
    file, and the test accuracy it prints is the saved model's on the test split."""
    from clearconv.cli.files import load_dataset
    from clearconv.models import load_model
    program = [sys.executable, "-c", "import sys; from clearconv.cli import main; sys.exit(main(sys.argv[1:]))",
               "train", "--data", "signals", "--epochs", "2", "--quiet", "--output", "signals.clearconv"]
    result, _ = _launch(2, tmp_path, [], timeout=120, program=program)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert sum(line.startswith("training signal1d") for line in lines) == 1, result.stdout
    assert "over 2 processes" in result.stdout
    printed = [line for line in lines if line.startswith("test accuracy")]
    assert len(printed) == 1 and sum(line.startswith("saved to") for line in lines) == 1, result.stdout
    assert sorted(os.listdir(tmp_path)) == ["signals.clearconv"]
    model = load_model(tmp_path / "signals.clearconv")
    _, (x_test, y_test) = load_dataset("signals", 0)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test))
    assert printed[0].startswith(f"test accuracy {accuracy:.4f}"), (printed, accuracy)


def test_clearconv_train_with_a_bad_output_ends_every_process(tmp_path):
    """An --output the saver refuses (.h5) is found before training on every process alike (model.save checks
    the name off rank 0 too): the job ends at once, non-zero, with the command's one-line message, instead of
    rank 0 exiting while the others wait in fit's first collective."""
    program = [sys.executable, "-c", "import sys; from clearconv.cli import main; sys.exit(main(sys.argv[1:]))",
               "train", "--data", "signals", "--epochs", "1", "--quiet", "--output", "x.h5"]
    result, seconds = _launch(2, tmp_path, [], timeout=30, program=program)
    report = f"exit status {result.returncode} after {seconds:.1f} s; stderr:\n{result.stderr[-3000:]}"
    assert result.returncode != 0 and seconds < 30, report
    assert "clearconv train: error: --output x.h5: model.save writes whole models" in result.stderr, report
    assert "Traceback" not in result.stderr, report
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())  # no probe file left behind
