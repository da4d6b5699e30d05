"""What the API, the broker and the store carry: the distributed pipeline with a classifier that
does no work, so every request costs only HTTP, RabbitMQ, Redis and the worker loop.

    uv run python -m bench.capacity [--requests 6000] [--clients 64] [--workers 1] [--json out.json]

Clients POST real JPEGs as fast as the API takes them (closed loop, no retries); afterwards
every accepted request's record is read back. Completed requests/s runs from the first
acceptance to the last completion, by the service's own timestamps; "lost" counts accepted
requests with no terminal record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.load import account, closed_loop, settle
from bench.stack import Stack
from demo.shapes import draw_jpegs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=64, help="concurrent submitting clients")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", default="640x480", help="JPEG size, WxH")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    width, height = (int(n) for n in args.size.split("x"))
    distinct = draw_jpegs(64, seed=7, size=(width, height))
    images = [distinct[i % len(distinct)][1] for i in range(args.requests)]
    worker = [sys.executable, "-m", "bench.noop_worker"]
    with Stack(workers=args.workers, worker_command=worker) as stack:
        began = time.monotonic()
        outcomes = asyncio.run(closed_loop(stack.url, images, args.clients, wait_for_results=False))
        submitting = time.monotonic() - began
        asyncio.run(settle(stack.url, outcomes))
    result = account(outcomes)
    average_kib = sum(map(len, images)) / len(images) / 1024
    figures = {
        "machine": f"{os.cpu_count()} CPUs",
        "images": f"{len(distinct)} distinct JPEGs, {args.size}, {average_kib:.0f} KiB on average",
        "workers": args.workers,
        "clients": args.clients,
        "accepted_per_second": result.accepted / submitting,
        **asdict(result),
    }
    print(f"capacity, do-nothing classifier: {args.workers} worker(s), {args.clients} clients")
    print(f"  {figures['images']}")
    print(f"  submitted                {result.submitted:8d}")
    print(f"  accepted (202)           {result.accepted:8d}   refused {result.refused or 'none'}")
    print(f"  accepted/s               {figures['accepted_per_second']:8.0f}")
    print(f"  completed/s              {result.completed_per_second:8.0f}")
    print(f"  succeeded / failed       {result.succeeded:8d} / {result.failed}")
    print(f"  lost / duplicated        {result.lost:8d} / {result.duplicated}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
