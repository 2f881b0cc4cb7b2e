"""clearconv.data.batches: Keras's validation_split, the seeded shuffle split, and epoch batch indices."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.data import batch_indices, shuffle_split, train_val_split


@pytest.mark.parametrize("count, validation_split, split_at", [
    (10, 0.2, 8), (10, 0.3, 7), (10, 0.7, 3), (100, 0.1, 90), (7, 0.5, 3), (3, 0.1, 2),
])
def test_train_val_split_takes_the_last_fraction_like_keras(count, validation_split, split_at):
    x = np.arange(count * 2).reshape(count, 2)
    y = np.arange(count)
    (x_train, y_train), (x_val, y_val) = train_val_split(x, y, validation_split)
    np.testing.assert_array_equal(y_train, np.arange(split_at))
    np.testing.assert_array_equal(y_val, np.arange(split_at, count))
    np.testing.assert_array_equal(x_val, x[split_at:])
    assert np.shares_memory(x_train, x) and np.shares_memory(x_val, x)       # views, no copy


def test_train_val_split_without_labels():
    (x_train, y_train), (x_val, y_val) = train_val_split(np.zeros((5, 1)), None, 0.4)
    assert x_train.shape == (3, 1) and x_val.shape == (2, 1) and y_train is None and y_val is None


@pytest.mark.parametrize("count, validation_split, message", [
    (1, 0.5, "1 samples, not enough"), (5, 1e-20, "5 samples, not enough"),
    (10, 0.0, "strictly between 0 and 1"), (10, 1.0, "strictly between 0 and 1"),
])
def test_train_val_split_errors(count, validation_split, message):
    with pytest.raises(ValueError, match=message):
        train_val_split(np.zeros(count), np.zeros(count), validation_split)


def test_split_length_mismatch():
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        train_val_split(np.zeros(4), np.zeros(3), 0.5)


def test_shuffle_split_is_seeded_and_a_partition():
    x, y = np.arange(20) * 10, np.arange(20)
    (x_train, y_train), (x_val, y_val) = shuffle_split(x, y, 0.25, seed=3)
    assert len(y_val) == 5 and len(y_train) == 15
    assert sorted(np.concatenate([y_train, y_val]).tolist()) == list(range(20))
    np.testing.assert_array_equal(x_train, y_train * 10)                    # x and y stay paired
    (_, again), (_, again_val) = shuffle_split(x, y, 0.25, seed=3)
    np.testing.assert_array_equal(again_val, y_val)
    (_, _), (_, other_val) = shuffle_split(x, y, 0.25, seed=4)
    assert not np.array_equal(other_val, y_val)
    assert not np.array_equal(y_val, np.arange(15, 20))                     # shuffled, unlike train_val_split


@pytest.mark.parametrize("count, batch_size", [(10, 3), (9, 3), (1, 5), (64, 64), (0, 4)])
def test_batch_indices_cover_every_index_once_per_epoch(count, batch_size):
    rng = np.random.default_rng(0)
    epochs = [list(batch_indices(count, batch_size, True, rng)) for _ in range(3)]
    for batches in epochs:
        assert [len(b) for b in batches] == [batch_size] * (count // batch_size) + (
            [count % batch_size] if count % batch_size else [])
        flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
        np.testing.assert_array_equal(np.sort(flat), np.arange(count))
    if count >= 9:
        assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))   # reshuffled per epoch


def test_batch_indices_in_order_and_seeded():
    assert [b.tolist() for b in batch_indices(5, 2, shuffle=False)] == [[0, 1], [2, 3], [4]]
    first = np.concatenate(list(batch_indices(50, 8, True, 7)))
    again = np.concatenate(list(batch_indices(50, 8, True, 7)))
    np.testing.assert_array_equal(first, again)


def test_batch_indices_take_one_batch_at_a_time():
    x = np.arange(12.0).reshape(6, 2)
    batches = [x[index] for index in batch_indices(6, 4, False, None)]
    np.testing.assert_array_equal(batches[0], x[:4])
    np.testing.assert_array_equal(batches[1], x[4:])


@pytest.mark.parametrize("args, message", [((-1, 2), "`count` must be a non-negative integer"),
                                           ((5, 0), "`batch_size` must be a positive integer"),
                                           ((5, 2.0), "`batch_size` must be a positive integer")])
def test_batch_indices_errors(args, message):
    with pytest.raises(ValueError, match=message):
        list(batch_indices(*args))
