"""End to end through HTTP → RabbitMQ → worker(s) → Redis, against in-process `classify()`.

    uv run python -m bench.pipeline [--architecture efficientnet_b0] [--sizes 224,320]
                                    [--jpegs 640x480,1920x1080] [--images 240] [--clients 8]
                                    [--workers 1] [--metrics on|off|both] [--private-servers]
                                    [--prefer-wait off|on|both] [--rounds 1] [--json out.json]

For each model input size and each JPEG size (real JPEGs): the classifier alone, built by
the container exactly as a worker builds it (same backend, threads and batch size), classifying
the images in batches, before and after the distributed service (`inference api` + `inference worker` as
processes, on the local RabbitMQ and Redis) with clients that each POST an image and long-poll
its result, in a steady closed loop. Completed images/s, time to result, and the ratio of the two.

Beside the ratio, how much of the run each worker's classifier was busy (decoding and the model,
from the worker's metrics: the rest is the model waiting for work); how much of the machine's CPU
time was idle, with the service and with `classify()` alone (idle beside the service is CPU the
model could have had); and the fixed CPU per request of each process: what the API, RabbitMQ and
Redis spent per request, and the worker's CPU per request less the classifier's own CPU per image
(measured in-process); "fixed" is their sum (the shared servers count others' work too: see
`--private-servers` in bench.capacity), what a request costs besides its model. With
`--metrics both` the service runs with metrics off, then on, and their ratio is printed.
`--prefer-wait on` has each client ask for its result in the POST's answer (`Prefer: wait=30`,
as the Python client's `classify` does), one HTTP request per image instead of two; `both` runs
the two ways in turn.
`--rounds N` runs each configuration N times, `classify()` alone between the service's runs (each
ratio against the faster of the two beside it), and prints the median ratio and fixed CPU: on a
machine whose neighbours come and go, one run's ratio can be 15 points off its median.
The model has random weights: a model's speed does not depend on what it learnt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cpu import CpuMeter, cpu_clock, idle_share, own_cpu_seconds, server_pids
from bench.load import closed_loop
from bench.model import write_model
from bench.pipeline_report import medians, report
from bench.servers import SHARED, Servers, servers
from demo.shapes import draw_jpegs
from entrypoints.container import create_container
from entrypoints.settings import Settings
from inference.domain import InferenceRequest, RequestId
from tests.harness.cluster import launched
from tests.harness.ledger import account


def in_process(manifest: Path, images: list[bytes], rounds: int = 2) -> dict[str, Any]:
    """Images/s of `classify()` in the worker's batch size, the best of `rounds` passes."""
    settings = Settings(model={"manifest": manifest})
    container = create_container(settings)  # held: its resources (the decoding pool) live with it
    classifier = container.classifier()
    batch_size = settings.worker.max_batch_size
    requests = [
        InferenceRequest(RequestId.new(), image, "image/jpeg", 5, datetime.now(UTC)) for image in images
    ]
    classifier.classify(requests[:batch_size])  # warm up this batch shape
    best, cpu_us, idle = 0.0, float("inf"), 1.0
    for _ in range(rounds):
        began, cpu_before, clock_before = time.perf_counter(), own_cpu_seconds(), cpu_clock()
        for offset in range(0, len(requests), batch_size):
            classifier.classify(requests[offset : offset + batch_size])
        best = max(best, len(requests) / (time.perf_counter() - began))
        cpu_us = min(cpu_us, 1e6 * (own_cpu_seconds() - cpu_before) / len(requests))
        idle = min(idle, idle_share(clock_before, cpu_clock()))
    return {
        "images_per_second": best,
        "cpu_us_per_image": cpu_us,
        "idle": idle,
        "batch_size": batch_size,
        "backend": settings.model.backend,
    }


