"""Read one picture (PNG, JPEG, BMP, ... whatever Pillow reads) into a float32 array."""

from __future__ import annotations

import os
from typing import Union

import numpy as np

from ._optional import import_optional

PathLike = Union[str, "os.PathLike[str]"]


def load_image(path: PathLike, size: tuple[int, int] | None = None, grayscale: bool = True) -> np.ndarray:
    """The image at ``path`` as float32 (H, W, C) in [0, 1]: C = 1 if ``grayscale`` else 3 (RGB).

    size: ``(height, width)`` to resize to (bilinear), or None to keep the
    file's size. Colour images are converted with Pillow's "L" mode
    (ITU-R 601-2 luma) for grayscale; transparency is dropped. 16-bit
    grayscale PNGs are scaled by 65535, 8-bit images by 255.
    Needs Pillow (``pip install "clearconv[data]"``).
    """
    pil_image_module = import_optional("PIL.Image", "pillow", "data", "load_image")
    if size is not None:
        if (len(size) != 2 or any(isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1
                                  for side in size)):
            raise ValueError(f"load_image: `size` must be (height, width), two positive integers, or None; "
                             f"received {size!r}")
    with pil_image_module.open(path) as image:
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I") and grayscale:
            picture, scale = image.convert("I"), 65535.0
        else:
            picture, scale = image.convert("L" if grayscale else "RGB"), 255.0
        if size is not None:
            height, width = size
            picture = picture.resize((width, height), resample=pil_image_module.Resampling.BILINEAR)
        pixels = np.asarray(picture, dtype=np.float32) / np.float32(scale)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]                 # (H, W) -> (H, W, 1)
    return pixels
