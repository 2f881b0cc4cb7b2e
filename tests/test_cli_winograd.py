"""`clearconv explain --winograd`: the printed steps hold the direct correlation, files and refusals."""

import pickle

import numpy as np
import pytest

from clearconv import cli


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")


def correlate(x, g):
    """Valid cross-correlation (no flip) by loops over every output cell and tap; 1D or 2D."""
    out = np.zeros(tuple(n - k + 1 for n, k in zip(x.shape, g.shape)))
    for cell in np.ndindex(*out.shape):
        out[cell] = sum(x[tuple(c + t for c, t in zip(cell, tap))] * g[tap] for tap in np.ndindex(*g.shape))
    return out


def grid_text(values):
    """How the command prints an integer grid: rows of right-aligned integers in brackets."""
    rows = np.atleast_2d(values).astype(int)
    width = max(len(str(v)) for v in rows.ravel())
    return "\n".join("    [" + " ".join(str(v).rjust(width) for v in row) + "]" for row in rows)


def direct_section(out):
    """The grid printed under the direct result's heading."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("direct cross-correlation")) + 1
    grid = []
    while lines[start].startswith("    ["):
        grid.append(lines[start])
        start += 1
    return "\n".join(grid)


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("seed", [0, 7])
def test_seeded_example(capsys, rank, tile, seed):
    assert cli.main(["explain", "--winograd", f"{rank}d", "--tile", str(tile), "--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    # the example the command draws, by its documented recipe: one tile's input, then the kernel
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(tile + 2,) * rank)
    g = rng.integers(-3, 4, size=(3,) * rank)
    assert direct_section(out) == grid_text(correlate(x, g))
    assert grid_text(g) in out and grid_text(x) in out
    name = f"F({tile}, 3)" if rank == 1 else f"F({tile}x{tile}, 3x3)"
    assert name in out and "they agree" in out and "seed" in out
    ratio = {(1, 2): "1.5x", (1, 4): "2x", (2, 2): "2.25x", (2, 4): "4x"}[rank, tile]
    assert f"{ratio} fewer" in out


def test_default_tile_is_2(capsys):
    assert cli.main(["explain", "--winograd", "2d"]) == 0
    out = capsys.readouterr().out
    assert "F(2x2, 3x3)" in out and "d (4 x 4" in out


@pytest.mark.parametrize("tile", [2, 4])
def test_files(tmp_path, capsys, tile):
    rng = np.random.default_rng(tile)
    x = rng.integers(-5, 6, size=(7, 9)).astype(np.float32)   # output 5 x 7: cropped tiles for both tiles
    g = rng.integers(-2, 3, size=(3, 3))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "g.npy", g)
    argv = ["explain", "--winograd", "2d", "--tile", str(tile), "--signal", str(tmp_path / "x.npy"),
            "--kernel", str(tmp_path / "g.npy")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert direct_section(out) == grid_text(correlate(x.astype(np.float64), g))
    assert "x.npy" in out and "g.npy" in out
    if tile == 4:   # tile (0, 1) covers output columns 4-7 of 7: cropped, and its d reaches beyond x
        assert "cropped to 4 x 3" in out and "0*" in out
    else:           # 12 tiles: the first 3 shown
        assert "9 more tiles not shown" in out


def test_1d_signal_with_seeded_kernel(tmp_path, capsys):
    x = np.array([1, 2, 3, 4, 5, 6, 7])
    np.save(tmp_path / "x.npy", x)
    assert cli.main(["explain", "--winograd", "1d", "--signal", str(tmp_path / "x.npy"), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    g = np.random.default_rng(3).integers(-3, 4, size=3)     # the kernel is the first draw when x is a file
    assert direct_section(out) == grid_text(correlate(x, g))
    assert "3 tiles" in out


@pytest.mark.parametrize("argv, words", [
    (["explain", "digits_cnn", "--winograd", "1d"], ["digits_cnn", "--winograd", "not both"]),
    (["explain"], ["TARGET", "--winograd"]),
    (["explain", "--winograd", "2d", "--tile", "3"], ["--tile", "3", "2", "4"]),
    (["explain", "--winograd", "2d", "--tile", "two"], ["--tile", "two"]),
    (["explain", "--winograd", "3d"], ["--winograd", "3d", "1d", "2d"]),
    (["explain", "--winograd", "1d", "--data", "digits"], ["--data", "--winograd"]),
    (["explain", "--winograd", "1d", "--at", "1"], ["--at", "--winograd"]),
    (["explain", "digits_cnn", "--data", "digits", "--tile", "4"], ["--tile", "--winograd"]),
])
def test_usage_errors_exit_2(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err


def _bad_files(folder):
    np.save(folder / "matrix.npy", np.zeros((4, 4)))
    np.save(folder / "vector.npy", np.zeros(5))
    np.save(folder / "short.npy", np.zeros(2))
    np.save(folder / "objects.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(folder / "words.npy", np.array(["a", "b", "c"]))
    np.save(folder / "nan.npy", np.array([1.0, np.nan, 2.0, 3.0]))
    np.save(folder / "k5.npy", np.zeros((5, 5)))
    with open(folder / "pickled.npy", "wb") as file:
        pickle.dump({"x": [1, 2, 3]}, file)
    (folder / "text.npy").write_text("1 2 3 4")
    np.savez(folder / "archive.npz", x=np.zeros(5))


@pytest.mark.parametrize("argv, words", [
    (["--winograd", "1d", "--signal", "matrix.npy"], ["matrix.npy", "--signal", "(4, 4)", "1D"]),
    (["--winograd", "2d", "--signal", "vector.npy"], ["vector.npy", "--signal", "(5,)", "2D"]),
    (["--winograd", "1d", "--signal", "short.npy"], ["short.npy", "n >= 3"]),
    (["--winograd", "1d", "--signal", "objects.npy"], ["objects.npy", "--signal"]),
    (["--winograd", "1d", "--signal", "pickled.npy"], ["pickled.npy", "--signal"]),
    (["--winograd", "1d", "--signal", "text.npy"], ["text.npy", "--signal"]),
    (["--winograd", "1d", "--signal", "archive.npz"], ["archive.npz", "--signal", "not a .npy file"]),
    (["--winograd", "1d", "--signal", "words.npy"], ["words.npy", "real numbers"]),
    (["--winograd", "1d", "--signal", "nan.npy"], ["nan.npy", "nan"]),
    (["--winograd", "1d", "--signal", "missing.npy"], ["missing.npy", "no such file"]),
    (["--winograd", "2d", "--kernel", "k5.npy"], ["k5.npy", "--kernel", "(3, 3)", "(5, 5)"]),
    (["--winograd", "1d", "--kernel", "matrix.npy"], ["matrix.npy", "--kernel", "(3,)"]),
])
def test_unusable_files_exit_1_naming_them(tmp_path, monkeypatch, capsys, argv, words):
    monkeypatch.chdir(tmp_path)
    _bad_files(tmp_path)
    assert cli.main(["explain", *argv]) == 1
    captured = capsys.readouterr()
    assert all(word in captured.err for word in words), captured.err
    assert captured.out == ""
