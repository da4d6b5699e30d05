"""Embedded mode, end to end versus the classifier alone, on the same images in the same run.

    uv run python -m bench.embedded [--images 200] [--clients 16] [--json out.json]

1. In-process: `TimmClassifier.classify` on the demo model, batch sizes 1, 4 and 8.
2. End to end: `inference serve` in its own process; clients POST the same JPEGs over HTTP and
   long-poll for each result. Completed images/s and time to result, and the ratio to (1).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

from adapters.images import DecodeLimits
from adapters.model.manifest import load_manifest
from adapters.model.timm_classifier import TimmClassifier
from demo.shapes import draw_jpegs
from entrypoints.container import make_decoder
from entrypoints.settings import DEMO_MANIFEST, ApiSettings
from inference.domain import InferenceRequest, RequestId
from tests.harness import SUBMIT, percentile
from tests.harness.checkpoints import runtime
from tests.harness.cluster import inference_serve


def in_process(images: list[tuple[str, bytes]], batch_size: int, classifier: TimmClassifier) -> float:
    requests = [
        InferenceRequest(RequestId.new(), data, "image/jpeg", 1, datetime.now(UTC)) for _, data in images
    ]
    classifier.classify(requests[:batch_size])  # warm caches for this batch shape
    start = time.perf_counter()
    for offset in range(0, len(requests), batch_size):
        classifier.classify(requests[offset : offset + batch_size])
    return len(requests) / (time.perf_counter() - start)


def end_to_end(images: list[tuple[str, bytes]], clients: int, batch_size: int) -> dict[str, float]:
    env = {"INFERENCE_WORKER__MAX_BATCH_SIZE": str(batch_size), "INFERENCE_LOG_LEVEL": "WARNING"}
    with inference_serve(timeout=120, env=env) as (url, _), httpx.Client(base_url=url, timeout=60) as client:

        def one(item: tuple[str, bytes]) -> tuple[float, bool]:
            label, data = item
            began = time.perf_counter()
            location = client.post(SUBMIT, content=data, headers={"content-type": "image/jpeg"}).headers[
                "location"
            ]
            body = client.get(location, params={"wait": 30}).json()
            return time.perf_counter() - began, body["status"] == "succeeded" and body["result"][
                "label"
            ] == label

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            outcomes = list(pool.map(one, images))
        elapsed = time.perf_counter() - start
    latencies = [latency for latency, _ in outcomes]
    return {
        "images_per_second": len(images) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "correct": sum(ok for _, ok in outcomes) / len(outcomes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4, help="the worker's max batch size end to end")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    images = draw_jpegs(args.images, seed=31337, size=(640, 480))
    api = ApiSettings()
    limits = DecodeLimits(api.max_pixels, api.max_side, api.max_jpeg_scans)
    classifier = TimmClassifier(
        demo := load_manifest(DEMO_MANIFEST), make_decoder(demo, limits, 2), compile=False, **runtime()
    )
    figures: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPUs, torch threads {__import__('torch').get_num_threads()}",
        "images": f"{args.images} JPEGs, 640x480, quality 90; demo model (tinynet_e, 64 px)",
    }
    print(f"{figures['images']}\n{figures['machine']}\n")
    print("in-process classify()           images/s")
    for batch_size in (1, 4, 8):
        rate = in_process(images, batch_size, classifier)
        figures[f"in_process_batch_{batch_size}"] = rate
        print(f"  batch {batch_size:<2}                       {rate:8.1f}")
    del classifier

    e2e = end_to_end(images, args.clients, args.batch_size)
    figures["end_to_end"] = e2e
    baseline = float(figures[f"in_process_batch_{args.batch_size}"])  # type: ignore[arg-type]
    ratio = e2e["images_per_second"] / baseline
    figures["end_to_end_over_in_process"] = ratio
    print(
        f"\nend to end (HTTP, embedded worker, batch {args.batch_size}, {args.clients} clients)\n"
        f"  completed images/s              {e2e['images_per_second']:8.1f}  ({ratio:.0%} of in-process)\n"
        f"  time to result p50 / p95 (ms)   {e2e['p50_ms']:8.1f} / {e2e['p95_ms']:.1f}\n"
        f"  correct labels                  {e2e['correct']:8.1%}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
