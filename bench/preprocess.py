"""Preprocessing speed per image: encoded JPEG → the batch array the model reads.

    uv run python -m bench.preprocess [--images 24] [--batch-size 8] [--rounds 5] [--size 320]
                                      [--threads 1,2] [--json out.json]

EfficientNet-B0's eval transform (a 320 px centre crop of the image resized to 365, bicubic,
ImageNet normalisation) on quality-90 photos of 1920 x 1080 and 640 x 480 (demo.shapes), for:

- naive: timm's `create_transform` on each fully decoded `Image.open`, then `torch.stack`;
- previous: the plain Pillow + numpy path, the baseline BatchDecoder's work is measured against:
  draft mode, resize the whole image, crop, four float passes and a transposing copy per image,
  then `np.stack`;
- BatchDecoder with 1 and 2 threads: draft mode, one resample of the cropped region, one lookup
  pass into the preallocated batch, images spread over the threads.

ms/image is a batch's time over its size. The methods take turns in rounds because a shared
machine's speed drifts; each figure is the median over rounds. torch runs on one thread, like
the other single-threaded methods.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import PIL
import torch
from PIL import Image, ImageOps
from PIL.JpegImagePlugin import JpegImageFile
from timm.data.transforms_factory import create_transform

from adapters.images.decoding import BatchDecoder, DecodeLimits, Preprocessing
from adapters.images.opening import open_image
from demo.shapes import draw_jpegs
from entrypoints.settings import ApiSettings
from inference.media import check_size

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SIZES = ((1920, 1080), (640, 480))
LIMITS = DecodeLimits(ApiSettings().max_pixels, ApiSettings().max_side, ApiSettings().max_jpeg_scans)

Batch = Callable[[Sequence[bytes]], object]


def naive(spec: Preprocessing) -> Batch:
    transform = create_transform(
        input_size=(3, spec.input_size, spec.input_size),
        interpolation=spec.interpolation,
        crop_pct=spec.input_size / spec.resize_size,
        mean=MEAN,
        std=STD,
        is_training=False,
    )

    def run(images: Sequence[bytes]) -> object:
        return torch.stack([transform(Image.open(io.BytesIO(data)).convert("RGB")) for data in images])

    return run


def _previous_decode(data: bytes, spec: Preprocessing) -> npt.NDArray[np.float32]:
    """adapters/image_decoding.decode as it was, for the RGB JPEGs of this benchmark."""
    with open_image(data) as (image, _):
        check_size(image.width, image.height, 40_000_000, 30_000)
        if isinstance(image, JpegImageFile):
            image.draft("RGB", (spec.resize_size, spec.resize_size))
        rgb = ImageOps.exif_transpose(image)  # a copy even when there is nothing to turn
        width, height = rgb.size
        size, crop = spec.resize_size, spec.input_size
        resized = (
            (size, int(size * height / width)) if width <= height else (int(size * width / height), size)
        )
        left, top = round((resized[0] - crop) / 2.0), round((resized[1] - crop) / 2.0)
        resample = Image.Resampling.BICUBIC if spec.interpolation == "bicubic" else Image.Resampling.BILINEAR
        cropped = rgb.resize(resized, resample).crop((left, top, left + crop, top + crop))
        pixels = np.asarray(cropped, dtype=np.float32)
    pixels *= 1.0 / 255.0
    pixels -= np.asarray(spec.mean, dtype=np.float32)
    pixels /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def previous(spec: Preprocessing) -> Batch:
    def run(images: Sequence[bytes]) -> object:
        return np.stack([_previous_decode(data, spec) for data in images])

    return run


def batch_decoder(decoder: BatchDecoder) -> Batch:
    def run(images: Sequence[bytes]) -> object:
        return decoder.decode(images)

    return run


def ms_per_image(run: Batch, images: list[bytes], batch_size: int) -> float:
    started = time.perf_counter()
    for offset in range(0, len(images), batch_size):
        run(images[offset : offset + batch_size])
    return 1000 * (time.perf_counter() - started) / len(images)


def measure(methods: dict[str, Batch], images: list[bytes], batch_size: int, rounds: int) -> dict[str, float]:
    for run in methods.values():
        run(images[:batch_size])  # warm caches, the pool's threads, timm's imports
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, run in methods.items():
            times[name].append(ms_per_image(run, images, batch_size))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=24, help="photos per size")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=320, help="the model's input size; resize to size/0.875")
    parser.add_argument("--threads", default="1,2", help="BatchDecoder thread counts, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    spec = Preprocessing(args.size, int(args.size / 0.875), "bicubic", MEAN, STD)
    thread_counts = [int(count) for count in args.threads.split(",")]
    decoders = {count: BatchDecoder(spec, limits=LIMITS, threads=count) for count in thread_counts}
    methods = {
        "naive: timm transform, full decode": naive(spec),
        "previous: draft, resize, crop, stack": previous(spec),
    } | {
        f"BatchDecoder, {count} thread{'s' * (count > 1)}": batch_decoder(decoder)
        for count, decoder in decoders.items()
    }
    figures: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "versions": {"pillow": PIL.__version__, "numpy": np.__version__, "torch": torch.__version__},
        "transform": f"{spec.input_size} px centre crop of {spec.resize_size}, {spec.interpolation}",
        "images": f"{args.images} JPEGs per size, quality 90, batches of {args.batch_size}",
        "rounds": args.rounds,
    }
    results: dict[str, dict[str, float]] = {}
    try:
        for width, height in SIZES:
            images = [data for _, data in draw_jpegs(args.images, seed=7, size=(width, height), quality=90)]
            results[f"{width}x{height}"] = measure(methods, images, args.batch_size, args.rounds)
    finally:
        for decoder in decoders.values():
            decoder.close()
    figures["ms_per_image"] = results

    print(f"{figures['transform']}; {figures['images']}; {figures['machine']}; median of {args.rounds}")
    columns = list(results)
    print(f"{'':40}" + "".join(f"{column:>22}" for column in columns))
    print(f"{'':40}" + "   ms/image  speed-up" * len(columns))
    baseline = next(iter(methods))
    for name in methods:
        cells = "".join(
            f"{results[column][name]:11.2f}{results[column][baseline] / results[column][name]:9.1f}x "
            for column in columns
        )
        print(f"{name:40}{cells}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
