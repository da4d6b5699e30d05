"""INT8 on the model the service serves: the bundled ImageNet EfficientNet-Lite0, with its real
weights, quantized as `inference quantize` does, against the same model in fp32, both on OpenVINO.

    uv run python -m bench.int8_served [--rounds 5] [--seconds 4] [--threshold 0.99] [--json out.json]

Calibration and held-out sets are scikit-image's photos with crops and mirror images, split as
the tests split them (the held-out photos are the ones the tests know the labels of), so the
agreement printed is the one the tests assert. Two speeds, in alternating rounds:

- images/s as the service runs them (its default threads, the "auto" hint), best batch size
  against best batch size: what a worker gains;
- CPU milliseconds per image on one thread, one image at a time: the work itself, which holds
  steady on a shared machine where wall-clock rates swing with the neighbours' load.

`bench.model` has the same rows for any architecture with random weights (`--architecture`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data

from adapters.images import crops_and_mirrors
from adapters.model.manifest import load_manifest
from adapters.model.openvino_classifier import OpenVINOClassifier
from adapters.model.quantize import quantize_images
from bench.timing import timed_calls
from entrypoints.quantize_command import DEFAULT_SAMPLES, DEFAULT_THRESHOLD
from entrypoints.settings import IMAGENET_MANIFEST
from tests.e2e.serving import ACCEPTABLE
from tests.harness.checkpoints import decoder_for, runtime

BATCH_SIZES = (1, 2, 4, 8)


def photo_sets() -> tuple[list[tuple[str, bytes]], list[bytes]]:
    """(calibration as named images, held-out images): every photo with its crops and mirrors."""
    folder = Path(skimage.data.__file__).parent
    calibration: list[tuple[str, bytes]] = []
    held_out: list[bytes] = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".png", ".jpg") or "GRAY" in path.name:
            continue
        variants = [path.read_bytes(), *crops_and_mirrors(path.read_bytes())]
        if path.name in ACCEPTABLE:
            held_out += variants
        else:
            calibration += [(f"{path.stem} {index}", data) for index, data in enumerate(variants)]
    return calibration, held_out


def cpu_ms_per_image(classifier: OpenVINOClassifier, image: np.ndarray, seconds: float) -> float:
    classifier.probabilities(image)
    runs, started = 0, time.process_time()
    while time.process_time() - started < seconds:
        classifier.probabilities(image)
        runs += 1
    return 1000 * (time.process_time() - started) / runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per cell, over all rounds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="the agreement to keep the INT8 model at, as `inference quantize --threshold` (lower it to "
        "time int8 on a CPU without VNNI, where the ImageNet model stays under the default)",
    )
    args = parser.parse_args()

    manifest = load_manifest(IMAGENET_MANIFEST)
    decoder = decoder_for(manifest)
    calibration, held_out = photo_sets()
    with tempfile.TemporaryDirectory() as directory:
        cache = Path(directory)
        done = quantize_images(
            manifest,
            decoder,
            cache,
            calibration,
            held_out,
            threshold=args.threshold,
            samples=DEFAULT_SAMPLES,
        )
        if done.folder is None:
            raise SystemExit(f"the INT8 model agreed with fp32 on only {done.agreement:.1%}; nothing to time")
        print(f"{manifest.name}: top-1 agreement {done.agreement:.1%} on {done.held_out} held-out images")
        models = {
            precision: {
                "service": OpenVINOClassifier(
                    manifest, decoder, cache, int8_model=int8, **runtime(precision=precision)
                ),
                "one thread": OpenVINOClassifier(
                    manifest,
                    decoder,
                    cache,
                    int8_model=int8,
                    hint="latency",
                    **runtime(precision=precision, threads=1),
                ),
            }
            for precision, int8 in (("fp32", None), ("int8", done.folder))
        }
        pixels, _ = decoder.decode(held_out[: max(BATCH_SIZES)])
        rates: dict[str, dict[int, list[float]]] = {p: {b: [] for b in BATCH_SIZES} for p in models}
        cpu: dict[str, list[float]] = {p: [] for p in models}
        cell = args.seconds / args.rounds
        for _ in range(args.rounds):
            for precision, pair in models.items():
                for batch in BATCH_SIZES:
                    chunk = np.ascontiguousarray(pixels[:batch])
                    pair["service"].probabilities(chunk)
                    elapsed, calls = timed_calls(lambda: pair["service"].probabilities(chunk), cell)  # noqa: B023
                    rates[precision][batch].append(batch * len(calls) / elapsed)
                cpu[precision].append(cpu_ms_per_image(pair["one thread"], pixels[:1], cell))
    report(rates, cpu, done.agreement, args.json)


def report(
    rates: dict[str, dict[int, list[float]]], cpu: dict[str, list[float]], agreement: float, out: Path | None
) -> None:
    print(
        "| precision | " + " | ".join(f"batch {b} img/s" for b in BATCH_SIZES) + " | CPU ms/img, 1 thread |"
    )
    print("|---" * (len(BATCH_SIZES) + 2) + "|")
    for precision, by_batch in rates.items():
        cells = " | ".join(f"{statistics.median(r):.1f}" for r in by_batch.values())
        print(f"| {precision} | {cells} | {statistics.median(cpu[precision]):.2f} |")
    # Per round: best batch against best batch, then the median over rounds.
    rounds = len(cpu["fp32"])
    best = {
        p: [max(by_batch[b][i] for b in BATCH_SIZES) for i in range(rounds)] for p, by_batch in rates.items()
    }
    speed_up = statistics.median(i / f for i, f in zip(best["int8"], best["fp32"], strict=True))
    cpu_ratio = statistics.median(f / i for f, i in zip(cpu["fp32"], cpu["int8"], strict=True))
    print(f"int8 / fp32, best batch against best batch: {speed_up:.2f}× (median of {rounds} rounds)")
    print(f"int8 / fp32, CPU per image on one thread:   {cpu_ratio:.2f}×")
    if out:
        figures = {
            "agreement": agreement,
            "rates": rates,
            "cpu_ms": cpu,
            "speed_up": speed_up,
            "cpu_speed_up": cpu_ratio,
        }
        out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
