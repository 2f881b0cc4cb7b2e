"""Global settings, as Keras 3's ``keras.config``: default float dtype, fuzz factor, image layout.

    import clearconv as keras
    keras.config.set_floatx("float64")          # new layers and their weights are float64
    keras.config.set_image_data_format("channels_first")

This module holds the settings; :mod:`clearconv.backend` re-exports the same
functions (``keras.backend.floatx`` is ``keras.config.floatx`` in Keras 3 too),
so there is one value of each, whichever name sets it.

Defaults are Keras's: ``floatx() == "float32"``, ``epsilon() == 1e-7``,
``image_data_format() == "channels_last"``. Unlike Keras, clearconv does not
read ``~/.keras/keras.json``: a file written for another Keras backend would
otherwise change clearconv's results silently; call the setters instead.

The module imports nothing from clearconv, so any module may import it.
"""

from __future__ import annotations

import math
import os

# NumPy has no bfloat16, so Keras's fourth float type is refused with a reason.
FLOAT_TYPES = ("float16", "float32", "float64")
DATA_FORMATS = ("channels_first", "channels_last")

_floatx = "float32"
_epsilon = 1e-7
_image_data_format = "channels_last"
# Keras's safe mode: False only after enable_unsafe_deserialization().
_safe_mode = True


def floatx() -> str:
    """The default float dtype, as a string: ``"float32"`` unless :func:`set_floatx` changed it.

    Layers created with ``dtype=None``, their weights, ``Input`` and the
    random functions of :mod:`clearconv.random` use it.
    """
    return _floatx


def set_floatx(value) -> None:
    """Set the default float dtype: ``"float16"``, ``"float32"`` or ``"float64"``.

    Raises ValueError for anything else, as Keras does (Keras's ``"bfloat16"``
    is refused too: NumPy has no bfloat16 type).
    """
    global _floatx
    if value == "bfloat16":
        raise ValueError("Unknown `floatx` value: bfloat16. clearconv computes with NumPy, which has no "
                         f"bfloat16 type. Expected one of {set(FLOAT_TYPES)}")
    if not isinstance(value, str) or value not in FLOAT_TYPES:
        raise ValueError(f"Unknown `floatx` value: {value!r}. Expected one of {set(FLOAT_TYPES)}")
    _floatx = value


def epsilon() -> float:
    """The fuzz factor of numeric expressions (Keras's ``backend.epsilon()``), 1e-7 by default."""
    return _epsilon


def set_epsilon(value) -> None:
    """Set the fuzz factor returned by :func:`epsilon`: a finite number >= 0."""
    global _epsilon
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, str)) or not math.isfinite(number) or number < 0:
        raise ValueError(f"set_epsilon: `value` must be a finite number >= 0; received {value!r}")
    _epsilon = number


def image_data_format() -> str:
    """The default image layout of layers given ``data_format=None``: ``"channels_last"``
    (batch, height, width, channels) unless :func:`set_image_data_format` changed it."""
    return _image_data_format


def set_image_data_format(data_format) -> None:
    """Set the default image layout: ``"channels_last"`` or ``"channels_first"`` (any case)."""
    global _image_data_format
    _image_data_format = _check_data_format(data_format)


def standardize_data_format(data_format) -> str:
    """A layer's ``data_format`` argument resolved: None -> :func:`image_data_format`, else checked
    and lower-cased (``"channels_last"`` or ``"channels_first"``)."""
    if data_format is None:
        return image_data_format()
    return _check_data_format(data_format)


def _check_data_format(data_format) -> str:
    value = str(data_format).lower()
    if value not in DATA_FORMATS:
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    return value


def backend() -> str:
    """The name of the computing backend: ``"numpy"`` (clearconv computes with NumPy)."""
    return "numpy"


def enable_unsafe_deserialization() -> None:
    """Allow loading saved models whose config would run code (Keras's ``safe_mode=False``).

    clearconv's loaders look up layers, activations and ops by name and never
    execute code from a file, so nothing they read today is refused in safe
    mode; the setting is kept so that a loader of such content consults
    :func:`in_safe_mode`.
    """
    global _safe_mode
    _safe_mode = False


def in_safe_mode() -> bool:
    """False once :func:`enable_unsafe_deserialization` was called, else True."""
    return _safe_mode


def keras_home() -> str:
    """Keras's cache directory: ``$KERAS_HOME``, else ``~/.keras`` (``/tmp/.keras`` when the home
    directory is not writable), where Keras keeps ``datasets/`` and ``models/``.

    clearconv only reads files there (datasets a Keras installation saved); it never writes or downloads.
    """
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    home = os.path.expanduser("~")
    if not os.access(home, os.W_OK):
        home = "/tmp"
    return os.path.join(home, ".keras")


__all__ = ["floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
           "backend", "enable_unsafe_deserialization"]
