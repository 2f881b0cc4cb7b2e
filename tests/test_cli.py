"""The `clearconv` command as a user runs it: exit codes, messages, and the main job."""

import re
import subprocess
import sys

import numpy as np
import pytest

from clearconv import cli

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "clearconv.cli", *args], capture_output=True, text=True, cwd=cwd)


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
    predicted = [int(m) for m in re.findall(r"class (\d+)", result.stdout)]
    assert len(predicted) == 5
    assert sum(p == int(t) for p, t in zip(predicted, y_test[:5])) >= 4


def test_summary_of_a_zoo_model(capsys):
    assert cli.main(["summary", "lenet5"]) == 0
    assert "Total params: 61,706" in capsys.readouterr().out


@pytest.mark.parametrize("args, code, message", [
    (["train", "lenet6"], 2, "unknown zoo model 'lenet6'"),
    (["train", "--data", "cifar"], 2, "unknown dataset 'cifar'"),
    (["train", "--epochs", "0"], 2, "--epochs must be a positive integer"),
    (["train", "--validation-split", "1"], 2, "--validation-split must be in [0, 1)"),
    (["evaluate", "missing.clearconv", "--data", "digits"], 1, "missing.clearconv"),
    (["summary", "nothing-here"], 2, "neither a model file nor a zoo model"),
])
def test_errors_are_one_line_with_the_right_exit_code(args, code, message, capsys):
    assert cli.main(args) == code
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and error.count("\n") == 1


def test_usage_error_from_argparse_exits_2():
    result = run("train", "--epochs", "many")
    assert result.returncode == 2 and "invalid int value" in result.stderr


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
