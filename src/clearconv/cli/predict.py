"""`clearconv predict`: classify image files with a saved model.

An image is made into what the model takes, saying so at each step that changes it, or refused:

- mode: colour is converted to grayscale (ITU-R 601-2 luma, Pillow's "L") for a one-channel model, and
  grayscale repeated over the channels of a three-channel one, with a note (none when a gray image is
  merely stored as RGB); transparent pixels are taken as white (as a viewer shows them), with a note;
  16-bit grayscale is scaled by 65535, 8-bit by 255, as :func:`clearconv.data.load_image` does;
- size: an image of another height x width than the model's is refused, naming the expected size,
  unless ``--resize`` is given: then it is resized (Pillow's bilinear filter, on float pixels) with a note;
- polarity: the datasets of ``clearconv train`` are light drawings on a dark background (0). An image
  whose border is light on average (:func:`looks_dark_on_light`) is a dark drawing on light paper, as
  people draw: the note says so and suggests ``--invert``, which inverts (1 - pixel). Nothing is
  inverted without it.
"""

from __future__ import annotations

import numpy as np

from .errors import FileError, report
from .files import check_readable, load_model_file

GRAYSCALE_MODES = ("1", "L", "I;16", "I;16B", "I;16L", "I", "F")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
LIGHT_BORDER = 0.5
"""Mean border value above which an image counts as dark on light. Over the 1,797 digits (and the 70,000
Fashion-MNIST images) no image's one-pixel border averages above 0.31 (0.43), and no negative's below
0.69 (0.57): 0.5 separates them."""


def looks_dark_on_light(pixels: np.ndarray) -> bool:
    """Whether the one-pixel border of ``pixels`` ((H, W) or (H, W, C), in [0, 1]) averages above 0.5."""
    border = np.concatenate([pixels[0].ravel(), pixels[-1].ravel(),          # top and bottom rows
                             pixels[1:-1, 0].ravel(), pixels[1:-1, -1].ravel()])   # left and right columns
    return float(border.mean()) > LIGHT_BORDER


def _flatten_transparency(image, path: str, notes: list):
    """Composite an image with an alpha channel onto white; any other image as it is."""
    from PIL import Image
    if image.mode not in ("RGBA", "LA", "PA", "La", "RGBa") and "transparency" not in image.info:
        return image
    rgba = image.convert("RGBA")
    if rgba.getextrema()[3][0] == 255:      # fully opaque: nothing to flatten
        return rgba.convert("RGB")
    notes.append(f"{path}: transparent pixels taken as white")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def _channels(image, channels: int, path: str, notes: list) -> np.ndarray:
    """The image's pixels as float32 (H, W, channels) in [0, 1]."""
    image = _flatten_transparency(image, path, notes)
    if image.mode in SIXTEEN_BIT_MODES:
        gray = np.asarray(image.convert("I"), dtype=np.float64) / 65535.0        # (H, W)
    elif image.mode in GRAYSCALE_MODES:
        gray = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    else:
        rgb = np.asarray(image.convert("RGB"))                                    # (H, W, 3) uint8
        if channels == 3:
            return (rgb / np.float32(255)).astype(np.float32)
        if (rgb[:, :, 0] != rgb[:, :, 1]).any() or (rgb[:, :, 1] != rgb[:, :, 2]).any():
            notes.append(f"{path}: colour image ({image.mode}) converted to grayscale")
        gray = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    if channels == 3:
        notes.append(f"{path}: grayscale image repeated over the model's 3 channels")
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2).astype(np.float32)   # (H, W) -> (H, W, 3)
    return gray[:, :, np.newaxis].astype(np.float32)                             # (H, W) -> (H, W, 1)


def _resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Each channel resized with Pillow's bilinear filter in float ("F") mode: no rounding to 8 bits."""
    from PIL import Image
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(pixels[:, :, c]), mode="F")
                         .resize((width, height), Image.Resampling.BILINEAR)) for c in range(pixels.shape[2])]
    return np.stack(planes, axis=2).astype(np.float32)                           # C x (H', W') -> (H', W', C)


def prepare_image(path: str, input_shape: tuple, resize: bool = False, invert: bool = False,
                  ) -> tuple[np.ndarray, list[str]]:
    """The image at ``path`` as the model's input (float32 ``input_shape`` = (H, W, C), C 1 or 3; H or W
    None takes any size), and the notes on what was changed or looks wrong. FileError naming the file
    when it cannot be read or has another size (without ``resize``)."""
    from ..data._optional import import_optional
    pil_image = import_optional("PIL.Image", "pillow", "data", "clearconv predict")
    height, width, channels = input_shape
    check_readable(path, "an image")
    notes: list[str] = []
    try:
        with pil_image.open(path) as image:
            image.load()
            pixels = _channels(image, channels, path, notes)
    except pil_image.UnidentifiedImageError:
        raise FileError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, ...)") from None
    except Exception as error:   # Pillow's decoders raise OSError, SyntaxError, ValueError on broken files
        raise FileError(f"{path}: cannot read the image: {' '.join(str(error).split())}") from error
    size = pixels.shape[:2]
    wanted = (size[0] if height is None else height, size[1] if width is None else width)
    if size != wanted:
        if not resize:
            raise FileError(f"{path}: the image is {size[0]}x{size[1]} pixels (height x width); the model takes "
                            f"{wanted[0]}x{wanted[1]}: pass --resize to resize it")
        reshaped = size[0] * wanted[1] != size[1] * wanted[0]
        notes.append(f"{path}: resized from {size[0]}x{size[1]} to {wanted[0]}x{wanted[1]} (bilinear)"
                     f"{'; the aspect ratio changed' if reshaped else ''}")
        pixels = _resize(pixels, *wanted)
    if invert:
        pixels = np.float32(1) - pixels
    if looks_dark_on_light(pixels):
        if invert:
            notes.append(f"{path}: after --invert the image looks dark on light (its border is light): it was "
                         f"light on dark already, as the training images are; leave out --invert for it")
        else:
            notes.append(f"{path}: the image looks dark on light (its border is light), while the images "
                         f"clearconv trains on are light on dark; pass --invert to invert it")
    return pixels, notes


def run(args) -> int:
    model = load_model_file(args.path, compile=False)
    shape = tuple(model.inputs[0].shape[1:]) if len(model.inputs) == 1 else None
    if shape is None or len(shape) != 3 or shape[2] not in (1, 3):
        shapes = ", ".join(str(tuple(symbol.shape[1:])) for symbol in model.inputs)
        raise FileError(f"{args.path}: the model takes inputs of shape {shapes}, not images "
                        f"(height, width, 1 or 3 channels)")
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise FileError(f"{args.path}: the model gives outputs of shape {tuple(model.outputs[0].shape)}, "
                        f"not one probability per class")
    paths, images, failed = [], [], False
    for path in args.images:
        try:
            pixels, notes = prepare_image(path, shape, resize=args.resize, invert=args.invert)
        except FileError as error:
            report("predict", "error", str(error))
            failed = True
            continue
        for note in notes:
            report("predict", "note", note)
        paths.append(path)
        images.append(pixels)
    if images:
        probabilities = model.predict(np.stack(images), verbose=0)    # N x (H, W, C) -> (N, H, W, C)
        for path, row in zip(paths, probabilities):
            label = int(np.argmax(row))
            print(f"{path}: class {label} (probability {row[label]:.3f})")
    return 1 if failed else 0
