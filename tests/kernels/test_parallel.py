"""Batches in parts on threads (kernels/parallel.py) and the convolution run that way (kernels/conv/convolution.py).

Oracles: the same convolution on the whole batch (float64: equal to 1e-12 of
each value's scale; the bias gradient, the one per-channel sum over the whole
batch, bit for bit) and the float64 reference loops (float32 runs within the
algorithm's float32 bound). The splitting is forced where a test needs it:
the part threshold at one multiply-add, and the BLAS said to run one thread
(so that no threadpoolctl is needed: the bare install runs these tests too).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time

import numpy as np
import pytest

from clearconv.kernels import blas, parallel
from clearconv.kernels import conv as conv_ops
from clearconv.kernels.conv import convolution
from clearconv.kernels.conv.choice import float32_bound
from clearconv.kernels.conv.reference import conv_reference


@pytest.fixture
def forced(monkeypatch):
    """Two parts for any work: threads 2, a one-thread BLAS (nothing to set), no part threshold."""
    monkeypatch.setattr(blas, "_threads", 1)
    monkeypatch.setattr(parallel, "SPLIT_MIN_PART_MACS", 1)
    parallel.set_threads(2)
    yield
    parallel.set_threads(0)


def small_model():
    import clearconv as keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Conv2D(16, 3), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    return model, rng.random((32, 8, 8, 3), dtype=np.float32), rng.integers(0, 4, 32)


@pytest.fixture
def part_counts(monkeypatch):
    """The number of parts of every parallel.run call."""
    counts, run = [], parallel.run

    def counted(function, parts):
        counts.append(len(parts))
        return run(function, parts)

    monkeypatch.setattr(parallel, "run", counted)
    return counts


def test_split_outside_a_scope_and_inside(forced):
    assert parallel.split(7, 10) == [slice(0, 7)]              # outside scope(): never split
    with parallel.scope():
        assert parallel.split(7, 10) == [slice(0, 4), slice(4, 7)]
        assert parallel.split(1, 10) == [slice(0, 1)]          # one sample cannot split
        assert parallel.split(0, 10) == [slice(0, 0)]
        parallel.set_threads(3)
        assert parallel.split(7, 10) == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert parallel.split(7, 10) == [slice(0, 7)]


def test_split_needs_enough_work_per_part(forced, monkeypatch):
    monkeypatch.setattr(parallel, "SPLIT_MIN_PART_MACS", 100)
    with parallel.scope():
        assert parallel.split(8, 24) == [slice(0, 8)]          # 192 multiply-adds: one part of 100 or more
        assert parallel.split(8, 25) == [slice(0, 4), slice(4, 8)]


def test_one_thread_splits_nothing(forced):
    parallel.set_threads(1)
    with parallel.scope():
        assert parallel.split(64, 10**9) == [slice(0, 64)]


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_set_threads_refuses_what_is_not_a_count(value):
    with pytest.raises(ValueError, match="threads must be an int >= 0"):
        parallel.set_threads(value)


def test_run_waits_for_every_part_and_raises_the_first_error(forced):
    finished = []

    def work(part):
        if part in (1, 3):
            threading.Event().wait(0.05 if part == 1 else 0.0)   # part 3 fails first in time
            raise KeyError(f"part {part}")
        threading.Event().wait(0.05)
        finished.append(part)
        return part

    with pytest.raises(KeyError, match="part 1"):              # the first in the order of the parts
        parallel.run(work, [0, 1, 2, 3])
    assert sorted(finished) == [0, 2]                          # the error waited for the other parts
    assert parallel.run(lambda part: part * 10, [1, 2, 3]) == [10, 20, 30]


def test_the_compiled_kernels_release_the_gil():
    # A long kernel call on a second thread while this one loops: holding the GIL, the kernel would stop
    # the loop for its whole run (numba's cache does not key on nogil: a stale cache would hold it).
    pytest.importorskip("numba", reason="numba is not installed (the `fast` extra)")
    from clearconv.kernels import compiled, normalization_compiled
    if not compiled.enabled() or (os.cpu_count() or 1) < 2:
        pytest.skip("the compiled kernels are switched off, or one core")
    rows = np.ones((4_000_000, 8), dtype=np.float32)           # 128 MB: a call of tens of milliseconds
    normalization_compiled.channel_sum(rows[:10])               # compiled (or loaded) before timing
    go, seconds = threading.Event(), []

    def kernel():
        go.wait()                                               # this thread is looping by then
        begin = time.perf_counter()
        normalization_compiled.channel_sum(rows)
        seconds.append(time.perf_counter() - begin)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)                                 # the GIL hand-offs' gaps: 0.1 ms, not 5
    try:
        worker = threading.Thread(target=kernel)
        worker.start()
        go.set()
        last, longest = time.perf_counter(), 0.0
        while worker.is_alive():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert longest < 0.5 * seconds[0], (longest, seconds)


def test_fit_off_the_main_thread_does_not_split_or_touch_the_blas(forced, part_counts):
    model, x, y = small_model()
    errors = []

    def train():
        try:
            model.fit(x, y, batch_size=16, verbose=0)
        except Exception as error:                            # reported below, in the test's own thread
            errors.append(error)

    worker = threading.Thread(target=train)
    worker.start()
    worker.join()
    assert errors == [] and part_counts == []
    assert blas._single["depth"] == 0                         # never held


def child_answer(pid: int, read: int, write: int) -> bytes:
    """The two bytes a forked child wrote to the pipe (b"" if it wrote none), awaited at most 60 s: a hung
    child is killed and fails the test instead of hanging the run."""
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], 60)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        return os.read(read, 2) if ready else b""
    finally:
        os.close(read)
        os.waitpid(pid, 0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_inside_a_scope_starts_outside_it(forced):
    read, write = os.pipe()
    with parallel.scope():
        assert len(parallel.split(8, 10**6)) == 2              # held
        pid = os.fork()
        if pid == 0:
            try:
                whole = parallel.split(8, 10**6) == [slice(0, 8)] and blas._single["depth"] == 0
            except BaseException:
                os._exit(1)
    if pid == 0:                                              # the child left the block it was forked in
        try:
            with parallel.scope():
                inner = len(parallel.split(8, 10**6)) == 2     # a scope of its own still splits
            after = parallel.split(8, 10**6) == [slice(0, 8)] and blas._single["depth"] == 0
            os.write(write, b"ok" if whole and inner and after else b"no")
        finally:
            os._exit(0)
    assert child_answer(pid, read, write) == b"ok"


def test_a_part_does_not_split_again(forced):
    with parallel.scope():
        inner = parallel.run(lambda part: parallel.split(8, 10**6), [0, 1])
    assert inner == [[slice(0, 8)], [slice(0, 8)]]


# (rank, input spatial size, kernel, stride, dilation, groups, channels, filters, algorithm, activation)
CONV_CASES = [(2, 9, 3, 1, 1, 1, 16, 16, "winograd2", "relu"), (2, 10, 3, 1, 1, 1, 16, 24, "winograd4", None),
              (2, 9, 3, 2, 1, 1, 5, 8, "im2col", "relu"), (2, 9, 3, 1, 2, 2, 6, 4, "im2col", None),
              (2, 8, 5, 1, 1, 1, 1, 6, "im2col", None), (2, 12, 5, 1, 1, 1, 3, 4, "fft", "relu"),
              (1, 20, 5, 1, 2, 1, 6, 8, "im2col", "relu"), (1, 21, 3, 2, 1, 1, 4, 4, "im2col", None),
              (3, 6, 3, 1, 1, 1, 4, 6, "im2col", None)]


def run_conv(case, dtype, need_input=True, batch=5):
    rank, size, k, stride, dilation, groups, channels, filters, algorithm, activation = case
    rng = np.random.default_rng(sum(case[:8]))
    x = rng.standard_normal((batch, *(size,) * rank, channels)).astype(dtype)
    kernel = rng.standard_normal((*(k,) * rank, channels // groups, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    args = (x, kernel, bias, (stride,) * rank, ((1, 1),) * rank, (dilation,) * rank, groups)
    y, ctx = conv_ops.conv(*args, algorithm=algorithm, activation=activation, keep_for_backward=True)
    grad = rng.standard_normal(y.shape).astype(dtype)
    return args, y, ctx, conv_ops.conv_backward(grad, ctx, need_input=need_input)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "{}d-n{}-k{}-s{}-d{}-g{}-c{}-f{}-{}-{}".format(*c))
def test_conv_in_parts_equals_the_whole_batch(case, forced):
    whole_args, whole_y, _, whole_grads = run_conv(case, np.float64)
    with parallel.scope():
        _, y, ctx, grads = run_conv(case, np.float64)
    assert isinstance(ctx, convolution.SplitContext) and len(ctx.parts) == 2
    np.testing.assert_allclose(y, whole_y, rtol=0, atol=1e-12 * np.abs(whole_y).max())
    for name, got, want in zip(("dx", "dkernel"), grads, whole_grads):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max(), err_msg=name)
    np.testing.assert_array_equal(grads[2], whole_grads[2])      # the one sum over the whole batch


def test_reference_loops_and_1d_column_views_are_never_split(forced):
    # the oracle stays whole; 1D stride-1 columns are views, whose parts measured slower than the whole
    for case in ((2, 9, 3, 1, 1, 1, 4, 4, "direct", None), (1, 20, 5, 1, 1, 1, 6, 8, "im2col", "relu")):
        with parallel.scope():
            _, _, ctx, _ = run_conv(case, np.float64)
        assert isinstance(ctx, convolution.ConvContext), case


@pytest.mark.parametrize("case", CONV_CASES[:3], ids=lambda c: c[-2])
def test_float32_conv_in_parts_within_the_algorithms_bound(case, forced):
    with parallel.scope():
        (x, kernel, bias, strides, pads, dilation, groups), y, _, (dx, dkernel, dbias) = run_conv(case, np.float32)
    assert y.dtype == dx.dtype == dkernel.dtype == dbias.dtype == np.float32
    want = conv_reference(x.astype(np.float64), kernel.astype(np.float64), bias.astype(np.float64), strides, pads,
                          dilation, groups)
    if case[-1] == "relu":
        want = np.maximum(want, 0)
    assert np.abs(y - want).max() <= float32_bound(case[-2], case[0]) * np.abs(want).max()


def test_conv_in_parts_without_the_input_gradient(forced):
    with parallel.scope():
        _, _, _, (dx, dkernel, _) = run_conv(CONV_CASES[0], np.float64, need_input=False)
    _, _, _, (_, want, _) = run_conv(CONV_CASES[0], np.float64, need_input=False)
    assert dx is None
    np.testing.assert_allclose(dkernel, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_a_forward_without_backward_splits_only_once_a_training_one_has(forced):
    assert parallel.split(8, 10**6, hold=False) == [slice(0, 8)]
    with parallel.scope():
        assert parallel.split(8, 10**6, hold=False) == [slice(0, 8)]   # predict alone: never split
        assert len(parallel.split(8, 10**6)) == 2                      # a training convolution holds the BLAS
        assert len(parallel.split(8, 10**6, hold=False)) == 2          # then fit's validation splits too
    with parallel.scope():
        assert parallel.split(8, 10**6, hold=False) == [slice(0, 8)]   # each scope starts unheld


def test_inference_in_parts_equals_the_whole_batch(forced):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 10, 10, 16)).astype(np.float64)
    kernel = rng.standard_normal((3, 3, 16, 16))
    args = (x, kernel, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    want, _ = conv_ops.conv(*args)
    with parallel.scope():
        parallel.split(6, 10**6)                                      # held, as after fit's first step
        y, ctx = conv_ops.conv(*args)
        assert parallel.split(6, 10**6, hold=False) != [slice(0, 6)]
    assert ctx is None
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_scope_holds_the_blas_on_one_thread_from_the_first_split_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    loaded = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
    controllers = [controller for controller in loaded if controller.filepath in blas.controlled_libraries()]
    if not controllers or os.cpu_count() < 2:
        pytest.skip("no BLAS that threadpoolctl can set, or one core")
    before = [controller.get_num_threads() for controller in controllers]
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        blas.set_threads(2)
        try:
            with parallel.scope():
                assert [c.get_num_threads() for c in controllers] == [2] * len(controllers)  # nothing split yet
                assert parallel.split(64, 10**9) == [slice(0, 32), slice(32, 64)]
                assert [c.get_num_threads() for c in controllers] == [1] * len(controllers)
                assert blas.threads() == 1
            assert [c.get_num_threads() for c in controllers] == [2] * len(controllers)
            assert blas.threads() == 2
        finally:
            blas.set_threads(blas._from_environment())
    assert [controller.get_num_threads() for controller in controllers] == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_parts(forced):
    parallel.run(lambda part: part, [0, 1])                   # the parent's pool exists before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                              # the child: its copy of the pool has no threads
        try:
            with parallel.scope():
                _, y, ctx, _ = run_conv(CONV_CASES[0], np.float64)
            os.write(write, b"ok" if isinstance(ctx, convolution.SplitContext) and np.isfinite(y).all() else b"no")
        finally:
            os._exit(0)
    assert child_answer(pid, read, write) == b"ok"


def test_fit_splits_train_on_batch_only_inside_a_scope(forced, part_counts):
    model, x, y = small_model()
    model.train_on_batch(x, y)
    model.predict(x, verbose=0)
    assert part_counts == []                                  # no scope: no parts
    model.fit(x, y, batch_size=16, verbose=0)
    assert part_counts and set(part_counts) == {2}
    part_counts.clear()
    with parallel.scope():
        model.train_on_batch(x, y)
    assert part_counts and set(part_counts) == {2}


def test_fit_in_parts_trains_as_the_whole_batch(forced):
    def trained():
        model, x, y = small_model()
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        return model.get_weights()

    parts = trained()
    parallel.set_threads(1)
    whole = trained()
    for got, want in zip(parts, whole):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
