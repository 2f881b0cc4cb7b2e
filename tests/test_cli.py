"""The `clearconv` command as a user runs it: exit codes, messages, and the main job."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from clearconv import cli

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    """cli.main runs in the test process: leave its malloc alone (the subprocess runs apply it)."""
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")


def run(*args, cwd=None):
    """The command in a fresh process, as a user runs it (with its malloc setting)."""
    env = {key: value for key, value in os.environ.items() if key != "CLEARCONV_KEEP_FREED_MEMORY"}
    return subprocess.run([sys.executable, "-m", "clearconv.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The README's first command: `clearconv train` with every default."""
    folder = tmp_path_factory.mktemp("train")
    result = run("train", "--quiet", cwd=folder)
    return folder, result


def test_default_train_reaches_97_percent_on_held_out_digits(trained):
    folder, result = trained
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.97, result.stdout
    assert (folder / "digits_cnn-digits.clearconv").exists()
    assert "malloc keeps freed memory for reuse" in result.stdout.splitlines()[1]


def test_evaluate_reproduces_the_training_accuracy(trained):
    folder, result = trained
    evaluated = run("evaluate", str(folder / "digits_cnn-digits.clearconv"), "--data", "digits")
    assert evaluated.returncode == 0, evaluated.stderr
    trained_accuracy = re.search(r"test accuracy ([0-9.]+)", result.stdout).group(1)
    assert f"test accuracy {trained_accuracy}" in evaluated.stdout


def test_predict_classifies_image_files(trained, tmp_path):
    from PIL import Image
    from clearconv.data import load
    folder, _ = trained
    _, (x_test, y_test) = load("digits", seed=0)
    paths = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray((x_test[i, :, :, 0] * 255).round().astype(np.uint8)).save(path)
        paths.append(str(path))
    result = run("predict", str(folder / "digits_cnn-digits.clearconv"), *paths)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""          # the digits are light on dark, of the model's size: nothing to note
    predicted = [int(m) for m in re.findall(r"class (\d+)", result.stdout)]
    assert len(predicted) == 5
    assert sum(p == int(t) for p, t in zip(predicted, y_test[:5])) >= 4


def test_summary_of_a_zoo_model(capsys):
    assert cli.main(["summary", "lenet5"]) == 0
    assert "Total params: 61,706" in capsys.readouterr().out


@pytest.mark.parametrize("args, code, message", [
    (["train", "lenet6"], 2, "unknown zoo model 'lenet6'"),
    (["train", "--data", "cifar"], 2, "unknown dataset 'cifar'"),
    (["train", "--epochs", "0"], 2, "argument --epochs: must be an integer >= 1; received '0'"),
    (["train", "--validation-split", "1"], 2, "argument --validation-split: must be a number in [0, 1); received '1'"),
    (["evaluate", "missing.clearconv", "--data", "digits"], 1, "missing.clearconv"),
    (["summary", "nothing-here"], 2, "neither a model file nor a zoo model"),
])
def test_errors_are_one_line_with_the_right_exit_code(args, code, message, capsys):
    assert cli.main(args) == code
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


def test_usage_error_from_argparse_exits_2():
    result = run("train", "--epochs", "many")
    assert result.returncode == 2 and "argument --epochs: must be an integer >= 1; received 'many'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_help_says_the_command_keeps_freed_memory(capsys):
    assert cli.main(["--help"]) == 0
    assert "CLEARCONV_KEEP_FREED_MEMORY=0" in " ".join(capsys.readouterr().out.split())


def test_corrupt_model_file_is_reported(tmp_path, capsys):
    path = tmp_path / "broken.clearconv"
    path.write_bytes(b"\x00" * 100)
    assert cli.main(["evaluate", str(path), "--data", "digits"]) == 1
    assert "broken.clearconv" in capsys.readouterr().err


def test_cosine_schedule_decays_to_zero_at_the_last_step(tmp_path):
    from clearconv.data import load
    from clearconv.models import load_model
    from clearconv.optimizers import CosineDecay
    path = tmp_path / "cosine.clearconv"
    assert cli.main(["train", "--epochs", "2", "--lr", "0.002", "--lr-schedule", "cosine", "--quiet",
                     "--output", str(path)]) == 0
    (x_train, _), _ = load("digits", seed=0)
    fit_samples = int(len(x_train) * 0.9)  # Keras's validation_split=0.1 keeps the first 90%
    steps = 2 * -(-fit_samples // 32)
    optimizer = load_model(path).optimizer
    assert isinstance(optimizer.learning_rate, CosineDecay)
    assert optimizer.learning_rate.initial_learning_rate == 0.002
    assert optimizer.iterations == optimizer.learning_rate.decay_steps == steps
    assert optimizer.current_learning_rate() == 0.0


def test_evaluate_a_model_saved_without_compile(trained, tmp_path, capsys):
    """A model saved before compile() has no loss: evaluate compiles it for the integer labels, says so,
    and reports the accuracy of its predictions (recomputed here from model.predict)."""
    from clearconv.data import load
    from clearconv.models import load_model
    folder, _ = trained
    model = load_model(folder / "digits_cnn-digits.clearconv", compile=False)
    path = tmp_path / "uncompiled.clearconv"
    model.save(path)
    assert cli.main(["evaluate", str(path), "--data", "digits"]) == 0
    captured = capsys.readouterr()
    assert "uncompiled.clearconv holds no loss" in captured.err and captured.err.count("\n") == 1
    _, (x_test, y_test) = load("digits", seed=0)
    accuracy = np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test)
    assert f"test accuracy {accuracy:.4f}" in captured.out


def test_evaluate_takes_the_training_seed_so_the_test_split_is_the_same(tmp_path, capsys):
    """digits draws its test split from --seed: evaluate with the training seed scores the same samples."""
    from clearconv.data import load
    assert not np.array_equal(load("digits", seed=3)[1][1], load("digits", seed=0)[1][1])  # other test samples
    path = str(tmp_path / "seeded.clearconv")
    assert cli.main(["train", "--epochs", "1", "--seed", "3", "--output", path, "--quiet"]) == 0
    trained_accuracy = re.search(r"test accuracy ([0-9.]+)", capsys.readouterr().out).group(1)
    assert cli.main(["evaluate", path, "--data", "digits", "--seed", "3"]) == 0
    assert f"test accuracy {trained_accuracy}" in capsys.readouterr().out
