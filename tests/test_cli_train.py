"""`clearconv train`: options checked before any work, --output checked before training, a failed save
after training kept on disk elsewhere, and the malloc setting applied and announced.

Training runs are one epoch of the 8x8 digits in batches of 256 (6 steps); the options that must be refused
are checked to stop before `fit` is ever called.
"""

import math
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from clearconv import cli
from clearconv.models import Model, load_model

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")


FAST = ["--epochs", "1", "--batch-size", "256", "--quiet"]   # one epoch of 6 steps


@pytest.fixture(autouse=True)
def in_process(monkeypatch, tmp_path):
    """cli.main runs in the test process: leave its malloc alone, and write default outputs to tmp_path."""
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fit_calls(monkeypatch):
    """Record Model.fit calls, so a test can tell a refusal before training from a failure after."""
    calls, real_fit = [], Model.fit

    def recording_fit(self, *args, **kwargs):
        calls.append(self)
        return real_fit(self, *args, **kwargs)
    monkeypatch.setattr(Model, "fit", recording_fit)
    return calls


def one_error_line(capsys) -> str:
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error, error
    return error


# --- numeric options: exit 2 naming the option and what it accepts, before loading data -------------
@pytest.mark.parametrize("option, value, accepted", [
    ("--seed", "-1", "an integer in [0, 4294967295]"),
    ("--seed", str(2**32), "an integer in [0, 4294967295]"),
    ("--lr", "-1", "a finite number > 0"),
    ("--lr", "0", "a finite number > 0"),
    ("--lr", "nan", "a finite number > 0"),
    ("--lr", "inf", "a finite number > 0"),
    ("--lr", "-inf", "a finite number > 0"),
    ("--epochs", "0", "an integer >= 1"),
    ("--epochs", "-3", "an integer >= 1"),
    ("--batch-size", "0", "an integer >= 1"),
    ("--batch-size", "-32", "an integer >= 1"),
    ("--validation-split", "1", "a number in [0, 1)"),
    ("--validation-split", "-0.1", "a number in [0, 1)"),
    ("--validation-split", "nan", "a number in [0, 1)"),
])
def test_a_bad_number_exits_2_naming_the_option(option, value, accepted, fit_calls, capsys):
    assert cli.main(["train", *FAST, f"{option}={value}"]) == 2   # "=": -inf is no option
    error = one_error_line(capsys)
    assert option in error and accepted in error and value in error
    assert fit_calls == []


@pytest.mark.parametrize("args, message", [
    (["train", ""], "model name"),                       # was silently replaced by the dataset's recipe
    (["train", "--output", ""], "--output"),            # was silently replaced by the default file name
])
def test_an_empty_value_is_refused_not_replaced_by_the_default(args, message, fit_calls, capsys):
    assert cli.main([*args, *FAST]) == 2
    assert message in one_error_line(capsys)
    assert fit_calls == []


def test_the_smallest_learning_rate_is_used_as_given(tmp_path):
    """--lr 1e-300 is a valid learning rate, and must reach the optimizer as given (not the recipe's)."""
    path = tmp_path / "tiny-lr.clearconv"
    assert cli.main(["train", *FAST, "--lr", "1e-300", "--output", str(path)]) == 0
    assert load_model(path).optimizer.learning_rate == 1e-300


# --- --output: checked before training -----------------------------------------------------------------
@pytest.mark.parametrize("make_output, named", [
    (lambda root: root / "a-folder", "a-folder"),                         # the path is a folder
    (lambda root: root / "no-such-folder" / "m.clearconv", "no-such-folder"),  # its folder is missing
    (lambda root: root / "a-file" / "m.clearconv", "a-file"),            # its "folder" is a file
    (lambda root: root / "m.h5", "m.h5"),                                 # a format clearconv cannot write
    (lambda root: root / "m.weights.h5", "m.weights.h5"),                 # weights only: the model would be lost
])
def test_an_unusable_output_is_refused_before_training(make_output, named, tmp_path, fit_calls, capsys):
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    output = make_output(tmp_path)
    assert cli.main(["train", *FAST, "--output", str(output)]) == 2
    error = one_error_line(capsys)
    assert "--output" in error and named in error
    assert fit_calls == []
    assert sorted(os.listdir(tmp_path)) == ["a-file", "a-folder"]   # the check leaves nothing behind


@pytest.mark.skipif(not os.path.isdir("/sys"),
                    reason="needs Linux's sysfs, a folder where nobody, root included, can create files")
def test_an_unwritable_output_folder_is_refused_before_training(fit_calls, capsys):
    """The check writes (and deletes) a probe file the way the save writes; a folder refusing it stops the
    command. sysfs refuses new files even to root, for whom a read-only folder is writable."""
    assert cli.main(["train", *FAST, "--output", "/sys/m.clearconv"]) == 2
    error = one_error_line(capsys)
    assert "--output" in error and "/sys/m.clearconv" in error and "Permission denied" in error
    assert fit_calls == []


