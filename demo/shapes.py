"""Draw coloured shapes on muted backgrounds, the training data of the bundled demo model.

Classes depend on both colour and shape, so a preprocessing bug that swaps channels (RGB/BGR) or
crops the wrong region shows up as wrong answers. Every shape lies inside the centred square of
side 0.8 x the shorter image side, which timm's centre crop (crop_pct 0.875) always keeps whole.
"""

import colorsys
import io
import itertools
import math
import random
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

COLOURS: tuple[str, ...] = ("red", "green", "blue")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
LABELS: tuple[str, ...] = tuple(f"{c} {s}" for c, s in itertools.product(COLOURS, SHAPES))

# Class hues on colorsys's 0..1 wheel sit 1/3 apart; a jitter of a tenth of that keeps each unambiguous.
_HUES = {"red": 0.0, "green": 1 / 3, "blue": 2 / 3}
_HUE_JITTER = 0.035
_MIN_SIDE, _MAX_SIDE = 96, 320
_SAFE_FRACTION = 0.8  # side of the centred square every shape stays in, over the shorter image side
_SUPERSAMPLE = 2  # draw the shape mask larger, then downscale, for anti-aliased edges

Colour = tuple[int, int, int]


def _hsv(h: float, s: float, v: float) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def _class_colour(colour: str, rng: random.Random) -> Colour:
    hue = _HUES[colour] + rng.uniform(-_HUE_JITTER, _HUE_JITTER)
    return _hsv(hue, rng.uniform(0.65, 1.0), rng.uniform(0.5, 1.0))


def _muted(rng: random.Random) -> Colour:
    """A grey or muted tone: saturation this low is never mistaken for a class colour."""
    return _hsv(rng.random(), rng.uniform(0.0, 0.2), rng.uniform(0.25, 0.95))


def _background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A linear gradient between two muted tones at a random angle."""
    width, height = size
    start = np.array(_muted(rng), dtype=np.float32)
    end = start if rng.random() < 0.3 else np.array(_muted(rng), dtype=np.float32)
    angle = rng.uniform(0.0, 2 * math.pi)
    xs = np.arange(width, dtype=np.float32) * math.cos(angle)
    ys = np.arange(height, dtype=np.float32)[:, None] * math.sin(angle)
    ramp = xs + ys
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.0)
    gradient = start + (end - start) * ramp[..., None]
    return Image.fromarray((gradient + 0.5).astype(np.uint8), "RGB")


def _add_noise(image: Image.Image, rng: random.Random) -> Image.Image:
    noise = np.random.default_rng(rng.getrandbits(64))
    sigma = rng.uniform(2.0, 10.0)
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + sigma * noise.standard_normal(pixels.shape, dtype=np.float32)
    return Image.fromarray((np.clip(pixels, 0, 255) + 0.5).astype(np.uint8), "RGB")


def _outline(
    shape: str, centre: tuple[float, float], radius: float, rotation: float
) -> list[tuple[float, float]]:
    """The polygon of a square or triangle inscribed in the circle of the given radius."""
    corners = 4 if shape == "square" else 3
    angles = [rotation + 2 * math.pi * k / corners for k in range(corners)]
    return [(centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)) for a in angles]


def _shape_mask(shape: str, size: tuple[int, int], rng: random.Random) -> Image.Image:
    width, height = size
    short = min(width, height)
    # The circumscribed circle spans 35-75 % of the shorter side and stays in the safe square.
    radius = rng.uniform(0.35, 0.75) * short / 2
    slack = _SAFE_FRACTION * short / 2 - radius
    centre = (
        width / 2 + rng.uniform(-slack, slack),
        height / 2 + rng.uniform(-slack, slack),
    )
    k = _SUPERSAMPLE
    mask = Image.new("L", (width * k, height * k), 0)
    pen = ImageDraw.Draw(mask)
    big_centre, big_radius = (centre[0] * k, centre[1] * k), radius * k
    if shape == "circle":
        x, y = big_centre
        pen.ellipse((x - big_radius, y - big_radius, x + big_radius, y + big_radius), fill=255)
    else:
        pen.polygon(
            _outline(shape, big_centre, big_radius, rng.uniform(0.0, 2 * math.pi)),
            fill=255,
        )
    return mask.resize(size, Image.Resampling.BOX)


def _distractor_lines(image: Image.Image, rng: random.Random) -> None:
    pen = ImageDraw.Draw(image)
    width, height = image.size
    for _ in range(rng.randint(1, 3)):
        ends = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(2)]
        pen.line(ends, fill=_muted(rng), width=rng.randint(1, 2))


def random_size(rng: random.Random) -> tuple[int, int]:
    """A size between 96 and 320 px per side, at aspect ratios up to about 2:1 either way."""
    short = rng.randint(_MIN_SIDE, 224)
    long = min(_MAX_SIDE, round(short * rng.uniform(1.0, 2.0)))
    return (long, short) if rng.random() < 0.5 else (short, long)


def draw(label: str, rng: random.Random, size: tuple[int, int] | None = None) -> Image.Image:
    """One RGB image of the labelled shape; the same `rng` state always draws the same image."""
    colour, _, shape = label.partition(" ")
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {LABELS}")
    size = size or random_size(rng)
    image = _background(size, rng)
    mask = _shape_mask(shape, size, rng)
    image.paste(_class_colour(colour, rng), mask=mask)
    if rng.random() < 0.6:
        image = _add_noise(image, rng)
    if rng.random() < 0.4:
        _distractor_lines(image, rng)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    return image


def iter_dataset(n: int, seed: int) -> Iterator[tuple[Image.Image, int]]:
    """Yield `n` images with class indices into LABELS, balanced, shuffled by `seed`."""
    rng = random.Random(seed)
    classes = [i % len(LABELS) for i in range(n)]
    rng.shuffle(classes)
    for c in classes:
        yield draw(LABELS[c], rng), c


def draw_dataset(n: int, seed: int) -> list[tuple[Image.Image, int]]:
    """`n` images with class indices into LABELS, balanced over classes, shuffled by `seed`."""
    return list(iter_dataset(n, seed))


def draw_jpegs(
    count: int, seed: int, size: tuple[int, int] = (640, 480), quality: int = 90
) -> list[tuple[str, bytes]]:
    """`count` JPEGs of the classes in turn, with their labels: test and benchmark traffic."""
    rng = random.Random(seed)
    images = []
    for index in range(count):
        label = LABELS[index % len(LABELS)]
        out = io.BytesIO()
        draw(label, rng, size=size).save(out, "JPEG", quality=quality)
        images.append((label, out.getvalue()))
    return images
