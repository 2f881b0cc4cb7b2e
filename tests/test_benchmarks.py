"""The benchmarks' own logic: total-time ratios, turn order, the faster memory format, the header.

``benchmarks/`` is not on ``sys.path``: its package ``clearconv_bench`` is
loaded here from its file path. Timers, clocks, players and the probed
environment are fakes whose figures are chosen by hand, so every expected
value below is plain arithmetic on them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "clearconv_bench"


def _load(module: str):
    """``clearconv_bench.<module>``, the package registered from its file path (no sys.path change)."""
    if "clearconv_bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("clearconv_bench", PACKAGE_DIR / "__init__.py",
                                                      submodule_search_locations=[str(PACKAGE_DIR)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["clearconv_bench"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"clearconv_bench.{module}")


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
    for name in ("python", "numpy", "torch", "numba", "clearconv", "cpu", "threads", "compiled kernels", "malloc"):
        assert name in fields, name
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
