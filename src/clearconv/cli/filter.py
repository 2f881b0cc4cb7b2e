"""`clearconv filter`: apply a classic image kernel (or one from a .npy file) with a depthwise Conv2D.

IMAGE is an image file or, when no file of that name exists, one of scikit-image's sample photographs
(``camera``, ``astronaut``, ``coffee``, ...: :func:`clearconv.explain.filters.sample_images`), read from
the files the installed scikit-image ships, never downloaded.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import FileError, UsageError, one_line
from .files import check_readable, check_output_path


def _kernel(spec: str):
    """(name, float32 (k, k) array) for a kernel name or a .npy file."""
    from ..explain.filters import KERNELS, kernel
    if spec in KERNELS:
        return spec, kernel(spec)
    check_readable(spec, "a .npy kernel")
    try:
        values = np.load(spec, allow_pickle=False)
    except Exception as error:  # not a .npy file, or an object array
        raise FileError(f"{spec}: {one_line(error)}") from error
    if values.ndim != 2 or values.size == 0 or not np.issubdtype(values.dtype, np.number):
        raise FileError(f"{spec}: the kernel must be a 2D numeric array; received shape {values.shape}, "
                        f"dtype {values.dtype}")
    if not np.all(np.isfinite(values)):
        raise FileError(f"{spec}: the kernel holds nan or inf")
    return os.path.splitext(os.path.basename(spec))[0], values.astype(np.float32)


def _read_image(path: str) -> np.ndarray:
    """(H, W) for a grayscale file, (H, W, 3) for a colour one, float32 in [0, 1]."""
    from ..data.images import load_image
    check_readable(path, "an image")
    try:
        from PIL import Image
        with Image.open(path) as image:
            bands = image.getbands()
        gray = bands[0] in ("L", "I", "F", "1") and len(bands) <= 2
        pixels = load_image(path, grayscale=gray)
    except ImportError:
        raise
    except Exception as error:  # Pillow's errors: not an image, truncated, unsupported
        raise FileError(f"{path}: not an image Pillow can read ({one_line(error)})") from error
    return pixels[:, :, 0] if gray else pixels


def _image(spec: str) -> tuple[np.ndarray, str]:
    """(pixels, how the summary names them) for an image file or, failing a file, a sample photograph."""
    from ..explain.filters import sample_image, sample_images
    if os.path.exists(spec):
        return _read_image(spec), spec
    names = sample_images()
    if spec in names:
        return sample_image(spec), f"scikit-image's sample {spec!r}"
    if names:
        samples = f"one of scikit-image's sample photographs ({', '.join(names)})"
    else:
        samples = ("a sample photograph such as camera (those need scikit-image: pip install \"clearconv[data]\" "
                   "or pip install scikit-image)")
    raise FileError(f"{spec}: no such file, and not {samples}")


def _output_path(args, kernel_name: str) -> str:
    if args.output is not None:
        path = args.output
    else:
        path = f"{os.path.splitext(os.path.basename(args.image))[0]}-{kernel_name}.png"
    check_output_path(path)
    if not path.lower().endswith(".npy"):
        from PIL import Image
        extension = os.path.splitext(path)[1].lower()
        if extension not in Image.registered_extensions():
            raise UsageError(f"--output {path!r}: Pillow cannot write {extension or 'a file without an extension'}; "
                             f"use .png, .jpg, .bmp, ... or .npy")
    return path


def run(args) -> int:
    from ..explain.filters import apply_kernel
    name, values = _kernel(args.kernel)
    path = _output_path(args, name)
    image, source = _image(args.image)
    try:
        result = apply_kernel(image, values, args.padding)
    except ValueError as error:  # a kernel larger than the image with padding 'valid'
        raise FileError(f"{args.image}: {one_line(error)}") from error
    kind = "grayscale" if image.ndim == 2 else "RGB"
    low, high = float(result.min()), float(result.max())
    if path.lower().endswith(".npy"):
        np.save(path, result)
        stored = "the unclipped float32 values"
    else:
        from PIL import Image
        clipped = float(np.mean((result < 0) | (result > 1)))
        pixels = np.round(np.clip(result, 0.0, 1.0) * 255).astype(np.uint8)
        try:
            Image.fromarray(pixels, mode="L" if pixels.ndim == 2 else "RGB").save(path)
        except (OSError, ValueError) as error:
            raise FileError(f"{path}: cannot write the image ({one_line(error)})") from error
        stored = f"clipped to [0, 1] ({clipped:.1%} of the values) and scaled to 0..255"
    print(f"filtered {source} ({image.shape[0]}x{image.shape[1]} {kind}, pixels scaled to [0, 1]) with the "
          f"{values.shape[0]}x{values.shape[1]} kernel {name}, a DepthwiseConv2D per channel, padding "
          f"{args.padding}: output {result.shape[0]}x{result.shape[1]}, values in [{low:.4g}, {high:.4g}]")
    print(f"wrote {path}: {stored}")
    return 0
