"""The benchmarks' own logic: total-time ratios, turn order, the faster memory format, the header.

``benchmarks/`` is not on ``sys.path``: its package ``clearconv_bench`` is
loaded here from its file path. Timers, clocks, players and the probed
environment are fakes whose figures are chosen by hand, so every expected
value below is plain arithmetic on them.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from bench_package import PACKAGE_DIR, load as _load


turns = _load("turns")
timing = _load("timing")
header = _load("header")


# --------------------------------------------------------------------------- total time, not a median of turns

def test_headline_ratio_is_total_time_over_every_turn():
    # Two even turns and one slow clearconv turn: the median of the per-turn ratios (1.0) hides the slow
    # turn a user waits through; the total is (1 + 1 + 4) / (1 + 1 + 2) = 1.5.
    result = turns.headline([1.0, 1.0, 4.0], {"contiguous": [1.0, 1.0, 2.0]})
    assert result["ratio"] == pytest.approx(1.5)
    assert result["clearconv_total"] == pytest.approx(6.0)
    assert result["torch_totals"] == {"contiguous": pytest.approx(4.0)}
    # The per-turn figures stay, as a diagnostic.
    assert result["turn_ratios"] == pytest.approx([1.0, 1.0, 2.0])
    assert result["turn_ratio_median"] == pytest.approx(1.0)
    assert (result["turn_ratio_min"], result["turn_ratio_max"]) == pytest.approx((1.0, 2.0))
    assert result["turns"] == 3


def test_headline_rejects_turns_that_do_not_pair():
    with pytest.raises(ValueError, match="turns"):
        turns.headline([1.0, 2.0], {"contiguous": [1.0]})
    with pytest.raises(ValueError, match="turns"):
        turns.headline([], {"contiguous": []})


# --------------------------------------------------------------------------- the faster memory format

def test_ratio_is_held_against_the_faster_torch_format():
    ours = [2.0, 2.0]
    # channels_last is faster in total (1 + 1 = 2 against 8 + 8 = 16): the ratio is 4 / 2, not 4 / 16.
    result = turns.headline(ours, {"contiguous": [8.0, 8.0], "channels_last": [1.0, 1.0]})
    assert result["torch_format"] == "channels_last"
    assert result["ratio"] == pytest.approx(2.0)
    assert result["torch_totals"] == {"contiguous": pytest.approx(16.0), "channels_last": pytest.approx(2.0)}
    assert result["turn_ratios"] == pytest.approx([2.0, 2.0])


def test_faster_format_is_chosen_on_total_time_not_on_single_turns():
    # channels_last wins one turn by far but loses in total: 10 + 10 = 20 < 1 + 30 = 31.
    totals = {"contiguous": 20.0, "channels_last": 31.0}
    assert turns.faster(totals) == "contiguous"
    result = turns.headline([5.0, 5.0], {"contiguous": [10.0, 10.0], "channels_last": [1.0, 30.0]})
    assert result["torch_format"] == "contiguous"
    assert result["ratio"] == pytest.approx(10.0 / 20.0)


def test_faster_format_tie_keeps_the_first_listed():
    assert turns.faster({"contiguous": 3.0, "channels_last": 3.0}) == "contiguous"
    with pytest.raises(ValueError, match="format"):
        turns.faster({})


# --------------------------------------------------------------------------- alternation

def test_turn_order_alternates_who_goes_first():
    players = ["clearconv", "torch:contiguous", "torch:channels_last"]
    for turn in range(6):
        order = turns.turn_order(players, turn)
        assert sorted(order) == sorted(players)
        if turn % 2 == 0:
            assert order == players
        else:
            assert order == players[::-1]
            assert order[0].startswith("torch")


def test_take_turns_alternates_and_gives_every_player_the_same_chunks():
    calls = []
    cost = {"clearconv": 3.0, "torch": 2.0}

    def player(name):
        def train(chunk):
            calls.append((name, chunk))
            return cost[name] * len(chunk)
        return train

    sleeps = []
    result = turns.take_turns({"clearconv": player("clearconv"), "torch": player("torch")},
                              [[0, 1], [2, 3, 4], [5]], pause=0.25, sleep=sleeps.append)
    assert calls == [("clearconv", [0, 1]), ("torch", [0, 1]),
                     ("torch", [2, 3, 4]), ("clearconv", [2, 3, 4]),
                     ("clearconv", [5]), ("torch", [5])]
    assert result["first"] == ["clearconv", "torch", "clearconv"]
    assert result["seconds"] == {"clearconv": [6.0, 9.0, 3.0], "torch": [4.0, 6.0, 2.0]}
    assert sleeps == [0.25] * 6                                     # a pause before every player's turn


def test_epoch_headline_is_total_time_against_the_faster_torch_format():
    epoch = _load("epoch")
    seconds = {"clearconv": [1.0, 1.0, 1.0, 5.0],
               "torch:contiguous": [1.0, 1.0, 1.0, 1.0],
               "torch:channels_last": [2.0, 2.0, 2.0, 2.0]}
    figures = epoch.epoch_figures(seconds, turns_per_epoch=2)
    assert figures["torch_format"] == "contiguous"
    assert figures["ratio"] == pytest.approx(8.0 / 4.0)              # not the per-turn median, 1.0
    assert figures["turn_ratio_median"] == pytest.approx(1.0)
    assert figures["epoch_seconds"]["clearconv"] == pytest.approx([2.0, 6.0])
    assert figures["epoch_seconds"]["torch:channels_last"] == pytest.approx([4.0, 4.0])
    assert figures["epoch_ratios"] == pytest.approx([1.0, 3.0])


class _FakeClock:
    """A clock that only moves when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _QuietMeter:
    """No other process ever uses the CPU."""

    def __init__(self, clock):
        self.clock = clock

    def read(self):
        return 0.0, self.clock()

    @staticmethod
    def cores(before, after):
        return 0.0


