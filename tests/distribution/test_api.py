"""clearconv.distribution with one process: the API, its argument errors, and the pieces of data parallelism
that need no MPI (sharding, launch detection, BatchNormalization's reduction hook). Runs without mpi4py."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import clearconv as keras
from clearconv import distribution
from clearconv.distribution.data_parallel import _state_slots
from clearconv.kernels import normalization as norm_ops
from clearconv.models.training import _check_distributable_losses

LAUNCH_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK",
                    "MV2_COMM_WORLD_SIZE", "PMIX_RANK")


@pytest.fixture(autouse=True)
def no_distribution():
    yield
    distribution.set_distribution(None)


def test_without_a_distribution():
    assert distribution.distribution() is None
    assert (distribution.rank(), distribution.world_size(), distribution.is_main()) == (0, 1, True)
    assert distribution.list_devices() == ["cpu:0"]


def test_data_parallel_outside_mpi_is_one_process():
    parallel = distribution.DataParallel()
    distribution.set_distribution(parallel)
    assert distribution.distribution() is parallel
    assert (parallel.rank, parallel.world_size, parallel.active, parallel.communicator) == (0, 1, False, None)
    assert (distribution.rank(), distribution.world_size(), distribution.is_main()) == (0, 1, True)
    assert parallel.devices == ["cpu:0"] and distribution.DataParallel(devices=["cpu:0"]).devices == ["cpu:0"]
    loss = keras.Tensor(np.array(2.5))
    assert distribution.scale_loss(loss) is loss


def test_import_and_one_process_never_import_mpi4py():
    code = ("import sys, clearconv\n"
            "from clearconv import distribution as d\n"
            "d.set_distribution(d.DataParallel())\n"
            "print('mpi4py' in sys.modules, d.world_size())\n")
    env = {key: value for key, value in os.environ.items() if key not in LAUNCH_VARIABLES}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "1"]


@pytest.mark.parametrize("arguments,named", [
    ({"device_mesh": "mesh"}, "device_mesh"),
    ({"auto_shard_dataset": False}, "auto_shard_dataset"),
    ({"devices": ["gpu:0"]}, "devices"),
    ({"devices": ["cpu:0", "cpu:1"]}, "devices"),  # one process: one device
    ({"devices": "cpu"}, "devices"),
])
def test_arguments_we_cannot_honour(arguments, named):
    with pytest.raises(ValueError, match=named):
        distribution.DataParallel(**arguments)


def test_set_distribution_refuses_other_values():
    with pytest.raises(ValueError, match="DataParallel or None"):
        distribution.set_distribution("data_parallel")
    with pytest.raises(ValueError, match="device_type"):
        distribution.list_devices("gpu")


@pytest.mark.parametrize("environ,launched,rank,size", [
    ({}, False, None, None),
    ({"PMI_RANK": "2", "PMI_SIZE": "4"}, True, 2, 4),                          # MPICH / Intel MPI (Hydra)
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "3"}, True, 1, 3),  # Open MPI
    ({"MV2_COMM_WORLD_RANK": "0", "MV2_COMM_WORLD_SIZE": "2"}, True, 0, 2),    # MVAPICH2
    ({"PMIX_RANK": "5"}, True, 5, None),                                       # PMIx: the size comes from MPI
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, False, None, None),           # srun without MPI
    ({"PMI_RANK": "not a number"}, False, None, None),
])
def test_launch_detection(environ, launched, rank, size):
    assert distribution.launched_by_mpi(environ) is launched
    assert distribution.launch_rank(environ) == rank
    assert distribution.launch_size(environ) == size


def test_shards_are_contiguous_disjoint_and_cover_the_batch():
    assert [distribution.shard_bounds(10, rank, 3) for rank in range(3)] == [(0, 4), (4, 7), (7, 10)]
    for size in range(1, 6):
        for count in range(0, 31):
            bounds = [distribution.shard_bounds(count, rank, size) for rank in range(size)]
            covered = [index for start, stop in bounds for index in range(start, stop)]
            assert covered == list(range(count)), (count, size)  # in rank order, each sample once
            lengths = [stop - start for start, stop in bounds]
            assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_fit_under_one_process_data_parallel_is_unchanged():
    def train(parallel):
        distribution.set_distribution(parallel)
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(13, 4)).astype("float32"), rng.integers(0, 2, size=13)
        history = model.fit(x, y, batch_size=5, epochs=2, verbose=0)
        return model.get_weights(), history.history, model.predict(x, verbose=0, every_rank=True)

    without, within = train(None), train(distribution.DataParallel())
    for left, right in zip(without[0], within[0]):
        np.testing.assert_array_equal(left, right)
    assert without[1] == within[1]
    np.testing.assert_array_equal(without[2], within[2])


def test_predict_every_rank_must_be_a_flag():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(TypeError, match="every_rank"):
        model.predict(np.zeros((3, 2), "float32"), verbose=0, every_rank="yes")


def test_metric_states_that_do_not_add_up_are_refused():
    class Maximum(keras.metrics.Metric):
        def update_state(self, values):
            self.value = max(getattr(self, "value", -np.inf), float(np.max(values)))

        def result(self):
            return self.value

        def reset_state(self):
            self.value = -np.inf

    with pytest.raises(ValueError, match=r"'maximum' \(Maximum\) cannot be combined over processes"):
        _state_slots(Maximum())
    precision = keras.metrics.Precision()
    assert len(_state_slots(precision)) == 3 and len(_state_slots(keras.metrics.Mean())) == 2
    assert len(_state_slots(keras.metrics.AUC(num_thresholds=5))) == 4


def test_losses_that_do_not_average_over_samples_are_refused():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", keras.losses.MeanSquaredError(reduction="sum"))
    with pytest.raises(ValueError, match="reduction='sum'.*sum_over_batch_size"):
        _check_distributable_losses("model: fit", model._compile_loss)
    model.compile("sgd", "mse")
    _check_distributable_losses("model: fit", model._compile_loss)


@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-13), ("float32", 2e-6)])
def test_batch_norm_reduction_hook_gives_the_global_batch(dtype, tolerance):
    """P processes holding the same shard ``x`` form the global batch ``concat([x] * P)``: a reducer that
    multiplies every sum by P is their Allreduce. The shard's output and input gradient must then be the
    first rows of the one-process kernel's on the global batch; gamma's and beta's gradients stay the
    shard's own sums (1/P of the global ones, which the gradient Allreduce adds up)."""
    processes = 3
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(4, 3, 3, 5)) * 2 + 7).astype(dtype)  # a large mean: the variance's two passes matter
    grad = rng.normal(size=x.shape).astype(dtype)
    gamma, beta = rng.normal(size=5).astype(dtype), rng.normal(size=5).astype(dtype)
    whole = np.concatenate([x] * processes)
    y_ref, mean_ref, var_ref, ctx_ref = norm_ops.batch_norm_train(whole, gamma, beta, -1, 1e-3)
    dx_ref, dgamma_ref, dbeta_ref = norm_ops.batch_norm_train_backward(np.concatenate([grad] * processes), ctx_ref)

    def reduce_sums(arrays):
        return [array * processes for array in arrays]

    with norm_ops.statistics_reduction(reduce_sums):
        y, mean, var, ctx = norm_ops.batch_norm_train(x, gamma, beta, -1, 1e-3)
        dx, dgamma, dbeta = norm_ops.batch_norm_train_backward(grad, ctx)
    assert ctx.count == whole.size // 5 and y.dtype == np.dtype(dtype)
    for got, expected in ((y, y_ref[:4]), (mean, mean_ref), (var, var_ref), (dx, dx_ref[:4]),
                          (dgamma * processes, dgamma_ref), (dbeta * processes, dbeta_ref)):
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.max(np.abs(expected)))
    with pytest.raises(RuntimeError, match="statistics_reduction"):
        norm_ops.batch_norm_train_backward(grad, ctx)  # the backward of a reduced forward, outside the block


