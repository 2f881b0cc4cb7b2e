"""The Metric base class (Keras 3's ``keras/src/metrics/metric.py``)."""

from __future__ import annotations

from .. import utils


class Metric(utils.Configurable):
    """Base class: ``update_state``, ``result``, ``reset_state``; ``metric(...)`` does update + result.

    ``_direction`` ("up", "down" or None), as in Keras, tells callbacks in
    mode "auto" whether a larger value is better. ``from_config`` is
    :class:`clearconv.utils.Configurable`'s; the repr is Keras's ``<Mean name='loss'>``.
    """

    _direction: str | None = None

    def __init__(self, name: str | None = None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string; received {name!r}")
        self.name = name or utils.snake_case(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