def test_run_rounds_alternates_blocks_and_records_seconds_per_call():
    clock = _FakeClock()
    blocks = []
    cost = {"clearconv": 0.003, "torch:contiguous": 0.002}

    def workload(name):
        def call():
            if not blocks or blocks[-1] != (round_of[0], name):
                blocks.append((round_of[0], name))
            clock.now += cost[name]
        return call

    round_of = [0]
    units = {"case": {("forward", "clearconv"): workload("clearconv"),
                      ("forward", "torch:contiguous"): workload("torch:contiguous")}}
    found = timing.Measurements({"case": {key: [] for key in units["case"]}},
                                {"case": {key: [] for key in units["case"]}},
                                {("case", key): 4 for key in units["case"]})

    def log(message):
        round_of[0] += 1

    timing.run_rounds(units, 4, found, run_start=0.0, log=log, clock=clock, sleep=lambda seconds: None,
                      meter=_QuietMeter(clock))
    firsts = [name for index, (round_index, name) in enumerate(blocks)
              if index == 0 or blocks[index - 1][0] != round_index]
    assert firsts == ["clearconv", "torch:contiguous", "clearconv", "torch:contiguous"]
    assert found.seconds["case"]["forward", "clearconv"] == pytest.approx([0.003] * 4)
    assert found.seconds["case"]["forward", "torch:contiguous"] == pytest.approx([0.002] * 4)
    result = turns.headline(found.seconds["case"]["forward", "clearconv"],
                            {"contiguous": found.seconds["case"]["forward", "torch:contiguous"]})
    assert result["ratio"] == pytest.approx(1.5)


def test_time_block_is_seconds_per_timed_call_after_an_untimed_warm_up():
    clock = _FakeClock()
    costs = iter([5.0] + [0.01] * 10)                                # a slow first (warm-up) call

    def call():
        clock.now += next(costs)

    seconds, cores = timing.time_block(call, 10, clock=clock, meter=_QuietMeter(clock))
    assert seconds == pytest.approx(0.01)
    assert cores == 0.0


# --------------------------------------------------------------------------- the header