# --- a save that fails after training ----------------------------------------------------------------
def remove_after_fit(monkeypatch, *folders):
    """Make the save fail the way it fails for real: the output folder disappears while training runs."""
    real_fit = Model.fit

    def fit_then_remove(self, *args, **kwargs):
        history = real_fit(self, *args, **kwargs)
        for folder in folders:
            shutil.rmtree(folder)
        return history
    monkeypatch.setattr(Model, "fit", fit_then_remove)


def test_a_failed_save_writes_the_model_to_a_fallback_and_says_where(tmp_path, monkeypatch, capsys):
    output_folder = tmp_path / "out"
    output_folder.mkdir()
    remove_after_fit(monkeypatch, output_folder)
    assert cli.main(["train", *FAST, "--output", str(output_folder / "m.clearconv")]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    fallback = re.search(r"saved to (\S+\.clearconv) instead", captured.err).group(1)
    assert str(output_folder / "m.clearconv") in captured.err
    assert os.path.dirname(os.path.abspath(fallback)) == str(tmp_path)      # the current folder
    # The file on disk is the trained model: it reproduces the accuracy the command printed.
    printed = float(re.search(r"test accuracy ([0-9.]+)", captured.out).group(1))
    from clearconv.data import load
    _, (x_test, y_test) = load("digits", seed=0)
    _, accuracy = load_model(fallback).evaluate(x_test, y_test, verbose=0)
    assert f"{accuracy:.4f}" == f"{printed:.4f}"


def test_the_fallback_goes_to_the_temporary_folder_when_the_current_one_fails(tmp_path, monkeypatch, capsys):
    output_folder, working_folder, temporary = tmp_path / "out", tmp_path / "cwd", tmp_path / "tmp"
    for folder in (output_folder, working_folder, temporary):
        folder.mkdir()
    monkeypatch.chdir(working_folder)
    monkeypatch.setenv("TMPDIR", str(temporary))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)            # re-read TMPDIR
    remove_after_fit(monkeypatch, output_folder, working_folder)
    assert cli.main(["train", *FAST, "--output", str(output_folder / "m.clearconv")]) == 1
    error = capsys.readouterr().err
    fallback = re.search(r"saved to (\S+\.clearconv) instead", error).group(1)
    assert os.path.dirname(fallback) == str(temporary)
    assert load_model(fallback).name == "digits_cnn"


def test_the_model_is_saved_before_the_test_evaluation(tmp_path, monkeypatch, capsys):
    """An error in the final evaluation must not lose the trained model."""
    def failing_evaluate(self, *args, **kwargs):
        raise MemoryError("evaluation ran out of memory")
    real_fit = Model.fit

    def fit_then_break_evaluate(self, *args, **kwargs):
        history = real_fit(self, *args, **kwargs)
        monkeypatch.setattr(Model, "evaluate", failing_evaluate)
        return history
    monkeypatch.setattr(Model, "fit", fit_then_break_evaluate)
    path = tmp_path / "m.clearconv"
    assert cli.main(["train", *FAST, "--output", str(path)]) == 1
    error = one_error_line(capsys)
    assert "out of memory" in error and str(path) in error
    assert load_model(path).name == "digits_cnn"


# --- the malloc setting: applied by the command, announced, with its opt-out -------------------------
def run_train(tmp_path, **environment):
    env = {key: value for key, value in os.environ.items() if key != "CLEARCONV_KEEP_FREED_MEMORY"}
    env.update(environment)
    code = ("import sys; from clearconv import allocator, cli; status = cli.main(sys.argv[1:]); "
            "print('applied:', allocator.is_applied()); sys.exit(status)")
    return subprocess.run([sys.executable, "-c", code, "train", *FAST, "--output",
                           str(tmp_path / "m.clearconv")], env=env, capture_output=True, text=True, cwd=tmp_path)


