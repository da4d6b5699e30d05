"""Every image the tests build: ordinary ones, odd ones, and hostile ones built by hand where
Pillow would refuse to write them.

Each builder returns encoded bytes (`shape` excepted). The bombs are tiny files whose headers
claim huge sizes or frame counts; nothing here ever holds their pixels.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
from PIL import Image

from adapters.images.decoding import DecodeLimits
from demo.shapes import draw
from entrypoints.settings import ApiSettings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = ApiSettings().max_pixels  # the service's default pixel limit
# The decoder's limits at the service's defaults.
LIMITS = DecodeLimits(MAX_PIXELS, ApiSettings().max_side, ApiSettings().max_jpeg_scans)

Colour = tuple[int, int, int]


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def shape(label: str = "red circle", size: tuple[int, int] = (160, 120), seed: int = 7) -> Image.Image:
    """A demo-model image of `label` (RGB), the same for the same arguments."""
    return draw(label, random.Random(seed), size=size)


def encoded_image(fmt: str, width: int = 8, height: int = 8, colour: Colour = (200, 30, 30)) -> bytes:
    """A solid-colour image encoded by Pillow in `fmt` ("PNG", "JPEG", "WEBP", ...)."""
    return encode(Image.new("RGB", (width, height), colour), fmt)


def png_bytes(width: int = 8, height: int = 8, colour: Colour = (200, 30, 30)) -> bytes:
    return encoded_image("PNG", width, height, colour)


def jpeg_bytes(width: int = 8, height: int = 8, colour: Colour = (200, 30, 30)) -> bytes:
    return encoded_image("JPEG", width, height, colour)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_broken_data(data: bytes, width: int = 8, height: int = 8) -> bytes:
    """A PNG with a valid header (an RGB IHDR) whose image data is `data`: not zlib, so only a
    full decode finds out."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return PNG_SIGNATURE + header + png_chunk(b"IDAT", data)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims width x height RGB pixels."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return PNG_SIGNATURE + header + png_chunk(b"IDAT", b"\x78\x9c\x03\x00\x00\x00\x00\x01")


def gif_claiming_screen(width: int, height: int, frame: tuple[int, int] = (1, 1)) -> bytes:
    """A GIF of one small frame on a logical screen of width x height."""
    return _gif((width, height), frames=1, frame_size=frame)


def gif_with_frames(frames: int) -> bytes:
    """A 1 x 1 GIF of `frames` frames, about 15 bytes each."""
    return _gif((1, 1), frames)


def _gif(screen: tuple[int, int], frames: int, frame_size: tuple[int, int] = (1, 1)) -> bytes:
    palette = b"\x00\x00\x00\xff\xff\xff"
    head = b"GIF89a" + struct.pack("<HH", *screen) + b"\x80\x00\x00" + palette
    # An image descriptor at (0, 0), no local palette; LZW code size 2; one data sub-block.
    frame = b"," + struct.pack("<HHHH", 0, 0, *frame_size) + b"\x00" + b"\x02\x02\x44\x01\x00"
    return head + frame * frames + b";"


def apng_declaring(frames: int) -> bytes:
    """A real two-frame APNG whose animation control chunk (acTL) claims `frames` frames."""
    first, second = Image.new("RGB", (4, 4), (255, 0, 0)), Image.new("RGB", (4, 4), (0, 0, 255))
    data = encode(first, "PNG", save_all=True, append_images=[second])
    start = data.index(b"acTL") - 4
    plays = data[start + 12 : start + 16]
    return data[:start] + png_chunk(b"acTL", struct.pack(">I", frames) + plays) + data[start + 20 :]


def tiff_with_pages(pages: int, loop: bool = False) -> bytes:
    """A little-endian TIFF of `pages` 1 x 1 greyscale pages; `loop` points the last one back at
    the first."""
    entries = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, 8), (277, 1), (278, 1), (279, 1)]
    size = 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 9) + b"\x80")  # the header, then the one pixel
    for page in range(pages):
        following = len(out) + size if page < pages - 1 else (9 if loop else 0)
        out += struct.pack("<H", len(entries))
        for tag, value in entries:
            out += struct.pack("<HHII", tag, 4, 1, value)  # LONG values
        out += struct.pack("<I", following)
    return bytes(out)


def animated(fmt: str, frames: int, size: tuple[int, int] = (8, 8)) -> bytes:
    """A real animation (GIF, PNG, WEBP or TIFF pages) of `frames` distinct solid frames."""
    images = [Image.new("RGB", size, (i * 37 % 256, 80, 160)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:])


def truncated_jpeg() -> bytes:
    """A real JPEG cut off before the end of its scan data."""
    data = encode(shape(size=(320, 240)), "JPEG", quality=90)
    return data[: len(data) * 2 // 3]


def exif_rotated_jpeg(label: str = "red circle") -> bytes:
    """A JPEG stored on its side, with EXIF orientation 6 (rotate 90° clockwise to display)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = shape(label).transpose(Image.Transpose.ROTATE_90)
    return encode(stored, "JPEG", exif=exif, quality=95)


def rgba_on_hidden_blue(label: str = "red circle") -> bytes:
    """A PNG whose opaque centre shows `label` and whose transparent border hides saturated blue
    in its colour channels: composited on white, only the shape remains."""
    pixels = np.asarray(shape(label).convert("RGBA")).copy()
    alpha = np.zeros(pixels.shape[:2], np.uint8)
    alpha[12:108, 32:128] = 255  # the centred square every shape of demo.shapes lies within
    pixels[..., 3] = alpha
    pixels[alpha == 0, :3] = (0, 0, 255)
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def sixteen_bit_png(size: tuple[int, int] = (64, 48)) -> bytes:
    ramp = np.linspace(0, 65535, size[0] * size[1], dtype=np.uint16).reshape(size[1], size[0])
    return encode(Image.fromarray(ramp), "PNG")


def odd_images() -> dict[str, bytes]:
    """Valid images of every awkward kind the service must classify."""
    picture = shape()
    return {
        "greyscale": encode(picture.convert("L"), "PNG"),
        "palette": encode(picture.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "rgba": rgba_on_hidden_blue(),
        "greyscale with alpha": encode(picture.convert("LA"), "PNG"),
        "cmyk jpeg": encode(picture.convert("CMYK"), "JPEG", quality=95),
        "16-bit png": sixteen_bit_png(),
        "1x1": encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG"),
        "1x4000": encode(Image.new("RGB", (1, 4000), (200, 30, 30)), "PNG"),
        "4000x1": encode(Image.new("RGB", (4000, 1), (200, 30, 30)), "PNG"),
        "exif-rotated jpeg": exif_rotated_jpeg(),
    }