def end_to_end(
    manifest: Path,
    images: list[bytes],
    clients: int,
    workers: int,
    env: dict[str, str] | None = None,
    on: Servers = SHARED,
    prefer_wait: int = 0,
) -> dict[str, Any]:
    env = {"INFERENCE_MODEL__MANIFEST": str(manifest), **(env or {})}
    with launched(workers, env=env, rabbitmq_url=on.rabbitmq_url, redis_url=on.redis_url) as cluster:
        assert cluster.api is not None
        asyncio.run(
            closed_loop(cluster.api_url, images[: clients * 2], clients, True, prefer_wait=prefer_wait)
        )  # warm
        pids = {"api": cluster.api.pid, **server_pids(on.rabbitmq_marker, on.redis_marker)}
        meter = CpuMeter(pids | {f"worker-{n}": p.pid for n, p in enumerate(cluster.workers)})
        urls = [worker.metrics_url for worker in cluster.workers]  # type: ignore[attr-defined]
        classifier_before = [classifier_seconds(url) for url in urls]
        meter.start()
        began, clock_before = time.monotonic(), cpu_clock()
        outcomes = asyncio.run(closed_loop(cluster.api_url, images, clients, True, prefer_wait=prefer_wait))
        elapsed, idle = time.monotonic() - began, idle_share(clock_before, cpu_clock())
        spent = meter.stop()
        classifier_spent = [
            None if before is None or after is None else after - before
            for before, after in zip(classifier_before, map(classifier_seconds, urls), strict=True)
        ]
    result = account(outcomes)
    return {
        "cpu_us_per_request": {name: 1e6 * seconds / len(images) for name, seconds in spent.items()},
        "images_per_second": (result.succeeded + sum(result.failed.values())) / elapsed,
        "time_to_result_ms": result.time_to_result_ms,
        "accepted": result.accepted,
        "succeeded": result.succeeded,
        "lost": len(result.lost),
        "refused": result.refused,
        # The share of the run each worker's classifier was busy (decoding and the model): what
        # is left is the model waiting for work. None with metrics off.
        "classifier_busy": [None if busy is None else busy / elapsed for busy in classifier_spent],
        # The share of the machine's CPU time left idle while the service ran: CPU the model
        # could have had (`classify()` alone leaves some idle too: its "idle").
        "idle": idle,
    }


def classifier_seconds(metrics_url: str) -> float | None:
    """A worker's classifier time so far (decoding and forward passes), from its /metrics; None
    when it serves none (metrics off)."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:  # noqa: S310 (our own worker)
            text = response.read().decode()
    except OSError:
        return None
    sums = ("inference_preprocess_seconds_sum", "inference_model_seconds_sum")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sums))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--sizes", default="224,320", help="the model's input sizes, px")
    parser.add_argument("--jpegs", default="640x480,1920x1080", help="JPEG sizes, WxH")
    parser.add_argument("--images", type=int, default=240, help="per image size")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--metrics", choices=("on", "off", "both"), default="on")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each configuration, classify() alone between them"
    )
    parser.add_argument("--private-servers", action="store_true", help="a RabbitMQ and a Redis of its own")
    parser.add_argument(
        "--prefer-wait",
        choices=("off", "on", "both"),
        default="off",
        help="on: the result in the POST's answer (Prefer: wait=30), not a long-poll after it",
    )
    args = parser.parse_args()
    with servers(args.private_servers) as args.servers:
        run(args)


def run(args: argparse.Namespace) -> None:

    figures: dict[str, Any] = {"machine": f"{os.cpu_count()} CPUs", "architecture": args.architecture}
    jpegs = [tuple(int(n) for n in size.split("x")) for size in args.jpegs.split(",")]
    metrics = {"on": ["true"], "off": ["false"], "both": ["false", "true"]}[args.metrics]
    waits = {"on": [30], "off": [0], "both": [0, 30]}[args.prefer_wait]
    for size in (int(px) for px in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as directory:
            manifest = write_model(Path(directory), args.architecture, size)
            path = Path(directory) / "model.yaml"
            print(f"pipeline: {manifest.name} at {size} px, random weights; {figures['machine']}")
            print(
                f"{'JPEG':>10} {'metrics':>7} {'result':>7} {'in-process':>11} {'end to end':>11}"
                f" {'ratio':>6} {'busy':>5} {'idle':>9}"
                "   fixed CPU µs per request (worker: less the model)   time to result p50/p99 ms"
            )
            for width, height in jpegs:
                distinct = [data for _, data in draw_jpegs(24, seed=11, size=(width, height))]
                images = [distinct[i % len(distinct)] for i in range(args.images)]
                for enabled, wait in ((enabled, wait) for enabled in metrics for wait in waits):
                    env = {"INFERENCE_METRICS__ENABLED": enabled}
                    how = (
                        f"{width}x{height}",
                        "on" if enabled == "true" else "off",
                        "prefer" if wait else "poll",
                    )
                    # classify() alone before and after each run of the service, the faster of the
                    # two: on a shared machine, load that comes and goes then lowers the ratio,
                    # never raises it.
                    alone_runs, rows = [in_process(path, images)], []
                    for _ in range(args.rounds):
                        e2e = end_to_end(path, images, args.clients, args.workers, env, args.servers, wait)
                        alone_runs.append(in_process(path, images))
                        alone = max(alone_runs[-2:], key=lambda run: run["images_per_second"])
                        rows.append(report(alone, e2e, *how))
                    key = f"{size}px {width}x{height} metrics {how[1]} result {how[2]}"
                    figures[key] = rows[0] if len(rows) == 1 else {"rounds": rows, **medians(rows)}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
