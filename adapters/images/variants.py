"""Crops and mirror images of a photo: more held-out images from few (checking an INT8 model)."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from adapters.images.opening import open_image


def crops_and_mirrors(data: bytes) -> list[bytes]:
    """The image mirrored, its centre, its left three quarters, its lower right, and its mirrored
    centre: PNG-encoded (lossless, so each differs from the original only by what was done to it)."""
    with open_image(data) as (image, _):
        rgb = ImageOps.exif_transpose(image).convert("RGB")
    width, height = rgb.size
    centre = rgb.crop((width // 6, height // 6, width - width // 6, height - height // 6))
    variants = [
        ImageOps.mirror(rgb),
        centre,
        rgb.crop((0, 0, width * 3 // 4, height)),
        rgb.crop((width // 5, height // 5, width, height)),
        ImageOps.mirror(centre),
    ]
    return [_png(variant) for variant in variants]


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
