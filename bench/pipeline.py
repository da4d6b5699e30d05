"""End to end through HTTP → RabbitMQ → worker(s) → Redis, against in-process `classify()`.

    uv run python -m bench.pipeline [--architecture efficientnet_b0] [--size 320]
                                    [--images 240] [--clients 8] [--workers 1] [--json out.json]

For each image size (real JPEGs, 640x480 and 1920x1080): first the classifier alone, built by
the container exactly as a worker builds it (same backend, threads and batch size), classifying
the images in batches; then the distributed service (`inference api` + `inference worker` as
processes, on the local RabbitMQ and Redis) with clients that each POST an image and long-poll
its result, in a steady closed loop. Completed images/s, time to result, and the ratio of the two.
The model has random weights: a model's speed does not depend on what it learnt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import closed_loop
from bench.model import write_model
from demo.shapes import draw_jpegs
from entrypoints.container import create_container
from entrypoints.settings import Settings
from inference.domain import InferenceRequest, RequestId
from tests.harness.cluster import launched
from tests.harness.ledger import account

SIZES = ((640, 480), (1920, 1080))


def in_process(manifest: Path, images: list[bytes], rounds: int = 2) -> dict[str, Any]:
    """Images/s of `classify()` in the worker's batch size, the best of `rounds` passes."""
    settings = Settings(model={"manifest": manifest})
    classifier = create_container(settings).classifier()
    batch_size = settings.worker.max_batch_size
    requests = [
        InferenceRequest(RequestId.new(), image, "image/jpeg", 5, datetime.now(UTC)) for image in images
    ]
    classifier.classify(requests[:batch_size])  # warm up this batch shape
    best = 0.0
    for _ in range(rounds):
        began = time.perf_counter()
        for offset in range(0, len(requests), batch_size):
            classifier.classify(requests[offset : offset + batch_size])
        best = max(best, len(requests) / (time.perf_counter() - began))
    return {"images_per_second": best, "batch_size": batch_size, "backend": settings.model.backend}


def end_to_end(
    manifest: Path, images: list[bytes], clients: int, workers: int, env: dict[str, str] | None = None
) -> dict[str, Any]:
    with launched(workers, env={"INFERENCE_MODEL__MANIFEST": str(manifest), **(env or {})}) as cluster:
        asyncio.run(
            closed_loop(cluster.api_url, images[: clients * 2], clients, wait_for_results=True)
        )  # warm
        began = time.monotonic()
        outcomes = asyncio.run(closed_loop(cluster.api_url, images, clients, wait_for_results=True))
        elapsed = time.monotonic() - began
    result = account(outcomes)
    return {
        "images_per_second": (result.succeeded + sum(result.failed.values())) / elapsed,
        "time_to_result_ms": result.time_to_result_ms,
        "accepted": result.accepted,
        "succeeded": result.succeeded,
        "lost": len(result.lost),
        "refused": result.refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=320, help="the model's input size")
    parser.add_argument("--images", type=int, default=240, help="per image size")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    figures: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPUs",
        "model": f"{args.architecture} at {args.size}",
    }
    with tempfile.TemporaryDirectory() as directory:
        manifest = write_model(Path(directory), args.architecture, args.size)
        path = Path(directory) / "model.yaml"
        print(f"pipeline: {manifest.name} at {args.size} px, random weights; {figures['machine']}")
        print(
            f"{'JPEG':>10} {'in-process':>11} {'end to end':>11} {'ratio':>6}   time to result p50/p95/p99 ms"
        )
        for width, height in SIZES:
            distinct = [data for _, data in draw_jpegs(24, seed=11, size=(width, height))]
            images = [distinct[i % len(distinct)] for i in range(args.images)]
            alone = in_process(path, images)
            e2e = end_to_end(path, images, args.clients, args.workers)
            ratio = e2e["images_per_second"] / alone["images_per_second"]
            figures[f"{width}x{height}"] = {"in_process": alone, "end_to_end": e2e, "ratio": ratio}
            t = e2e["time_to_result_ms"]
            print(
                f"{width}x{height:<5} {alone['images_per_second']:9.1f}/s {e2e['images_per_second']:9.1f}/s"
                f" {ratio:6.0%}   {t['p50']:.0f} / {t['p95']:.0f} / {t['p99']:.0f}"
                f"   (lost {e2e['lost']}, backend {alone['backend']}, batch {alone['batch_size']})"
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
