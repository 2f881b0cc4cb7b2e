"""LambdaCallback: a callback made from plain functions."""

from __future__ import annotations

from .callback import Callback


_HOOK_NAMES = frozenset(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """A callback made from functions, called with Keras's arguments.

    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``;
    any other hook (``on_test_end=...``, ...) may be given by keyword.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - _HOOK_NAMES)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook names {unknown}; accepted: {sorted(_HOOK_NAMES)}")
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: `{name}` must be callable; received {function!r}")
            setattr(self, name, function)
