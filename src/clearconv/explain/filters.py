"""The classic image kernels of the convolution tutorials, applied with clearconv's own DepthwiseConv2D.

Each kernel is a float32 (k, k) array used as a *correlation* (no flip), as every CNN layer computes
it. :func:`apply_kernel` runs one :class:`clearconv.layers.DepthwiseConv2D` with the kernel set as its
weights for every colour channel, so the layer that trains CNNs is the one that filters the picture.

:func:`sample_image` reads one of scikit-image's sample photographs (``camera``, ``astronaut``,
``coffee``, ...) from the files its wheel ships in ``skimage/data/``: the file is read with Pillow
straight from the installed package, so nothing is ever downloaded (scikit-image's own loaders may fetch
from the network the samples that are not bundled); :func:`sample_images` lists the names whose file is
on disk.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

__all__ = ["KERNELS", "SAMPLE_FILES", "kernel", "apply_kernel", "sample_image", "sample_images", "sample_path",
           "sharpen", "blur", "box", "gaussian", "edge", "sobel_x",
           "sobel_y", "emboss", "laplacian"]


def sharpen() -> np.ndarray:
    """5x5 sharpen: the centre 8, its ring 2, the border -1, divided by 8 (weights sum to 1)."""
    k = -np.ones((5, 5))
    k[1:4, 1:4] = 2
    k[2, 2] = 8
    return k / 8


def blur() -> np.ndarray:
    """5x5 blur: a diamond of 13 ones (|dy| + |dx| <= 2), divided by 13."""
    dy, dx = np.mgrid[-2:3, -2:3]
    return (np.abs(dy) + np.abs(dx) <= 2).astype(float) / 13


def box() -> np.ndarray:
    """3x3 box blur: the mean of the 3x3 neighbourhood (all 1/9)."""
    return np.full((3, 3), 1 / 9)


def gaussian() -> np.ndarray:
    """3x3 Gaussian blur: the outer product of (1, 2, 1) with itself, divided by 16."""
    return np.outer([1, 2, 1], [1, 2, 1]) / 16


def edge() -> np.ndarray:
    """3x3 edge (outline) detector: 8 at the centre, -1 around it (weights sum to 0)."""
    k = -np.ones((3, 3))
    k[1, 1] = 8
    return k


def sobel_x() -> np.ndarray:
    """3x3 Sobel, horizontal gradient: positive where brightness grows to the right."""
    return np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)


def sobel_y() -> np.ndarray:
    """3x3 Sobel, vertical gradient: positive where brightness grows downwards."""
    return np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float)


def emboss() -> np.ndarray:
    """3x3 emboss: a diagonal gradient (top-left dark, bottom-right light) plus the pixel itself (sum 1)."""
    return np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=float)


def laplacian() -> np.ndarray:
    """3x3 Laplacian: the 4-neighbour second derivative, -4 at the centre and 1 above, below, left, right."""
    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)


KERNELS = {"sharpen": sharpen, "blur": blur, "box": box, "gaussian": gaussian, "edge": edge,
           "sobel-x": sobel_x, "sobel-y": sobel_y, "emboss": emboss, "laplacian": laplacian}


def kernel(name: str) -> np.ndarray:
    """The named kernel as float32 (k, k); a ValueError listing the names for an unknown one."""
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(KERNELS)}")
    return KERNELS[name]().astype(np.float32)


def apply_kernel(image: np.ndarray, kernel: np.ndarray, padding: str = "same") -> np.ndarray:
    """Correlate every channel of ``image`` with the 2D ``kernel`` through a DepthwiseConv2D layer.

    image: (H, W) or (H, W, C). padding: "same" (zeros around, output H x W) or "valid" (no padding,
    output (H - kh + 1) x (W - kw + 1)). Returns float32 of the image's rank; no clipping.
    """
    from .. import layers
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2 or min(kernel.shape) < 1:
        raise ValueError(f"the kernel must be a 2D array; received shape {kernel.shape}")
    if image.ndim not in (2, 3):
        raise ValueError(f"the image must be (H, W) or (H, W, C); received shape {image.shape}")
    if padding not in ("same", "valid"):
        raise ValueError(f"padding must be 'same' or 'valid'; received {padding!r}")
    gray = image.ndim == 2
    pixels = image[:, :, np.newaxis] if gray else image
    if padding == "valid" and (pixels.shape[0] < kernel.shape[0] or pixels.shape[1] < kernel.shape[1]):
        raise ValueError(f"a {kernel.shape[0]}x{kernel.shape[1]} kernel does not fit a "
                         f"{pixels.shape[0]}x{pixels.shape[1]} image with padding 'valid'")
    channels = pixels.shape[-1]
    conv = layers.DepthwiseConv2D(kernel.shape, padding=padding, use_bias=False)
    conv.build((None, *pixels.shape))
    conv.set_weights([np.repeat(kernel[:, :, np.newaxis, np.newaxis], channels, axis=2)])
    result = np.asarray(conv(pixels[np.newaxis]), dtype=np.float32)[0]
    return result[:, :, 0] if gray else result


# scikit-image's sample photographs: the name of its skimage.data function -> the file its wheel ships in
# skimage/data/. A name counts only where the file is on disk (sample_images); none is downloaded.
SAMPLE_FILES = {"astronaut": "astronaut.png", "brick": "brick.png", "camera": "camera.png", "cat": "chelsea.png",
                "cell": "cell.png", "checkerboard": "chessboard_GRAY.png", "chelsea": "chelsea.png",
                "clock": "clock_motion.png", "coffee": "coffee.png", "coins": "coins.png", "colorwheel": "color.png",
                "grass": "grass.png", "gravel": "gravel.png", "horse": "horse.png",
                "hubble_deep_field": "hubble_deep_field.jpg", "immunohistochemistry": "ihc.png", "logo": "logo.png",
                "microaneurysms": "microaneurysms.png", "moon": "moon.png", "page": "page.png",
                "retina": "retina.jpg", "rocket": "rocket.jpg", "shepp_logan_phantom": "phantom.png",
                "text": "text.png"}


def _sample_folder() -> str | None:
    """skimage/data/ of the installed scikit-image, found without importing it; None if it is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def sample_images() -> tuple[str, ...]:
    """The names of scikit-image's sample photographs whose file the installed package holds, sorted;
    () without scikit-image."""
    folder = _sample_folder()
    if folder is None:
        return ()
    return tuple(name for name, file in sorted(SAMPLE_FILES.items()) if os.path.isfile(os.path.join(folder, file)))


