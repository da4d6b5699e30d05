"""Any of Pillow's modes to 8-bit RGB or greyscale, for the decoder.

Greyscale stays one channel until the crop (see `decoding`); 16/32-bit greyscale is scaled, not
clipped; transparent pixels are composited on white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Transparent pixels are composited on white, what most viewers show behind them.
BACKGROUND = (255, 255, 255)
# Pixels of wide greyscale scaled to 8 bits at a time (4 MB as float32).
_STRIP_PIXELS = 1 << 20


def to_rgb_or_grey(image: Image.Image) -> Image.Image:
    """RGB, or L for greyscale: resampled on its one channel, it becomes RGB at the crop's size
    (the same values: each channel is resampled on its own), never as a whole image."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _wide_grey_to_l(image)
    if image.mode == "F":
        return image.convert("L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _wide_grey_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale scaled to 8 bits (Pillow's "L" conversion clips instead of scaling).

    A strip of rows at a time: a float copy of a whole 40 MP image would take 160 MB, and the
    scaling several of them.
    """
    _, high = image.getextrema()
    scale = np.float32(255.0 / (65535.0 if float(high) > 255 else 255.0))  # type: ignore[arg-type]
    grey = np.empty((image.height, image.width), dtype=np.uint8)
    rows = max(1, _STRIP_PIXELS // image.width)
    for top in range(0, image.height, rows):
        strip = image.crop((0, top, image.width, min(top + rows, image.height)))
        wide = np.asarray(strip, dtype=np.float32)
        np.multiply(wide, scale, out=wide)
        np.clip(wide, 0, 255, out=wide)
        grey[top : top + wide.shape[0]] = wide  # truncates, as astype(np.uint8) does
    return Image.fromarray(grey)