def test_ignore_class_averages_over_the_global_batch():
    """Two shards of one batch with their ignored labels spread unevenly: each differentiates ``loss_r * n_r /
    n`` with the valid count summed over both (the reducer adds the other shard's counts, as the Allreduce
    would), and the shares add up to the one-process loss of the whole batch; without the reduction they
    do not."""
    from clearconv.losses.loss import count_reduction
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(7, 4))
    y_pred = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y_true = np.array([0, 0, 0, 1, 2, 3, 0])
    loss = keras.losses.SparseCategoricalCrossentropy(ignore_class=0)
    valid = y_true != 0  # by hand: the mean of -log p[label] over the valid labels
    expected = -np.mean(np.log(y_pred[valid, y_true[valid]]))
    np.testing.assert_allclose(float(loss(y_true, y_pred).data), expected, rtol=1e-12)
    shards = [slice(0, 4), slice(4, 7)]
    counts = [np.array([float(y_true[s].size), float(np.sum(y_true[s] != 0))]) for s in shards]
    total = 0.0
    for index, part in enumerate(shards):
        def reduce_sums(arrays, other=counts[1 - index]):
            return [arrays[0] + other]
        with count_reduction(reduce_sums):
            value = float(loss(y_true[part], y_pred[part]).data)
        total += value * y_true[part].size / y_true.size
    np.testing.assert_allclose(total, expected, rtol=1e-12)
    local = sum(float(loss(y_true[s], y_pred[s]).data) * y_true[s].size / y_true.size for s in shards)
    assert abs(local - expected) > 1e-3


def test_saving_off_rank_0_checks_the_destination_and_writes_nothing(tmp_path):
    """A process other than rank 0 does not write, but refuses what rank 0's write would refuse (a file name
    the saver does not write, a missing folder), so a bad destination raises on every process alike."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    parallel = distribution.DataParallel()
    parallel.rank = 1  # seen from a process that is not rank 0 (nothing here communicates)
    distribution.set_distribution(parallel)
    with pytest.raises(ValueError, match=r"x\.h5: model\.save writes whole models"):
        model.save(tmp_path / "x.h5")
    with pytest.raises(ValueError, match=r"x\.keras: save_weights writes \.weights\.h5"):
        model.save_weights(tmp_path / "x.keras")
    for call in (model.save, model.save_weights, lambda path: model.export(path, format="onnx")):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            call(tmp_path / "missing" / "m.clearconv")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    assert model.export(tmp_path / "m.onnx", format="onnx") == str(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
