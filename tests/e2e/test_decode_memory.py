"""The memory one decode takes, measured as a fresh process's peak resident size (issue 15).

Pillow allocates in C, where tracemalloc does not look, so each decode runs in its own Python
process that reports how far the decode raised its peak resident size above what importing,
reading the file and a warm-up decode had already taken. The peak is Linux's VmHWM, which starts
afresh with the process's program; `ru_maxrss` would carry the parent's (pytest's) peak over.

Before the bounds, 16- and 32-bit greyscale went through several float copies of the whole image
(14 to 17 bytes a pixel), and a one-pixel strip of millions of lines cost Pillow a record per line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.images import encode, png_header_claiming

ROOT = Path(__file__).resolve().parents[2]

PIXELS = 4000 * 2500
# Pillow holds an image at up to 4 bytes a pixel (RGB included); the rest is the 8-bit copy and
# the region resampled. Slack for the allocator's arenas and numpy's first use.
BYTES_PER_PIXEL = 7
SLACK = 24 * 1024 * 1024

_MEASURE = """
import io, sys
import numpy as np
from PIL import Image
from adapters.images.decoding import DecodeLimits, Preprocessing, decode
from inference.errors import InvalidImage

spec = Preprocessing(224, 256, "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
limits = DecodeLimits(max_pixels=40_000_000, max_side=30_000, max_jpeg_scans=100)
warm = io.BytesIO()
Image.fromarray(np.zeros((64, 64), np.uint16)).save(warm, "PNG")
decode(warm.getvalue(), spec, limits)
data = open(sys.argv[1], "rb").read()

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak()
try:
    decode(data, spec, limits)
except InvalidImage as error:
    print(type(error).__name__, file=sys.stderr)
print(peak() - before)
"""


def _peak_growth(image: bytes, tmp_path: Path) -> int:
    """Bytes by which one decode of `image` raised a fresh process's peak resident size."""
    path = tmp_path / "image"
    path.write_bytes(image)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    return int(done.stdout) * 1024  # reported in kibibytes


def _image(mode: str) -> Image.Image:
    """A 4000 x 2500 gradient in `mode` that compresses well."""
    levels = (np.arange(PIXELS, dtype=np.uint32) % 65536).reshape(2500, 4000)
    if mode == "RGB":
        grey = Image.fromarray((levels % 256).astype(np.uint8))
        return Image.merge("RGB", [grey, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grey])
    return Image.fromarray(levels.astype(np.uint16 if mode == "I;16" else np.int32))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize(
    ("mode", "fmt"),
    [("I;16", "PNG"), ("I", "TIFF"), ("RGB", "PNG")],
    ids=["png-16-bit", "tiff-32-bit", "png-rgb"],
)
def test_one_decode_takes_at_most_a_few_bytes_a_pixel(mode: str, fmt: str, tmp_path: Path) -> None:
    image = _image(mode)
    assert image.mode == mode
    options = {"compression": "tiff_deflate"} if fmt == "TIFF" else {}

    assert _peak_growth(encode(image, fmt, **options), tmp_path) < BYTES_PER_PIXEL * PIXELS + SLACK


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_a_strip_of_forty_million_lines_is_refused_without_allocating_its_lines(tmp_path: Path) -> None:
    assert _peak_growth(png_header_claiming(1, 40_000_000), tmp_path) < SLACK
