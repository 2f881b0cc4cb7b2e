"""Every subcommand given hostile arguments: each mistake is one line on stderr that names the file or
option at fault, no traceback, and exit code 2 for a command line that cannot work as written
(an option value, an unknown name, an --output that cannot be written) or 1 for a file that cannot
be used (missing, a folder, empty, not a model or an image, not fit for the model or the data).
"""

import os

import numpy as np
import pytest

from clearconv import cli, zoo

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")
Image = pytest.importorskip("PIL.Image", reason="predict reads images with Pillow (the 'data' extra)")


@pytest.fixture(autouse=True)
def in_process(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")   # cli.main runs in the test process
    monkeypatch.chdir(tmp_path)                               # nothing lands in the source tree


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A folder of good and bad inputs; returns name -> path."""
    root = tmp_path_factory.mktemp("inputs")
    model = zoo.get("digits_cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.zeros((4, 8, 8, 1), np.float32), np.arange(4), verbose=0)
    model.save(root / "digits.clearconv")
    zoo.get("mnist1d_cnn").save(root / "signal.clearconv")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "digit.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(root / "big.png")
    (root / "folder.clearconv").mkdir()
    (root / "folder.png").mkdir()
    (root / "empty.clearconv").write_bytes(b"")
    (root / "empty.png").write_bytes(b"")
    (root / "words.clearconv").write_text("a model, honest\n")
    (root / "words.png").write_text("a picture, honest\n")
    (root / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    (root / "half.clearconv").write_bytes((root / "digits.clearconv").read_bytes()[:300])
    (root / "idx-empty").mkdir()
    (root / "a-file").write_text("x")
    return {path.name: str(path) for path in root.iterdir()} | {"root": str(root)}


# (arguments, exit code, what the message must name); {name} is a path from `files`.
CASES = [
    # numeric options of train
    (["train", "--seed", "-1"], 2, ["--seed"]),
    (["train", "--seed", "1e3"], 2, ["--seed"]),
    (["train", "--lr", "-1"], 2, ["--lr"]),
    (["train", "--lr", "nan"], 2, ["--lr"]),
    (["train", "--lr", "inf"], 2, ["--lr"]),
    (["train", "--lr", "0"], 2, ["--lr"]),
    (["train", "--lr", "fast"], 2, ["--lr"]),
    (["train", "--epochs", "0"], 2, ["--epochs"]),
    (["train", "--epochs", "2.5"], 2, ["--epochs"]),
    (["train", "--batch-size", "0"], 2, ["--batch-size"]),
    (["train", "--validation-split", "1"], 2, ["--validation-split"]),
    (["train", "--validation-split", "nan"], 2, ["--validation-split"]),
    (["train", "--validation-split", "0.9999"], 2, ["--validation-split"]),    # leaves no training sample
    (["train", "--lr-schedule", "linear"], 2, ["--lr-schedule"]),
    # names and paths of train
    (["train", "lenet6"], 2, ["lenet6"]),
    (["train", ""], 2, ["model name"]),
    (["train", "lenet5"], 2, ["lenet5", "digits"]),           # 5x5 kernels do not fit 8x8 images
    (["train", "signal1d"], 2, ["signal1d", "digits"]),       # a 1-D model on images
    (["train", "siamese"], 2, ["siamese"]),                   # two inputs: not a classifier of one image
    (["train", "unet"], 2, ["unet"]),                         # per-pixel outputs: not a classifier
    (["train", "--data", "cifar"], 2, ["cifar"]),
    (["train", "--data", "{a-file}"], 2, ["{a-file}"]),
    (["train", "--data", "{root}/nowhere"], 2, ["{root}/nowhere"]),
    (["train", "--data", "{idx-empty}"], 1, ["{idx-empty}"]),
    (["train", "--output", ""], 2, ["--output"]),
    (["train", "--output", "{folder.png}"], 2, ["{folder.png}"]),
    (["train", "--output", "{root}/nowhere/m.clearconv"], 2, ["{root}/nowhere"]),
    (["train", "--output", "{a-file}/m.clearconv"], 2, ["{a-file}"]),
    (["train", "--output", "{root}/m.h5"], 2, ["m.h5"]),
    (["train", "--output", "{root}/new-folder/"], 2, ["{root}/new-folder/"]),
    # evaluate
    (["evaluate", "{root}/missing.clearconv", "--data", "digits"], 1, ["missing.clearconv"]),
    (["evaluate", "{folder.clearconv}", "--data", "digits"], 1, ["{folder.clearconv}"]),
    (["evaluate", "{empty.clearconv}", "--data", "digits"], 1, ["{empty.clearconv}"]),
    (["evaluate", "{words.clearconv}", "--data", "digits"], 1, ["{words.clearconv}"]),
    (["evaluate", "{half.clearconv}", "--data", "digits"], 1, ["{half.clearconv}"]),
    (["evaluate", "{model.h5}", "--data", "digits"], 1, ["{model.h5}"]),
    (["evaluate", "{digit.png}", "--data", "digits"], 1, ["{digit.png}"]),
    (["evaluate", "{digits.clearconv}", "--data", "mnist1d"], 1, ["{digits.clearconv}", "mnist1d"]),
    (["evaluate", "{signal.clearconv}", "--data", "digits"], 1, ["{signal.clearconv}", "digits"]),
    (["evaluate", "{digits.clearconv}", "--data", "cifar"], 2, ["cifar"]),
    (["evaluate", "{digits.clearconv}", "--data", "digits", "--batch-size", "0"], 2, ["--batch-size"]),
    (["evaluate", "{digits.clearconv}"], 2, ["--data"]),
    # predict
    (["predict", "{root}/missing.clearconv", "{digit.png}"], 1, ["missing.clearconv"]),
    (["predict", "{folder.clearconv}", "{digit.png}"], 1, ["{folder.clearconv}"]),
    (["predict", "{empty.clearconv}", "{digit.png}"], 1, ["{empty.clearconv}"]),
    (["predict", "{digit.png}", "{digit.png}"], 1, ["{digit.png}"]),
    (["predict", "{signal.clearconv}", "{digit.png}"], 1, ["{signal.clearconv}"]),
    (["predict", "{digits.clearconv}", "{root}/missing.png"], 1, ["missing.png"]),
    (["predict", "{digits.clearconv}", "{folder.png}"], 1, ["{folder.png}"]),
    (["predict", "{digits.clearconv}", "{empty.png}"], 1, ["{empty.png}"]),
    (["predict", "{digits.clearconv}", "{words.png}"], 1, ["{words.png}"]),
    (["predict", "{digits.clearconv}", "{digits.clearconv}"], 1, ["{digits.clearconv}"]),
    (["predict", "{digits.clearconv}", "{big.png}"], 1, ["{big.png}", "8x8"]),
    (["predict", "{digits.clearconv}"], 2, ["images"]),
    # summary
    (["summary", "nothing-here"], 2, ["nothing-here"]),
    (["summary", "{folder.clearconv}"], 1, ["{folder.clearconv}"]),
    (["summary", "{empty.clearconv}"], 1, ["{empty.clearconv}"]),
    (["summary", "{words.clearconv}"], 1, ["{words.clearconv}"]),
    (["summary", "{digit.png}"], 1, ["{digit.png}"]),
    # the command itself
    ([], 2, ["COMMAND"]),
    (["fit"], 2, ["fit"]),
    (["train", "--no-such-option"], 2, ["--no-such-option"]),
]


def fill(text: str, files: dict) -> str:
    for name, path in files.items():
        text = text.replace("{" + name + "}", path)
    return text


@pytest.mark.parametrize("args, code, named", CASES, ids=[" ".join(case[0]) or "(nothing)" for case in CASES])
def test_a_hostile_argument_gets_one_line_naming_it(args, code, named, files, capsys):
    args = [fill(arg, files) for arg in args]
    if args[:1] == ["train"]:           # if a mistake slips through, it trains for one quiet epoch only
        args = ["train", "--epochs", "1", "--batch-size", "256", "--quiet", *args[1:]]
    assert cli.main(args) == code
    captured = capsys.readouterr()
    error = captured.err
    assert error.count("\n") == 1, error
    assert "Traceback" not in error and error.startswith("clearconv")
    for name in named:
        assert fill(name, files) in error, error
    assert not os.path.exists("digits_cnn-digits.clearconv")    # nothing was trained and saved