def sample_path(name: str) -> str:
    """The file of the sample photograph ``name`` in the installed scikit-image.

    An ImportError naming the extra to install without scikit-image; a ValueError listing the available
    names for a name that is not one of them (or whose file the installed version does not ship).
    """
    folder = _sample_folder()
    if folder is None:
        raise ImportError('the sample photographs need the package \'scikit-image\', which is not installed. Install '
                          'it with: pip install "clearconv[data]" (or: pip install scikit-image)')
    available = sample_images()
    if name not in available:
        raise ValueError(f"unknown sample photograph {name!r}; the installed scikit-image ships "
                         f"{', '.join(available) or 'none'}")
    return os.path.join(folder, SAMPLE_FILES[name])


def sample_image(name: str) -> np.ndarray:
    """scikit-image's sample photograph ``name`` (see :func:`sample_images`) as float32 in [0, 1].

    (H, W) for a grayscale file (camera, coins, moon, ...), (H, W, 3) RGB for a colour one (astronaut,
    coffee, chelsea, ...); an alpha channel (logo, horse) is dropped. 8-bit pixels are divided by 255, so
    ``sample_image("camera") * 255`` is the file's values exactly. Needs scikit-image and Pillow
    (``pip install "clearconv[data]"``).
    """
    from ..data.images import load_image
    from ..data._optional import import_optional
    path = sample_path(name)
    pil_image_module = import_optional("PIL.Image", "pillow", "data", "sample_image")
    with pil_image_module.open(path) as image:
        bands = image.getbands()
    gray = bands[0] in ("L", "I", "F", "1") and len(bands) <= 2
    pixels = load_image(path, grayscale=gray)                  # (H, W, 1) or (H, W, 3), alpha dropped
    return pixels[:, :, 0] if gray else pixels
