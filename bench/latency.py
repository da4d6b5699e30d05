"""At light load, what the service adds to the model's own time, and how fast a long-poll hears.

    uv run python -m bench.latency [--architecture efficientnet_b0] [--size 320] [--requests 60]
                                   [--prefer-wait]

One client, one request at a time: POST a 640x480 JPEG, long-poll its result (with
`--prefer-wait`: ask for it in the POST's answer, `Prefer: wait=30`, as the Python client
does). Beside it, in the same run, the classifier alone (built as a worker builds it)
classifies the same images one by one. Overhead = end-to-end time - model time (decode and
forward pass). The long-poll's delay is the client's clock when the GET (or the POST) returned
minus the record's `completed_at` (one machine, one clock): how long after the worker stored the
result its client heard of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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
from tests.harness import percentiles
from tests.harness.cluster import launched


def model_times_ms(manifest: Path, images: list[bytes]) -> list[float]:
    classifier = create_container(Settings(model={"manifest": manifest})).classifier()
    times = []
    for image in [images[0], *images]:  # the first warms up
        request = InferenceRequest(RequestId.new(), image, "image/jpeg", 5, datetime.now(UTC))
        began = time.perf_counter()
        classifier.classify([request])
        times.append(1000 * (time.perf_counter() - began))
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=320, help="the model's input size")
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--prefer-wait", action="store_true", help="the result in the POST's answer")
    args = parser.parse_args()
    wait = 30 if args.prefer_wait else 0

    distinct = [data for _, data in draw_jpegs(12, seed=5, size=(640, 480))]
    images = [distinct[i % len(distinct)] for i in range(args.requests)]
    with tempfile.TemporaryDirectory() as directory:
        write_model(Path(directory), args.architecture, args.size)
        manifest = Path(directory) / "model.yaml"
        model = model_times_ms(manifest, images)
        with launched(env={"INFERENCE_MODEL__MANIFEST": str(manifest)}) as cluster:
            asyncio.run(closed_loop(cluster.api_url, images[:5], 1, True, prefer_wait=wait))  # warm up
            outcomes = asyncio.run(closed_loop(cluster.api_url, images, 1, True, prefer_wait=wait))
    done = [o for o in outcomes if o.finished is not None and o.finished_wall is not None and o.record]
    e2e = [1000 * (o.finished - o.sent) for o in done if o.finished is not None]
    heard = [
        1000 * (o.finished_wall - datetime.fromisoformat(o.record["completed_at"]).timestamp())
        for o in done
        if o.finished_wall is not None and o.record
    ]
    accepted = [1000 * (o.answered - o.sent) for o in done]
    model_p50 = statistics.median(model)
    figures: dict[str, Any] = {
        "model": f"{args.architecture} at {args.size}",
        "requests": len(outcomes),
        "completed": len(done),
        "model_ms": percentiles(model),
        "end_to_end_ms": percentiles(e2e),
        "overhead_ms": {key: value - model_p50 for key, value in percentiles(e2e).items()},
        "long_poll_after_completion_ms": percentiles(heard),
        "accepted_ms": percentiles(accepted),
    }
    how = "the result in the POST's answer" if args.prefer_wait else "long-polled"
    print(
        f"latency at light load: {figures['model']}, {len(done)}/{len(outcomes)} requests,"
        f" one at a time, {how}"
    )
    print(f"{'':32} {'p50':>7} {'p95':>7} {'p99':>7}")
    rows = [
        ("model alone (decode + forward)", "model_ms"),
        ("end to end (POST → result)", "end_to_end_ms"),
        ("overhead (end to end - model)", "overhead_ms"),
        *([] if args.prefer_wait else [("of which the POST's 202", "accepted_ms")]),
        (
            "answer after completion" if args.prefer_wait else "long-poll return after completion",
            "long_poll_after_completion_ms",
        ),
    ]
    for label, key in rows:
        row = figures[key]
        print(f"{label:32} {row['p50']:7.1f} {row['p95']:7.1f} {row['p99']:7.1f}  ms")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