def test_blas_threads_read_through_threadpoolctl():
    info = [{"user_api": "blas", "internal_api": "openblas", "num_threads": 3, "prefix": "libscipy_openblas",
             "version": "0.3.31"},
            {"user_api": "openmp", "internal_api": "openmp", "num_threads": 5, "prefix": "libgomp"}]
    text = header.blas_threads(lambda: info, environ={})
    assert "libscipy_openblas (blas): 3" in text and "libgomp (openmp): 5" in text
    assert "threadpoolctl" in text


def test_blas_threads_fall_back_to_the_environment_without_threadpoolctl():
    text = header.blas_threads(lambda: None, environ={"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "4"})
    assert "OPENBLAS_NUM_THREADS=4" in text and "OMP_NUM_THREADS=2" in text
    assert "MKL_NUM_THREADS unset" in text
    assert "threadpoolctl not installed" in text


def _fake_importer(modules: dict):
    def import_module(name):
        if name not in modules:
            raise ImportError(name)
        return modules[name]
    return import_module


def test_compiled_kernels_state_read_from_the_public_switch():
    on = types.SimpleNamespace(AVAILABLE=True, enabled=lambda: True)
    off = types.SimpleNamespace(AVAILABLE=True, enabled=lambda: False)
    missing = types.SimpleNamespace(AVAILABLE=False, enabled=lambda: False)
    name = header.COMPILED_MODULES[0]
    assert header.compiled_kernels(_fake_importer({name: on}), environ={}).startswith("on")
    text = header.compiled_kernels(_fake_importer({name: off}), environ={"CLEARCONV_COMPILED": "0"})
    assert text.startswith("off") and "CLEARCONV_COMPILED=0" in text
    assert "numba not installed" in header.compiled_kernels(_fake_importer({name: missing}), environ={})


def test_compiled_kernels_state_without_a_switch_says_unknown():
    text = header.compiled_kernels(_fake_importer({}), environ={"CLEARCONV_COMPILED": "1"})
    assert text.startswith("unknown") and "CLEARCONV_COMPILED=1" in text


def test_malloc_setting_is_applied_by_an_explicit_call_and_described_by_the_allocator():
    calls = []
    allocator = types.SimpleNamespace(keep_freed_memory=lambda: calls.append(1) or True,
                                      describe=lambda: "malloc keeps freed memory for reuse")
    text = header.apply_malloc_setting(allocator)
    assert calls == [1]
    assert "keep_freed_memory()" in text and text.endswith("malloc keeps freed memory for reuse")


def test_malloc_opt_out_is_the_allocators_own(monkeypatch):
    from clearconv import allocator

    monkeypatch.setattr(allocator, "_state", allocator._state)     # restored after the test
    monkeypatch.setenv(allocator.OPT_OUT_VARIABLE, "0")
    text = header.apply_malloc_setting()
    assert "not applied" in text and "CLEARCONV_KEEP_FREED_MEMORY=0" in text


def test_header_names_everything_that_changes_timings(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\n")
    fake_torch = types.SimpleNamespace(__version__="2.13.0+cpu", get_num_threads=lambda: 7)
    fields = header.header_fields(threads=7, malloc="malloc text", torch_module=fake_torch,
                                  threadpool_info=lambda: None, import_module=_fake_importer({}),
                                  environ={"OMP_NUM_THREADS": "7"}, cpuinfo_path=str(cpuinfo))
    for name in ("python", "numpy", "torch", "numba", "clearconv", "cpu", "threads", "compiled kernels", "batch parts",
                 "malloc"):
        assert name in fields, name
    assert fields["batch parts"].startswith("unknown")                  # the fake importer has no clearconv
    assert fields["torch"] == "2.13.0+cpu"
    assert fields["numpy"].startswith(np.__version__)
    assert "Test CPU 9000" in fields["cpu"]
    assert "torch 7" in fields["threads"] and "OMP_NUM_THREADS=7" in fields["threads"]
    assert fields["malloc"] == "malloc text"
    text = header.format_header(fields)
    assert "compiled kernels: unknown" in text and "malloc: malloc text" in text


# --------------------------------------------------------------------------- the bench extra

def test_bench_extra_installs_everything_the_benchmarks_import():
    import ast

    tomllib = pytest.importorskip("tomllib")                        # Python 3.11+
    root = PACKAGE_DIR.parents[1]
    extra = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    pinned = {requirement.split("=")[0].split(">")[0].strip(): requirement for requirement in extra}
    assert pinned["torch"] == "torch==2.13.0"
    assert "numba" in pinned                                        # the compiled kernels the figures used
    imported = set()
    for path in [*PACKAGE_DIR.glob("*.py"), *PACKAGE_DIR.parent.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    own = {"clearconv", "clearconv_bench", "numpy", "lenet_epoch", "run", "tuning"}
    third_party = {name for name in imported - own if name not in sys.stdlib_module_names}
    assert third_party <= set(pinned), third_party - set(pinned)


# --------------------------------------------------------------------------- parity and PyTorch's two memory formats

def test_parity_tolerance_is_twice_the_float32_bound_of_the_row():
    from clearconv.kernels.conv.choice import float32_bound

    parity = _load("parity")
    for algorithm in ("im2col", "fft", "winograd2", "winograd4", "auto"):
        for rank in (1, 2):
            assert parity.tolerance(algorithm, rank) == 2 * float32_bound(algorithm, rank), (algorithm, rank)
    # By tile and rank: F(4, 3) keeps 1D's tighter bound, and F(2x2, 3x3) not F(4x4, 3x3)'s.
    assert parity.tolerance("winograd4", 1) < parity.tolerance("winograd4", 2)
    assert parity.tolerance("winograd2", 2) < parity.tolerance("winograd4", 2)
    assert parity.tolerance(None, 2) == parity.tolerance("im2col", 2)   # no dispatcher: transposed, pooling


def test_cases_offer_channels_last_wherever_torch_has_it():
    cases = _load("cases").standard_cases()
    assert cases["conv1d"].torch_formats == ("contiguous",)         # 3D tensors: no channels_last
    for name in ("lenet-conv1", "vgg-3x3", "strided", "transposed", "maxpool"):
        assert cases[name].torch_formats == ("contiguous", "channels_last"), name


def test_torch_channels_last_twin_computes_what_the_contiguous_one_does():
    pytest.importorskip("torch")
    torch_twins = _load("torch_twins")
    cases = _load("cases").standard_cases()
    rng = np.random.default_rng(0)
    for name in ("strided", "maxpool", "transposed"):
        case = cases[name]
        layer = case.make_clearconv()
        x = rng.standard_normal((2, *case.input_shape[1:]), dtype=np.float32)
        grad = rng.standard_normal(layer(x).shape, dtype=np.float32)
        side = torch_twins.TorchSide(case, layer)
        plain = side.reference(x, grad, "contiguous")
        channels_last = side.reference(x, grad, "channels_last")
        assert len(plain) == len(channels_last) >= 2
        for a, b in zip(plain, channels_last):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.max(np.abs(a)) or 1.0))
        assert side.input_tensor(x, "channels_last").is_contiguous(memory_format=torch_twins.torch.channels_last)


# --------------------------------------------------------------------------- whole models against their PyTorch twins

WHOLE_MODELS = ("lenet5", "small_vgg", "small_resnet", "unet", "signal1d")


@pytest.mark.parametrize("name", WHOLE_MODELS)
def test_each_zoo_model_and_its_torch_twin_agree_forward_and_after_one_adam_step(name):
    # The oracle is the twin run in float64; the bounds are stated in model_parity's docstring.
    pytest.importorskip("torch")
    whole_models = _load("whole_models")
    model_parity = _load("model_parity")
    spec = whole_models.SPECS[name]
    x, y = whole_models.random_data(spec, 2, np.random.default_rng(1))
    result = model_parity.check(spec, x, y)
    assert result["ok"], model_parity.summary_text(name, result)
    # At two samples nothing cancels much: every float32 side is within a few 1e-6 of float64, far inside the bounds.
    assert max(result["forward"].values()) < 1e-5
    assert result["gradients"]["clearconv"] < 1e-4
    assert set(result["forward"]) == {"clearconv"} | {f"torch:{fmt}" for fmt in spec.torch_formats}


def test_flatten_rows_reorder_a_dense_kernel_from_channels_last_to_torch_order():
    pytest.importorskip("torch")
    model_twins = _load("model_twins")
    h, w, c, out = 2, 3, 4, 5
    kernel = np.arange(h * w * c * out, dtype=np.float32).reshape(h * w * c, out)
    reordered = model_twins._flatten_rows(kernel, (h, w, c))
    for i in range(h):                       # row (i, j, k) of channels_last order is row (k, i, j) in torch's order
        for j in range(w):
            for k in range(c):
                np.testing.assert_array_equal(reordered[k * h * w + i * w + j], kernel[(i * w + j) * c + k])
    back = model_twins.keras_layout(np.ascontiguousarray(reordered.T), "Dense", (h, w, c))
    np.testing.assert_array_equal(back, kernel)


def test_copy_weights_refuses_a_twin_of_another_architecture():
    pytest.importorskip("torch")
    from clearconv import zoo

    model_twins = _load("model_twins")
    with pytest.raises(ValueError, match="layers with weights"):
        model_twins.copy_weights(zoo.lenet5(), model_twins.make_twin("small_vgg"))
    with pytest.raises(ValueError, match="accepted: lenet5"):
        model_twins.make_twin("vgg16")


def test_keras_adam_first_update_by_hand():
    pytest.importorskip("torch")
    model_parity = _load("model_parity")
    # g = 0.5: m = 0.05, v = 0.00025, alpha = 1e-3 * sqrt(0.001) / 0.1; step = alpha * m / (sqrt(v) + 1e-7).
    alpha = 1e-3 * 0.001 ** 0.5 / 0.1
    expected = 1.0 - alpha * 0.05 / (0.00025 ** 0.5 + 1e-7)
    assert model_parity.keras_adam_first_update(np.array([1.0]), np.array([0.5]))[0] == pytest.approx(expected, 1e-12)
    assert expected == pytest.approx(1.0 - 1e-3, abs=1e-8)           # Adam's first step moves by about lr


def test_update_bound_ratio_accepts_what_the_gradient_difference_explains_and_refuses_more():
    pytest.importorskip("torch")
    model_parity = _load("model_parity")
    before = np.array([0.2, -0.1, 0.0])
    gradient = np.array([0.3, -1e-6, 2e-3])
    reference = model_parity.keras_adam_first_update(before, gradient)
    assert model_parity.update_bound_ratio(before, reference, reference, gradient, gradient) == 0.0
    moved = gradient * (1 + 1e-3)                                    # a 0.1% gradient difference...
    ratio = model_parity.update_bound_ratio(before, model_parity.keras_adam_first_update(before, moved), reference,
                                            moved, gradient)
    assert 0.0 < ratio <= 1.0                                        # ...explains the update it causes
    wrong = reference + np.array([0.0, 0.0, 1e-4])                   # a tenth of a learning rate, unexplained
    assert model_parity.update_bound_ratio(before, wrong, reference, gradient, gradient) > 1.0


def test_random_data_shapes_and_labels():
    pytest.importorskip("torch")
    whole_models = _load("whole_models")
    rng = np.random.default_rng(0)
    x, y = whole_models.random_data(whole_models.SPECS["signal1d"], 5, rng)
    assert x.shape == (5, 512, 1) and x.dtype == np.float32 and y.shape == (5,) and set(y) <= {0, 1}
    x, y = whole_models.random_data(whole_models.SPECS["unet"], 3, rng)
    assert y.shape == x.shape == (3, 32, 32, 1) and set(np.unique(y)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="count must be a positive integer"):
        whole_models.random_data(whole_models.SPECS["unet"], 0, rng)


def test_torch_trainer_refuses_a_loss_without_a_torch_form():
    pytest.importorskip("torch")
    trainers = _load("trainers")
    model_twins = _load("model_twins")
    with pytest.raises(ValueError, match="accepted: sparse_categorical_crossentropy"):
        trainers.TorchTrainer(np.zeros((2, 28, 28, 1), np.float32), np.zeros(2), model_twins.make_twin("lenet5"),
                              loss="hinge")


# --------------------------------------------------------------------------- the step split

def test_split_figures_arithmetic_by_hand():
    pytest.importorskip("torch")
    step_split = _load("step_split")
    seconds = dict.fromkeys(step_split.PARTS, 0.0)
    seconds.update({"forward": 0.4, "backward conv": 0.3, "backward dense": 0.1, "optimizer": 0.05})
    # backward measured 0.5 s in all: 0.1 s outside its nodes goes to "other"; the fit took 1.2 s, 0.1 s of which
    # was the timers' own tape walks; bookkeeping = 1.1 - (0.4 + 0.3 + 0.1 + 0.1 + 0.05) = 0.15 s. Two steps.
    figures = step_split.split_figures(seconds, backward_total=0.5, total=1.2, overhead=0.1, steps=2)
    assert figures["step_ms"] == pytest.approx(550.0)
    assert figures["parts"]["backward other"] == pytest.approx(50.0)
    assert figures["parts"]["bookkeeping"] == pytest.approx(75.0)
    assert sum(figures["parts"].values()) == pytest.approx(figures["step_ms"])


def test_node_kind_from_the_function_that_recorded_the_node():
    pytest.importorskip("torch")
    step_split = _load("step_split")

    def named(qualname):
        def vjp(g):
            return (g,)
        vjp.__qualname__ = qualname
        return vjp

    assert step_split.node_kind(named("conv_transpose.<locals>.<lambda>")) == "conv"
    assert step_split.node_kind(named("batch_norm_train.<locals>.<lambda>")) == "batchnorm"
    assert step_split.node_kind(named("global_avg_pool.<locals>.<lambda>")) == "pooling"
    assert step_split.node_kind(named("matmul.<locals>.vjp")) == "dense"
    assert step_split.node_kind(named("_binary.<locals>.vjp")) == "other"


def test_step_split_of_a_real_fit_accounts_for_the_whole_step_and_leaves_the_model_untouched():
    pytest.importorskip("torch")
    from clearconv import layers, models, optimizers

    step_split = _load("step_split")
    model = models.Sequential([layers.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                               layers.ReLU(), layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])
    model.compile(optimizer=optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 8, 1), dtype=np.float32), rng.random((8, 3), dtype=np.float32)
    figures = step_split.StepSplit(model).fit(x, y, batch_size=4)
    assert figures["steps"] == 2
    parts = figures["parts"]
    assert sum(parts.values()) == pytest.approx(figures["step_ms"])
    for part in ("forward", "backward conv", "backward batchnorm", "backward activation", "backward pooling",
                 "backward dense", "optimizer"):
        assert parts[part] > 0, part
    assert "_forward" not in model.__dict__ and "compute_loss" not in model.__dict__
    assert "step" not in model.optimizer.__dict__


# --------------------------------------------------------------------------- whole-model targets, tables, memory

def _training_row(model, ratio, quiet=True):
    return {"model": model, "ratio": ratio, "quiet": quiet, "torch_format": "channels_last"}


def test_model_targets_pass_fail_and_inconclusive():
    targets = _load("targets")
    assert targets.model_verdict(0.9, 1.0, True) == "PASS"
    assert targets.model_verdict(1.1, 1.0, True) == "FAIL"
    assert targets.model_verdict(0.9, 1.0, False) == "INCONCLUSIVE"
    assert targets.model_verdict(1.1, 1.0, False) == "INCONCLUSIVE"
    lines = targets.model_check_lines([_training_row("a", 0.9), _training_row("b", 1.2, quiet=False)], [], [])
    assert lines[0].endswith("INCONCLUSIVE (contended turns decide it: rerun on a quiet machine)")
    lines = targets.model_check_lines([_training_row("a", 1.2), _training_row("b", 0.5, quiet=False)], [], [])
    assert lines[0].endswith(": FAIL")                                 # a quiet failing row stays FAIL
    memory = [{"model": "a", "work": "train step", "ratio": 1.5, "torch_format": "contiguous"},
              {"model": "a", "work": "predict b256", "ratio": 1.51, "torch_format": "contiguous"}]
    lines = targets.model_check_lines([], [], memory)
    assert lines[0].endswith(": FAIL") and lines[1].endswith("PASS") and lines[2].endswith("FAIL")


def test_model_tables_mark_the_faster_torch_format_and_print_the_ratio():
    pytest.importorskip("torch")
    model_tables = _load("model_tables")
    assert model_tables.torch_times({"contiguous": 2.0, "channels_last": 1.5}, "channels_last") == "2.00 / 1.50*"
    assert model_tables.torch_times({"contiguous": 2.0}, "contiguous") == "2.00 / -"
    row = {"model": "signal1d", "mode": "predict b1", "batch": 1, "clearconv_ms": 2.0, "call_ms": 1.5,
           "torch_ms": {"contiguous": 4.0}, "torch_format": "contiguous", "ratio": 0.5, "quiet": True,
           "turn_ratio_median": 0.5, "turn_ratio_min": 0.4, "turn_ratio_max": 0.6, "contended_turns": [], "turns": 3}
    line = model_tables.format_inference([row]).splitlines()[2]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[:9] == ["signal1d", "1", "2.000", "1.500", "+0.500", "4.000 / -", "0.50x", "PASS", "500 / 250"]


def test_peak_memory_of_a_known_allocation():
    model_memory = _load("model_memory")
    if not model_memory.available():
        pytest.skip("the resident high-water mark cannot be reset here")
    size = 64 * 2**20

    def work():
        block = np.ones(size, dtype=np.uint8)                        # 64 MiB, every page touched
        return int(block[::4096].sum())

    measured = model_memory.peak_added_mib(work)
    assert 60 <= measured <= 80, measured
    assert model_memory.peak_added_mib(lambda: None) < 4


def test_timed_inference_callables_compute_what_the_model_computes():
    pytest.importorskip("torch")
    whole_models = _load("whole_models")
    for name in ("lenet5", "signal1d"):
        spec = whole_models.SPECS[name]
        units = whole_models.inference_units(spec, np.random.default_rng(0))
        assert set(units) == ({(mode, "clearconv") for mode in whole_models.INFERENCE_MODES}
                              | {("predict b1", whole_models.CALL)}
                              | {(mode, f"torch:{fmt}") for mode in whole_models.INFERENCE_MODES
                                 for fmt in spec.torch_formats})
        for mode in whole_models.INFERENCE_MODES:
            ours = units[mode, "clearconv"]()
            assert ours.shape[0] == (1 if mode == "predict b1" else whole_models.INFERENCE_BATCH_SIZE)
            for fmt in spec.torch_formats:
                np.testing.assert_allclose(units[mode, f"torch:{fmt}"]().numpy(), ours, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(units["predict b1", whole_models.CALL](), units["predict b1", "clearconv"](),
                                   rtol=1e-6, atol=1e-7)


class _CountingTrainer:
    """A fake trainer: remembers the samples it trained on, takes one 'second' per sample."""

    def __init__(self, log, name):
        self.log, self.name = log, name

    def train(self, samples):
        self.log.append((self.name, len(samples)))
        return float(len(samples))


def test_race_starts_up_on_throwaway_trainers_then_takes_turns_with_fresh_ones():
    epoch = _load("epoch")
    made, log = [], []

    def make_trainers():
        made.append({name: _CountingTrainer(log, f"{name}#{len(made)}") for name in ("clearconv", "torch:contiguous")})
        return made[-1]

    chunks = [list(range(3)), list(range(2))]
    raced = epoch.race(make_trainers, list(range(4)), chunks, pause=0.0)
    assert len(made) == 2 and raced["trainers"] is made[1]
    assert raced["start_up_seconds"] == {"clearconv": 4.0, "torch:contiguous": 4.0}
    assert log[:2] == [("clearconv#0", 4), ("torch:contiguous#0", 4)]      # the throwaway set, before the turns
    assert log[2:] == [("clearconv#1", 3), ("torch:contiguous#1", 3), ("torch:contiguous#1", 2), ("clearconv#1", 2)]
    assert raced["seconds"] == {"clearconv": [3.0, 2.0], "torch:contiguous": [3.0, 2.0]}
    assert raced["first"] == ["clearconv", "torch:contiguous"]
    assert len(raced["other_processes_cores"]) == 2