def test_train_applies_the_malloc_setting_and_says_so(tmp_path):
    result = run_train(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "applied: True" in result.stdout
    header = result.stdout.splitlines()[:2]
    assert any("malloc keeps freed memory" in line and "CLEARCONV_KEEP_FREED_MEMORY=0" in line for line in header)


def test_train_leaves_the_malloc_setting_when_told_to(tmp_path):
    result = run_train(tmp_path, CLEARCONV_KEEP_FREED_MEMORY="0")
    assert result.returncode == 0, result.stderr
    assert "applied: False" in result.stdout
    assert "malloc setting not applied (CLEARCONV_KEEP_FREED_MEMORY=0)" in result.stdout


def test_the_header_states_what_will_run(capsys, tmp_path):
    assert cli.main(["train", "--epochs", "2", "--batch-size", "512", "--lr", "0.002", "--quiet",
                     "--output", str(tmp_path / "m.clearconv")]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    fit_samples = math.floor(1438 * 0.9)    # digits' 80% training split; Keras's validation_split keeps 90%
    for part in ("digits_cnn", "digits", f"{fit_samples:,} training samples", "2 epochs", "batch size 512",
                 "learning rate 0.002", str(tmp_path / "m.clearconv")):
        assert part in header, header


def test_a_keras_output_is_a_keras_file(tmp_path, capsys):
    """--output m.keras writes Keras 3's format (checked before training, as every output is)."""
    path = tmp_path / "m.keras"
    assert cli.main(["train", *FAST, "--output", str(path)]) == 0
    assert "model.weights.h5" in zipfile.ZipFile(path).namelist()
    assert load_model(path).count_params() > 0


# --- recipes: each option falls back to the recipe of the dataset, or of the named model --------------
@pytest.mark.parametrize("option, value, accepted", [
    ("--label-smoothing", "1", "a number in [0, 1)"),
    ("--label-smoothing", "-0.1", "a number in [0, 1)"),
    ("--label-smoothing", "nan", "a number in [0, 1)"),
    ("--label-smoothing", "some", "a number in [0, 1)"),
    ("--weight-decay", "-0.01", "a finite number >= 0"),
    ("--weight-decay", "inf", "a finite number >= 0"),
    ("--weight-decay", "nan", "a finite number >= 0"),
    ("--lr-schedule", "linear", "choose from 'constant', 'cosine'"),
])
def test_a_bad_recipe_option_exits_2_naming_the_option(option, value, accepted, fit_calls, capsys):
    assert cli.main(["train", *FAST, f"{option}={value}"]) == 2
    error = one_error_line(capsys)
    assert option in error and accepted in error and value in error
    assert fit_calls == []


def test_label_smoothing_is_keras_categorical_crossentropy_of_smoothed_one_hot_targets(tmp_path, capsys):
    """The printed test loss is -mean(sum_c t_c log p_c) with t = (1 - s) one_hot + s / C, from the saved
    model's predictions: computed here by hand."""
    import numpy as np
    from clearconv.data import load
    path = tmp_path / "smooth.clearconv"
    assert cli.main(["train", *FAST, "--label-smoothing", "0.2", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert "label smoothing 0.2" in out.splitlines()[0]
    printed_accuracy, printed_loss = map(float, re.search(r"test accuracy ([0-9.]+) \(loss ([0-9.]+)\)",
                                                          out).groups())
    _, (x_test, y_test) = load("digits", seed=0)
    probabilities = load_model(path).predict(x_test, verbose=0).astype(np.float64)      # (N, 10)
    targets = np.full((len(y_test), 10), 0.2 / 10)
    targets[np.arange(len(y_test)), y_test] += 1 - 0.2
    by_hand = -np.mean(np.sum(targets * np.log(probabilities), axis=1))
    unsmoothed = -np.mean(np.log(probabilities[np.arange(len(y_test)), y_test]))
    assert abs(by_hand - unsmoothed) > 1e-3                    # the smoothing shows in the loss
    assert printed_loss == pytest.approx(by_hand, abs=1e-4)
    assert printed_accuracy == pytest.approx(np.mean(probabilities.argmax(1) == y_test), abs=1e-4)
    # `clearconv evaluate` gives the file's categorical loss the one-hot labels it was trained on.
    assert cli.main(["evaluate", str(path), "--data", "digits"]) == 0
    evaluated = re.search(r"test accuracy ([0-9.]+) \(loss ([0-9.]+)\)", capsys.readouterr().out).groups()
    assert tuple(map(float, evaluated)) == pytest.approx((printed_accuracy, printed_loss), abs=1e-4)


def test_weight_decay_trains_with_adamw_and_no_decay_with_adam(tmp_path, capsys):
    path = tmp_path / "decay.clearconv"
    assert cli.main(["train", *FAST, "--weight-decay", "0.05", "--output", str(path)]) == 0
    assert "AdamW learning rate 0.001, weight decay 0.05" in capsys.readouterr().out
    optimizer = load_model(path).optimizer
    assert type(optimizer).__name__ == "AdamW" and optimizer.weight_decay == pytest.approx(0.05)
    assert cli.main(["train", *FAST, "--output", str(path)]) == 0
    assert type(load_model(path).optimizer).__name__ == "Adam"


def recorded_fit(monkeypatch):
    """Record fit's keyword arguments, and train one epoch of whatever was asked (the test is of the
    arguments, not of the training)."""
    seen, real_fit = {}, Model.fit

    def fit(self, *args, **kwargs):
        seen.update(kwargs, model=self)
        return real_fit(self, *args, **{**kwargs, "epochs": 1})
    monkeypatch.setattr(Model, "fit", fit)
    return seen


def test_the_mnist1d_recipe_is_the_published_one(monkeypatch, capsys):
    """`clearconv train --data mnist1d`: all 4,000 training samples, batch 100, Adam 1e-2, 150 epochs
    (6,000 steps), the published CNN."""
    pytest.importorskip("mnist1d")
    seen = recorded_fit(monkeypatch)
    assert cli.main(["train", "--data", "mnist1d", "--quiet"]) == 0
    assert (seen["batch_size"], seen["epochs"], seen["validation_split"]) == (100, 150, 0.0)
    assert seen["model"].name == "mnist1d_cnn" and seen["model"].optimizer.learning_rate == pytest.approx(1e-2)
    assert 150 * math.ceil(4000 / 100) == 6000
    assert "4,000 training samples" in capsys.readouterr().out


def test_a_named_model_with_a_recipe_of_its_own_gets_it_and_options_override_it(monkeypatch, capsys):
    from clearconv.cli import train
    monkeypatch.setitem(train.RECIPES, ("digits", "digits_cnn"),
                        train.Recipe("digits_cnn", 2, 5e-3, batch_size=128, validation_split=0.25,
                                     lr_schedule="cosine", label_smoothing=0.1, weight_decay=0.01))
    seen = recorded_fit(monkeypatch)
    assert cli.main(["train", "digits_cnn", "--quiet"]) == 0
    assert (seen["batch_size"], seen["epochs"], seen["validation_split"]) == (128, 2, 0.25)
    header = capsys.readouterr().out.splitlines()[0]
    for part in ("AdamW learning rate 0.005 with cosine decay", "weight decay 0.01", "label smoothing 0.1"):
        assert part in header, header
    assert cli.main(["train", "digits_cnn", "--quiet", "--batch-size", "64", "--validation-split", "0",
                     "--lr-schedule", "constant", "--label-smoothing", "0", "--weight-decay", "0"]) == 0
    assert (seen["batch_size"], seen["validation_split"]) == (64, 0.0)
    header = capsys.readouterr().out.splitlines()[0]
    assert "Adam learning rate 0.005;" in header and "smoothing" not in header, header
    # Without a model name the dataset's own recipe applies, not the named model's.
    assert cli.main(["train", "--quiet", "--epochs", "1"]) == 0
    assert (seen["batch_size"], seen["validation_split"]) == (32, 0.1)


def test_validate_on_test_logs_each_epoch_of_the_test_split_to_the_csv(tmp_path, capsys):
    """--validate-on-test --log: one CSV row per epoch, and the last row's val_ columns are the saved
    model's test loss and accuracy, computed here from its predictions."""
    import csv

    import numpy as np
    from clearconv.data import load
    path, log = tmp_path / "model.clearconv", tmp_path / "history.csv"
    assert cli.main(["train", "--epochs", "2", "--batch-size", "256", "--quiet", "--validation-split", "0",
                     "--validate-on-test", "--log", str(log), "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert "validating on the 359 test samples after every epoch" in out
    with open(log, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert set(rows[0]) == {"epoch", "accuracy", "loss", "val_accuracy", "val_loss"}
    _, (x_test, y_test) = load("digits", seed=0)
    probabilities = load_model(path).predict(x_test, verbose=0).astype(np.float64)
    by_hand = -np.mean(np.log(probabilities[np.arange(len(y_test)), y_test]))
    assert float(rows[-1]["val_loss"]) == pytest.approx(by_hand, rel=1e-4)
    assert float(rows[-1]["val_accuracy"]) == pytest.approx(np.mean(probabilities.argmax(1) == y_test), abs=1e-6)


def test_validate_on_test_needs_no_validation_split(fit_calls, capsys):
    assert cli.main(["train", *FAST, "--validate-on-test"]) == 2
    assert "--validate-on-test validates on the test split, so it needs --validation-split 0" in one_error_line(capsys)
    assert not fit_calls


def test_an_unusable_log_path_is_refused_before_training(tmp_path, fit_calls, capsys):
    assert cli.main(["train", *FAST, "--log", str(tmp_path / "missing" / "h.csv")]) == 2
    assert "--log" in one_error_line(capsys) and not fit_calls


def test_a_log_that_is_the_output_file_is_refused_before_training(tmp_path, fit_calls, capsys):
    path = str(tmp_path / "model.clearconv")
    assert cli.main(["train", *FAST, "--log", path, "--output", path]) == 2
    assert "is the model's --output file" in one_error_line(capsys) and not fit_calls
