"""clearconv.callbacks: hooks driven by hand on a stand-in model, traced against Keras 3's rules."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from clearconv import callbacks as C
from clearconv.callbacks import progbar as progbar_module
from clearconv.callbacks.monitor_callback import MonitorCallback


# ------------------------------------------------------------------------------------------------
# Stand-ins
# ------------------------------------------------------------------------------------------------

class StubOptimizer:
    def __init__(self, learning_rate: float = 0.01):
        self.learning_rate = learning_rate

    def current_learning_rate(self) -> float:
        return self.learning_rate


class StubModel:
    """What the callbacks may touch: stop_training, weights, optimizer.learning_rate, save/save_weights."""

    def __init__(self, learning_rate: float = 0.01):
        self.stop_training = False
        self.weights = [np.zeros((2, 2)), np.zeros(2)]
        self.optimizer = StubOptimizer(learning_rate)
        self.saved: list[tuple[str, str]] = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w, copy=True) for w in weights]

    def save(self, path):
        with open(path, "w") as file:
            file.write("model")
        self.saved.append(("model", os.fspath(path)))

    def save_weights(self, path):
        with open(path, "w") as file:
            file.write("weights")
        self.saved.append(("weights", os.fspath(path)))

    def weights_id(self) -> float:
        return float(self.weights[0][0, 0])


def run_fit(callback, values, monitor="val_loss", model=None, extra_logs=None):
    """Drive the hooks as fit does: epoch e has weights filled with e and logs {monitor: values[e]}.

    Returns (model, number of epochs run).
    """
    model = model or StubModel()
    callbacks = C.CallbackList([callback], model=model, epochs=len(values), steps=1, verbose=0)
    callbacks.on_train_begin()
    epochs_run = 0
    for epoch, value in enumerate(values):
        callbacks.on_epoch_begin(epoch)
        model.weights = [np.full((2, 2), float(epoch)), np.full(2, float(epoch))]
        logs = {monitor: value, **(extra_logs or {})}
        callbacks.on_epoch_end(epoch, logs)
        epochs_run += 1
        if model.stop_training:
            break
    callbacks.on_train_end()
    return model, epochs_run


class FakeClock:
    def __init__(self, start: float = 0.0):
        self.time = start

    def __call__(self) -> float:
        return self.time


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(progbar_module, "_now", fake)  # the one clock the bar reads
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return fake


# ------------------------------------------------------------------------------------------------
# EarlyStopping (each trace follows Keras 3's on_epoch_end step by step)
# ------------------------------------------------------------------------------------------------

def test_early_stopping_patience_trace():
    # e0 best 1.0 wait 0; e1 best 0.9 wait 0; e2 wait 1; e3 wait 2 >= 2 -> stop after 4 epochs.
    stopper = C.EarlyStopping(patience=2)
    model, epochs_run = run_fit(stopper, [1.0, 0.9, 0.95, 0.96, 0.97, 0.98])
    assert epochs_run == 4 and stopper.stopped_epoch == 3 and model.stop_training
    assert stopper.best == 0.9 and stopper.best_epoch == 1 and stopper.wait == 2


def test_early_stopping_patience_zero_never_stops_on_first_epoch():
    stopper = C.EarlyStopping(patience=0)
    _, epochs_run = run_fit(stopper, [1.0, 1.1, 0.5])
    assert epochs_run == 2 and stopper.stopped_epoch == 1
    # Epoch 0 always sets the first best, so even patience 0 with an unmet baseline runs it.
    stopper = C.EarlyStopping(patience=0, baseline=0.1)
    _, epochs_run = run_fit(stopper, [1.0])
    assert epochs_run == 1 and stopper.stopped_epoch == 0


def test_early_stopping_min_delta():
    # 0.95 + 0.1 < 1.0 is False: not an improvement, wait 1 >= 1 -> stop at epoch 1.
    stopper = C.EarlyStopping(patience=1, min_delta=0.1)
    _, epochs_run = run_fit(stopper, [1.0, 0.95, 0.5])
    assert epochs_run == 2 and stopper.best == 1.0
    # 0.85 + 0.1 < 1.0 improves; 0.8 + 0.1 < 0.85 does not -> stop at epoch 2. Negative min_delta counts as |.|.
    stopper = C.EarlyStopping(patience=1, min_delta=-0.1)
    assert stopper.min_delta == 0.1
    _, epochs_run = run_fit(stopper, [1.0, 0.85, 0.8, 0.1])
    assert epochs_run == 3 and stopper.best == 0.85 and stopper.stopped_epoch == 2


def test_early_stopping_mode_max_and_auto():
    # val_accuracy -> max: e0 0.5, e1 0.6 best, e2 wait 1, e3 wait 2 -> stop.
    stopper = C.EarlyStopping(monitor="val_accuracy", patience=2)
    _, epochs_run = run_fit(stopper, [0.5, 0.6, 0.55, 0.58, 0.9], monitor="val_accuracy")
    assert epochs_run == 4 and stopper.best == 0.6
    # The same numbers watched with mode='min': 0.5 stays best, 0.6 and 0.55 are worse -> stop at e2.
    stopper = C.EarlyStopping(monitor="val_accuracy", patience=2, mode="min")
    _, epochs_run = run_fit(stopper, [0.5, 0.6, 0.55, 0.58], monitor="val_accuracy")
    assert epochs_run == 3 and stopper.best == 0.5


@pytest.mark.parametrize("monitor, expected", [
    ("loss", "min"), ("val_loss", "min"), ("val_mse", "min"), ("mean_absolute_error", "min"),
    ("accuracy", "max"), ("val_acc", "max"), ("val_sparse_categorical_accuracy", "max"), ("auc", "max"),
    ("val_precision", "max"), ("recall", "max"), ("val_f1_score", "max"),
])
def test_auto_mode_inference(monitor, expected):
    assert C.infer_mode(monitor) == expected


def test_auto_mode_reads_metric_direction_from_model():
    class Metric:
        def __init__(self, name, direction):
            self.name, self._direction = name, direction

    model = StubModel()
    model.metrics = [Metric("my_score", "up"), Metric("my_error", "down")]
    assert C.infer_mode("val_my_score", model) == "max"
    assert C.infer_mode("my_error", model) == "min"


def test_early_stopping_baseline_trace():
    # Improving but never beating the baseline: wait is never reset, yet every epoch returns on the
    # improvement branch before the patience check, so training is not stopped (Keras 3 behaviour).
    stopper = C.EarlyStopping(patience=2, baseline=0.5)
    _, epochs_run = run_fit(stopper, [1.0, 0.9, 0.8, 0.7])
    assert epochs_run == 4 and stopper.wait == 4
    # The first non-improvement then stops at once: e0 wait 1, e1 wait 2, e2 wait 3 >= 2.
    stopper = C.EarlyStopping(patience=2, baseline=0.5)
    _, epochs_run = run_fit(stopper, [1.0, 0.9, 0.95, 0.5])
    assert epochs_run == 3 and stopper.stopped_epoch == 2
    # Without a baseline the same values only reach wait 1.
    stopper = C.EarlyStopping(patience=2)
    _, epochs_run = run_fit(stopper, [1.0, 0.9, 0.95, 0.5])
    assert epochs_run == 4 and not stopper.stopped_epoch
    # A beaten baseline resets wait: e0 wait 1 (1.0 not < 0.95), e1 wait 0, e2 wait 1, e3 wait 2 -> stop.
    stopper = C.EarlyStopping(patience=2, baseline=0.95)
    _, epochs_run = run_fit(stopper, [1.0, 0.9, 0.92, 0.93, 0.1])
    assert epochs_run == 4 and stopper.stopped_epoch == 3


def test_early_stopping_restores_best_weights_when_stopped(capsys):
    stopper = C.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    model, epochs_run = run_fit(stopper, [1.0, 0.5, 0.7, 0.8, 0.9])
    assert epochs_run == 4 and model.weights_id() == 1.0
    assert capsys.readouterr().out == ("Epoch 4: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 2.\n")


def test_early_stopping_restores_best_weights_at_end_without_stop():
    # Keras 3 restores at on_train_end whenever it holds best weights, stopped or not.
    model, epochs_run = run_fit(C.EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.7])
    assert epochs_run == 3 and model.weights_id() == 1.0
    model, _ = run_fit(C.EarlyStopping(patience=5), [1.0, 0.5, 0.7])
    assert model.weights_id() == 2.0


def test_early_stopping_start_from_epoch():
    # Epochs 0 and 1 are ignored; e2 sets best 3.0, e3 wait 1 >= 1 -> stop.
    stopper = C.EarlyStopping(patience=1, start_from_epoch=2)
    _, epochs_run = run_fit(stopper, [1.0, 2.0, 3.0, 3.5, 4.0])
    assert epochs_run == 4 and stopper.best == 3.0
    stopper = C.EarlyStopping(patience=1)
    _, epochs_run = run_fit(stopper, [1.0, 2.0, 3.0, 3.5, 4.0])
    assert epochs_run == 2


def test_early_stopping_missing_monitor_warns_with_available_keys():
    stopper = C.EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match=r"`val_loss` which is not available\. Available metrics are: loss,accuracy"):
        model, epochs_run = run_fit(stopper, [1.0, 2.0, 3.0], monitor="loss", extra_logs={"accuracy": 0.5})
    assert epochs_run == 3 and not model.stop_training


def test_early_stopping_is_reusable_and_rejects_unknown_mode():
    stopper = C.EarlyStopping(patience=0)
    run_fit(stopper, [1.0, 2.0])
    assert stopper.stopped_epoch == 1
    _, epochs_run = run_fit(stopper, [5.0, 4.0, 3.0])  # on_train_begin resets best, wait and stopped_epoch
    assert epochs_run == 3 and stopper.stopped_epoch == 0 and stopper.best == 3.0
    with pytest.warns(UserWarning, match="mode 'biggest' is unknown"):
        assert C.EarlyStopping(mode="biggest").mode == "auto"


# ------------------------------------------------------------------------------------------------
# ModelCheckpoint
# ------------------------------------------------------------------------------------------------

def test_checkpoint_formats_epoch_and_logs_in_filepath(tmp_path):
    pattern = os.fspath(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    model, _ = run_fit(C.ModelCheckpoint(pattern), [0.5, 0.6, 0.4])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01-0.50.keras", "ckpt-02-0.60.keras",
                                                         "ckpt-03-0.40.keras"]
    assert [kind for kind, _ in model.saved] == ["model"] * 3


def test_checkpoint_save_best_only(tmp_path, capsys):
    path = os.fspath(tmp_path / "best.keras")
    model, _ = run_fit(C.ModelCheckpoint(path, save_best_only=True, verbose=1), [0.5, 0.6, 0.4, 0.4])
    assert model.saved == [("model", path), ("model", path)]  # epochs 1 and 3; 0.6 worse, equal 0.4 not better
    assert capsys.readouterr().out == (
        f"\nEpoch 1: val_loss improved from inf to 0.50000, saving model to {path}\n"
        "\nEpoch 2: val_loss did not improve from 0.50000\n"
        f"\nEpoch 3: val_loss improved from 0.50000 to 0.40000, saving model to {path}\n"
        "\nEpoch 4: val_loss did not improve from 0.40000\n")
    pattern = os.fspath(tmp_path / "w-{epoch:02d}.weights.h5")
    checkpoint = C.ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True, save_weights_only=True)
    model, _ = run_fit(checkpoint, [0.5, 0.7, 0.6, 0.8], monitor="val_accuracy")
    assert [os.path.basename(p) for _, p in model.saved] == ["w-01.weights.h5", "w-02.weights.h5", "w-04.weights.h5"]
    assert {kind for kind, _ in model.saved} == {"weights"}


def test_checkpoint_initial_value_threshold_and_missing_monitor(tmp_path):
    path = os.fspath(tmp_path / "m-{epoch}.keras")
    model, _ = run_fit(C.ModelCheckpoint(path, save_best_only=True, initial_value_threshold=0.45), [0.5, 0.4, 0.42])
    assert [os.path.basename(p) for _, p in model.saved] == ["m-2.keras"]
    with pytest.warns(UserWarning, match="Can save best model only with val_loss available"):
        model, _ = run_fit(C.ModelCheckpoint(path, save_best_only=True), [0.5], monitor="loss")
    assert len(model.saved) == 1


def test_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    model = StubModel()
    checkpoint = C.ModelCheckpoint(os.fspath(tmp_path / "sub" / "e{epoch}-b{batch}.keras"), save_freq=2)
    checkpoint.set_model(model)
    for epoch in range(2):
        checkpoint.on_epoch_begin(epoch)
        for batch in range(5):
            checkpoint.on_train_batch_end(batch, {"loss": 1.0})
        checkpoint.on_epoch_end(epoch, {"loss": 1.0})
    assert [os.path.basename(p) for _, p in model.saved] == ["e1-b2.keras", "e1-b4.keras", "e2-b1.keras",
                                                             "e2-b3.keras", "e2-b5.keras"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        run_fit(C.ModelCheckpoint(os.fspath(tmp_path / "{val_acc:.2f}.keras")), [0.5])
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("x.keras", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq"):
        C.ModelCheckpoint("x.keras", save_freq=0)


# ------------------------------------------------------------------------------------------------
# ReduceLROnPlateau and LearningRateScheduler
# ------------------------------------------------------------------------------------------------

def test_reduce_lr_on_plateau_cooldown_and_min_lr_trace():
    model = StubModel(learning_rate=1.0)
    reducer = C.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.1, min_delta=0.0)
    values = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    seen_lrs, waits, epoch_logs = [], [], []
    reducer.set_model(model)
    reducer.on_train_begin()
    for epoch, value in enumerate(values):
        logs = {"val_loss": value}
        reducer.on_epoch_end(epoch, logs)
        seen_lrs.append(model.optimizer.learning_rate)
        waits.append(reducer.wait)
        epoch_logs.append(logs)
    # e0 best; e1 wait 1; e2 wait 2 -> 0.5, cooldown 1; e3 cooldown ends this epoch, wait 1; e4 -> 0.25;
    # e5 wait 1; e6 improves (0.5); e7 wait 1; e8 -> 0.125; e9 wait 1; e10 -> max(0.0625, 0.1) = 0.1;
    # e11 wait 1; e12 wait 2 but 0.1 > float32(0.1) is False: the rate stays and wait is not reset.
    assert seen_lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.1, 0.1, 0.1]
    assert waits == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2]
    # learning_rate goes into the logs before the decision, so it is the rate the epoch ran with.
    assert [logs["learning_rate"] for logs in epoch_logs[:4]] == [1.0, 1.0, 1.0, 0.5]


def test_reduce_lr_compares_with_min_lr_in_float32():
    # float32(0.100000002) == float32(0.1): not above min_lr, so Keras leaves such a rate alone.
    model = StubModel(learning_rate=0.100000002)
    run_fit(C.ReduceLROnPlateau(patience=1, min_lr=0.1), [1.0, 1.0], model=model)
    assert model.optimizer.learning_rate == 0.100000002
    # float32(0.10000002) is a float32 value above 0.1: reduced, then clipped to min_lr.
    model = StubModel(learning_rate=0.10000002)
    run_fit(C.ReduceLROnPlateau(patience=1, min_lr=0.1), [1.0, 1.0], model=model)
    assert model.optimizer.learning_rate == 0.1


def test_reduce_lr_longer_cooldown_and_max_mode(capsys):
    model = StubModel(learning_rate=1.0)
    reducer = C.ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=1, cooldown=2, verbose=1)
    run_fit(reducer, [0.5, 0.5, 0.5, 0.5, 0.5], monitor="val_accuracy", model=model)
    # e0 best 0.5; e1 wait 1 -> 0.1, cooldown 2; e2 cooldown 1; e3 cooldown 0, wait 1 -> 0.01; e4 cooldown 1.
    assert model.optimizer.learning_rate == pytest.approx(0.01, rel=1e-15)
    out = capsys.readouterr().out
    assert "\nEpoch 2: ReduceLROnPlateau reducing learning rate to 0.1.\n" in out
    assert "\nEpoch 4: ReduceLROnPlateau reducing learning rate to 0.010000000000000002.\n" in out
    # Accuracy rising by more than min_delta is an improvement in auto mode.
    model = StubModel(learning_rate=1.0)
    run_fit(C.ReduceLROnPlateau(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.7], monitor="val_accuracy",
            model=model)
    assert model.optimizer.learning_rate == 1.0


def test_reduce_lr_shares_the_monitor_callbacks_comparison():
    assert isinstance(C.ReduceLROnPlateau(), MonitorCallback)                # as in Keras 3
    # min_delta counts in absolute value: -0.2 is 0.2, so 0.9 after 1.0 is no improvement and the rate drops.
    model = StubModel(learning_rate=1.0)
    run_fit(C.ReduceLROnPlateau(patience=1, min_delta=-0.2), [1.0, 0.9], model=model)
    assert model.optimizer.learning_rate == pytest.approx(0.1)
    # An improvement by more than min_delta keeps the rate.
    model = StubModel(learning_rate=1.0)
    run_fit(C.ReduceLROnPlateau(patience=1, min_delta=0.05), [1.0, 0.9], model=model)
    assert model.optimizer.learning_rate == 1.0
    with pytest.warns(UserWarning, match="ReduceLROnPlateau mode 'upward' is unknown"):
        assert C.ReduceLROnPlateau(mode="upward").mode == "auto"


def test_reduce_lr_rejects_factor_at_least_one_and_warns_on_missing_monitor():
    with pytest.raises(ValueError, match="factor >= 1.0. Received factor=1.0"):
        C.ReduceLROnPlateau(factor=1.0)
    with pytest.warns(UserWarning, match="Available metrics are: loss,learning_rate"):
        run_fit(C.ReduceLROnPlateau(), [1.0], monitor="loss")


def test_learning_rate_scheduler_sets_rate_before_each_epoch(capsys):
    model = StubModel(learning_rate=0.1)
    rates_during_epochs = []
    recorder = C.LambdaCallback(on_epoch_begin=lambda epoch, logs: rates_during_epochs.append(
        model.optimizer.learning_rate))
    scheduler = C.LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr * 0.5, verbose=1)
    callbacks = C.CallbackList([scheduler, recorder], model=model, add_history=True)
    callbacks.on_train_begin()
    for epoch in range(4):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, {"loss": 1.0})
    callbacks.on_train_end()
    assert rates_during_epochs == [0.1, 0.1, 0.05, 0.025]
    assert callbacks.history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]
    assert "\nEpoch 3: LearningRateScheduler setting learning rate to 0.05.\n" in capsys.readouterr().out


def test_learning_rate_scheduler_one_argument_form_and_float_check():
    model = StubModel(learning_rate=0.1)
    scheduler = C.LearningRateScheduler(lambda epoch: 0.5 ** epoch)
    scheduler.set_model(model)
    scheduler.on_epoch_begin(3)
    assert model.optimizer.learning_rate == 0.125
    scheduler = C.LearningRateScheduler(lambda epoch, lr: 1)
    scheduler.set_model(model)
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        scheduler.on_epoch_begin(0)
    scheduler = C.LearningRateScheduler(lambda epoch, lr: np.float32(0.25))
    scheduler.set_model(model)
    scheduler.on_epoch_begin(0)
    assert model.optimizer.learning_rate == 0.25 and type(model.optimizer.learning_rate) is float


# ------------------------------------------------------------------------------------------------
# CSVLogger, TerminateOnNaN, History, LambdaCallback, CallbackList
# ------------------------------------------------------------------------------------------------

def drive_epochs(callback, epoch_logs):
    callback.set_model(StubModel())
    callback.on_train_begin()
    for epoch, logs in enumerate(epoch_logs):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, dict(logs))
    callback.on_train_end()


def test_csv_logger_writes_header_and_rows(tmp_path):
    path = tmp_path / "log.csv"
    logger = C.CSVLogger(path)
    logger.set_model(StubModel())
    logger.on_train_begin()
    logger.on_epoch_end(0, {"val_loss": 0.6, "loss": 0.5, "accuracy": 0.25})
    # Flushed after each row: readable while training runs.
    assert path.read_bytes() == b"epoch,accuracy,loss,val_loss\r\n0,0.25,0.5,0.6\r\n"
    logger.on_epoch_end(1, {"val_loss": 0.3, "loss": 0.125, "accuracy": 0.75})
    logger.on_train_end()
    assert path.read_bytes() == b"epoch,accuracy,loss,val_loss\r\n0,0.25,0.5,0.6\r\n1,0.75,0.125,0.3\r\n"


def test_csv_logger_append_separator_and_missing_val_columns(tmp_path):
    path = tmp_path / "log.csv"
    drive_epochs(C.CSVLogger(path, separator=";"), [{"loss": 0.5}])
    # No val_* key at the first epoch: Keras adds val_ columns anyway, written NA.
    assert path.read_bytes().decode() == "epoch;loss;val_loss\r\n0;0.5;NA\r\n"
    drive_epochs(C.CSVLogger(path, separator=";", append=True), [{"loss": 0.25, "val_loss": 0.75}])
    assert path.read_bytes().decode() == "epoch;loss;val_loss\r\n0;0.5;NA\r\n0;0.25;0.75\r\n"
    drive_epochs(C.CSVLogger(path), [{"loss": 1.5, "val_loss": 2.0}])
    assert path.read_bytes().decode() == "epoch,loss,val_loss\r\n0,1.5,2.0\r\n"


@pytest.mark.parametrize("bad_loss", [float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_terminate_on_nan_stops_on_invalid_batch_loss(bad_loss, capsys):
    model = StubModel()
    callbacks = C.CallbackList([C.TerminateOnNaN()], model=model)
    callbacks.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training and capsys.readouterr().out == ""
    callbacks.on_train_batch_end(7, {"loss": bad_loss})
    assert model.stop_training
    assert capsys.readouterr().out == "Batch 7: Invalid loss, terminating training\n"


def test_terminate_on_nan_raise_error():
    callback = C.TerminateOnNaN(raise_error=True)
    callback.set_model(StubModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        callback.on_train_batch_end(2, {"loss": float("nan")})


def test_history_records_epoch_logs_and_is_attached_to_model():
    model = StubModel()
    callbacks = C.CallbackList(None, model=model, add_history=True, add_progbar=False, verbose=0, epochs=3, steps=2)
    history = callbacks.history
    assert isinstance(history, C.History) and model.history is history
    callbacks.on_train_begin()
    for epoch in range(3):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0 / (epoch + 1)})
    callbacks.on_train_end()
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [1.0, 0.5, 1.0 / 3], "val_loss": [2.0, 1.0, 2.0 / 3]}


def test_callback_list_order_params_and_shared_logs():
    calls = []

    class Recorder(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            calls.append(("recorder", epoch, dict(logs)))

    model = StubModel(learning_rate=0.5)
    existing_history = C.History()
    recorder = Recorder()
    callbacks = C.CallbackList([C.ReduceLROnPlateau(monitor="loss"), [recorder], existing_history], model=model,
                               add_history=True, add_progbar=True, verbose=2, epochs=1, steps=4)
    # The History given is reused, not duplicated; the progress bar comes last.
    assert callbacks.history is existing_history
    assert [type(cb).__name__ for cb in callbacks] == ["ReduceLROnPlateau", "Recorder", "History", "ProgbarLogger"]
    assert all(cb.model is model for cb in callbacks)
    assert recorder.params == {"verbose": 2, "epochs": 1, "steps": 4}
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_epoch_end(0, {"loss": 1.0})
    # A key added by an earlier callback reaches the later ones.
    assert calls == [("recorder", 0, {"loss": 1.0, "learning_rate": 0.5})]
    assert existing_history.history == {"loss": [1.0], "learning_rate": [0.5]}
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be a clearconv.callbacks.Callback"):
        C.CallbackList([recorder, "EarlyStopping"])


def test_lambda_callback_and_legacy_batch_aliases():
    events = []
    lam = C.LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin",)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_train_batch_end=lambda batch, logs: events.append(("batch_end", batch, logs["loss"])),
        on_test_end=lambda logs: events.append(("test_end", logs["loss"])))

    class Legacy(C.Callback):
        def on_batch_end(self, batch, logs=None):
            events.append(("legacy", batch))

    callbacks = C.CallbackList([lam, Legacy()], model=StubModel())
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_begin(0)
    callbacks.on_train_batch_end(0, {"loss": 0.25})
    callbacks.on_test_begin()
    callbacks.on_test_end({"loss": 0.5})
    callbacks.on_epoch_end(0, {"loss": 0.75})
    callbacks.on_train_end()
    assert events == [("train_begin",), ("batch_end", 0, 0.25), ("legacy", 0), ("test_end", 0.5),
                      ("epoch_end", 0, 0.75)]
    with pytest.raises(TypeError, match="unknown hook names"):
        C.LambdaCallback(on_epoch_finish=print)


# ------------------------------------------------------------------------------------------------
# Progress bar
# ------------------------------------------------------------------------------------------------

DONE, REST = "━", "─"


def bar(done: int) -> str:
    return DONE * done + REST * (20 - done)


@pytest.mark.parametrize("value, text", [
    (0.5, "0.5000"), (1234.5, "1234.5000"), (0.0011, "0.0011"), (0.001, "1.0000e-03"), (0.0005, "5.0000e-04"),
    (-0.0005, "-5.0000e-04"), (-0.25, "-0.2500"), (0.0, "0.0000e+00"),
])
def test_metric_value_format(value, text):
    assert C.format_metric_value(value) == text


@pytest.mark.parametrize("seconds, text", [
    (3725.0, "1:02:05"), (3601.0, "1:00:01"), (3600.0, "60:00"), (125.9, "2:05"), (61.0, "1:01"),
    (60.0, "60s"), (59.9, "59s"), (0.4, "0s"),
])
def test_eta_format(seconds, text):
    assert C.format_eta(seconds) == text


@pytest.mark.parametrize("seconds, text", [
    (2.4, " 2s/step"), (1.0, " 1s/step"), (0.0, " 0s/step"), (0.0123, " 12ms/step"), (0.001, " 1ms/step"),
    (0.000456, " 456us/step"),
])
def test_time_per_step_format(seconds, text):
    assert C.format_time_per_unit(seconds) == text


def test_progbar_not_a_tty_prints_whole_lines_at_most_once_a_second(clock, capsys):
    progbar = C.Progbar(target=10, stateful_metrics=["loss"])
    assert not progbar._dynamic_display  # capsys's stdout is not a terminal
    for step in range(1, 11):
        clock.time = 0.25 * step
        progbar.update(step, [("loss", 1.0 / step)])
    lines = capsys.readouterr().out.split("\n")
    # Step 4 (t=1.0) and step 8 (t=2.0) are the first updates a second after the previous line; step 10 is final.
    # Time per step leaves out the first step: (1.0 - 0.25) / 3 = 0.25 s; ETA 0.25 * 6 = 1.5 s -> "1s".
    assert lines == [
        f" 4/10 {bar(8)} 1s 250ms/step - loss: 0.2500",
        f" 8/10 {bar(16)} 0s 250ms/step - loss: 0.1250",
        f"10/10 {bar(20)} 2s 250ms/step - loss: 0.1000",  # elapsed 2.5 s -> "{:.0f}" -> "2"
        "",
    ]
    assert "\r" not in "".join(lines) and "\x1b" not in "".join(lines)


def test_progbar_live_terminal_rewrites_the_line(clock, capsys):
    progbar = C.Progbar(target=3, width=6, stateful_metrics=["loss"])
    progbar._dynamic_display, progbar._colour = True, False
    progbar._done_char, progbar._rest_char = "#", "-"
    clock.time = 2.0
    progbar.update(1, [("loss", 12.5)])
    clock.time = 2.01  # within the 0.05 s interval: no redraw
    progbar.update(2, [("loss", 0.0005)])
    clock.time = 5.0
    progbar.update(3, [("loss", 0.5)])
    out = capsys.readouterr().out
    first = "1/3 ##---- 4s 2s/step - loss: 12.5000"  # 2 s/step, ETA 2 * 2 = 4 s
    final = "3/3 ###### 5s 2s/step - loss: 0.5000"  # (5.0 - 2.0) / 2 = 1.5 s/step, "{:.0f}" -> "2"
    assert out == "\r" + first + "\r" + final + " " * (len(first) - len(final)) + "\n"


def test_progbar_colours_only_on_a_terminal(clock, monkeypatch):
    class FakeTerminal(io.StringIO):
        def isatty(self):
            return True

    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stdout", terminal)
    progbar = C.Progbar(target=4)
    assert progbar._dynamic_display and progbar._colour
    clock.time = 1.0
    progbar.update(2, [("loss", 0.5)])
    out = terminal.getvalue()
    assert out.startswith("\r\x1b[1m2/4\x1b[0m \x1b[32m" + "━" * 10 + "\x1b[0m\x1b[37m" + "━" * 10 + "\x1b[0m")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not C.Progbar(target=4)._colour


def test_progbar_averages_stateless_values_and_unknown_target(clock, capsys):
    progbar = C.Progbar(target=None, verbose=1)
    progbar._dynamic_display = True  # draw every update (interval 0.05 s) without colour
    clock.time = 1.0
    progbar.update(1, [("loss", 1.0)])
    clock.time = 2.0
    progbar.update(3, [("loss", 4.0)])  # two steps at once weigh twice: (1 + 2 * 4) / 3 = 3
    out = capsys.readouterr().out
    assert out == "\r      1/Unknown 1s 1s/step - loss: 1.0000\r      3/Unknown 2s 500ms/step - loss: 3.0000"


def test_progbar_verbose_2_prints_one_line_when_done(clock, capsys):
    progbar = C.Progbar(target=100, verbose=2, stateful_metrics=["loss", "val_loss"])
    for step in range(1, 100):
        clock.time = 0.02 * step
        progbar.update(step, [("loss", 0.5)])
    assert capsys.readouterr().out == ""
    clock.time = 2.0
    progbar.update(100, [("loss", 0.1234), ("val_loss", 0.0002)])
    assert capsys.readouterr().out == "100/100 - 2s - 20ms/step - loss: 0.1234 - val_loss: 2.0000e-04\n"


def fit_with_progbar(clock, verbose, epochs=2, steps=4, step_seconds=0.25):
    model = StubModel()
    callbacks = C.CallbackList([], model=model, add_history=True, add_progbar=verbose != 0, verbose=verbose,
                               epochs=epochs, steps=steps)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for batch in range(steps):
            callbacks.on_train_batch_begin(batch)
            clock.time += step_seconds
            callbacks.on_train_batch_end(batch, {"loss": 0.5 / (batch + 1), "accuracy": 0.25})
        callbacks.on_test_begin()  # validation inside fit: silent
        callbacks.on_test_batch_end(0, {"loss": 9.0})
        callbacks.on_test_end({"loss": 9.0})
        callbacks.on_epoch_end(epoch, {"loss": 0.125, "accuracy": 0.25, "val_loss": 0.0005, "val_accuracy": 1.0})
    callbacks.on_train_end()
    return callbacks


def test_progbar_logger_verbose_1_in_fit(clock, capsys):
    history = fit_with_progbar(clock, verbose=1, steps=6).history
    assert history.history["val_loss"] == [0.0005, 0.0005]
    out = capsys.readouterr().out
    # Batch logs are running means already: shown as given, not averaged again. Each epoch has one
    # intermediate line (step 4, a second after the bar started; ETA 0.25 * 2 = 0.5 s -> "0s") and the
    # final one with the val_* results (elapsed 1.5 s -> "2s").
    final = (f"6/6 {bar(20)} 2s 250ms/step - loss: 0.1250 - accuracy: 0.2500 - val_loss: 5.0000e-04"
             " - val_accuracy: 1.0000")
    epoch_block = f"4/6 {bar(13)} 0s 250ms/step - loss: 0.1250 - accuracy: 0.2500\n" + final + "\n"
    assert out == "Epoch 1/2\n" + epoch_block + "Epoch 2/2\n" + epoch_block


def test_progbar_logger_verbose_2_in_fit(clock, capsys):
    fit_with_progbar(clock, verbose=2, epochs=3)
    line = "4/4 - 1s - 250ms/step - loss: 0.1250 - accuracy: 0.2500 - val_loss: 5.0000e-04 - val_accuracy: 1.0000\n"
    assert capsys.readouterr().out == "Epoch 1/3\n" + line + "Epoch 2/3\n" + line + "Epoch 3/3\n" + line


def test_progbar_logger_single_epoch_has_no_epoch_line_and_verbose_0_is_silent(clock, capsys):
    fit_with_progbar(clock, verbose=2, epochs=1)
    assert capsys.readouterr().out.startswith("4/4 - 1s")
    callbacks = fit_with_progbar(clock, verbose=0)
    assert capsys.readouterr().out == "" and len(callbacks) == 1


def test_progbar_logger_for_evaluate_and_predict(clock, capsys):
    callbacks = C.CallbackList([], model=StubModel(), add_progbar=True, verbose=1, epochs=1, steps=None)
    callbacks.on_test_begin()
    for batch in range(3):
        clock.time += 0.5
        callbacks.on_test_batch_end(batch, {"loss": 0.75})
    callbacks.on_test_end({"loss": 0.75})
    # Unknown length: the final update learns the target from the batches seen.
    assert capsys.readouterr().out == ("      2/Unknown 1s 500ms/step - loss: 0.7500\n"
                                       f"3/3 {bar(20)} 2s 500ms/step - loss: 0.7500\n")
    callbacks.on_predict_begin()
    for batch in range(3):
        callbacks.on_predict_batch_end(batch, {"outputs": np.zeros(2)})
    callbacks.on_predict_end()
    assert capsys.readouterr().out == f"3/3 {bar(20)} 0s 0s/step\n"


def test_progbar_falls_back_to_ascii_when_stdout_cannot_encode(clock, monkeypatch):
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr("sys.stdout", stream)
    progbar = C.Progbar(target=2)
    assert (progbar._done_char, progbar._rest_char) == ("=", ".")
    progbar.update(2)
    stream.flush()
    assert stream.buffer.getvalue().decode("ascii").startswith("2/2 " + "=" * 20 + " ")


def test_progbar_rejects_both_metric_lists():
    with pytest.raises(ValueError, match="not both"):
        C.Progbar(10, stateful_metrics=["a"], stateless_metrics=["b"])
