"""What the API, the broker and the store carry: the distributed pipeline with a classifier that
does no work, so every request costs only HTTP, RabbitMQ, Redis and the worker loop.

    uv run python -m bench.capacity [--requests 8000] [--clients 64] [--workers 1] [--json out.json]
                                    [--metrics on|off|both]

Clients POST real JPEGs as fast as the API takes them (closed loop, no retries); afterwards
every accepted request's record is read back. Completed requests/s runs from the first
acceptance to the last completion, by the service's own timestamps; "lost" counts accepted
requests with no terminal record. The worker takes batches of up to 32 (`--worker-batch`):
with no model, a batch costs only its store and broker round trips. CPU time per request is
read for each process (the API, the workers, the local RabbitMQ and Redis, this client), to
show where a request's cost goes. `--metrics both` runs it with metrics off, then on, and
prints their ratio: what the instrumentation costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.load import closed_loop, settle
from demo.shapes import draw_jpegs
from tests.harness import percentiles
from tests.harness.cluster import launched
from tests.harness.ledger import account


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids() -> dict[str, int]:
    """The local RabbitMQ and Redis servers' processes, where found (for CPU accounting)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        for name, program in (("rabbitmq", b"beam.smp"), ("redis", b"redis-server")):
            if program in command.split(b"\0")[0]:
                found.setdefault(name, int(entry.name))
    return found


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=64, help="concurrent submitting clients")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-batch", type=int, default=32, help="the workers' max batch size")
    parser.add_argument("--size", default="640x480", help="JPEG size, WxH")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--metrics", choices=("on", "off", "both"), default="on", help="both: off, then on, and their ratio"
    )
    args = parser.parse_args()

    width, height = (int(n) for n in args.size.split("x"))
    distinct = draw_jpegs(64, seed=7, size=(width, height))
    images = [distinct[i % len(distinct)][1] for i in range(args.requests)]
    runs = {"on": ["true"], "off": ["false"], "both": ["false", "true"]}[args.metrics]
    all_figures = [measure(args, images, distinct, metrics) for metrics in runs]
    if len(all_figures) == 2:
        off, on = all_figures
        for rate in ("accepted_per_second", "completed_per_second"):
            print(f"metrics on / off, {rate.replace('_', ' ')}: {on[rate] / off[rate]:.3f}")
    if args.json:
        args.json.write_text(json.dumps(all_figures if len(all_figures) > 1 else all_figures[0], indent=2))


def measure(
    args: argparse.Namespace, images: list[bytes], distinct: list[tuple[str, bytes]], metrics: str
) -> dict[str, Any]:
    worker = [sys.executable, "-m", "bench.noop_worker"]
    env = {"INFERENCE_WORKER__MAX_BATCH_SIZE": str(args.worker_batch), "INFERENCE_METRICS__ENABLED": metrics}
    with launched(args.workers, worker_command=worker, env=env) as cluster:
        assert cluster.api is not None
        processes = {"api": cluster.api.pid, **server_pids()}
        processes |= {f"worker-{n}": p.pid for n, p in enumerate(cluster.workers)}
        before = {name: cpu_seconds(pid) for name, pid in processes.items()} | {"client": own_cpu_seconds()}
        began = time.monotonic()
        outcomes = asyncio.run(closed_loop(cluster.api_url, images, args.clients, wait_for_results=False))
        submitting = time.monotonic() - began
        time.sleep(1.0)  # the worker's last batches (it keeps up, so a second is plenty)
        after = {name: cpu_seconds(pid) for name, pid in processes.items()} | {"client": own_cpu_seconds()}
        asyncio.run(settle(cluster.api_url, outcomes))  # reading the results back is not counted
    result = account(outcomes)
    cpu_us = {name: 1e6 * (after[name] - before[name]) / args.requests for name in after}
    accept_ms = percentiles([1000 * (o.answered - o.sent) for o in outcomes if o.request_id])
    average_kib = sum(map(len, images)) / len(images) / 1024
    figures = {
        "machine": f"{os.cpu_count()} CPUs",
        "images": f"{len(distinct)} distinct JPEGs, {args.size}, {average_kib:.0f} KiB on average",
        "metrics": metrics,
        "workers": args.workers,
        "clients": args.clients,
        "accepted_per_second": result.accepted / submitting,
        "accept_ms": accept_ms,
        "cpu_us_per_request": cpu_us,
        **asdict(result),
    }
    print(
        f"capacity, do-nothing classifier: {args.workers} worker(s), {args.clients} clients, "
        f"metrics {metrics}"
    )
    print(f"  {figures['images']}")
    print(f"  submitted                {result.submitted:8d}")
    print(f"  accepted (202)           {result.accepted:8d}   refused {result.refused or 'none'}")
    rate = figures["accepted_per_second"]
    print(f"  accepted/s               {rate:8.0f}   (202 within p50 {accept_ms['p50']:.0f} ms)")
    print(f"  completed/s              {result.completed_per_second:8.0f}")
    print(f"  succeeded / failed       {result.succeeded:8d} / {sum(result.failed.values())}")
    print(f"  lost / duplicated        {len(result.lost):8d} / {len(result.duplicated)}")
    print("  CPU per request (µs)     " + ", ".join(f"{name} {us:.0f}" for name, us in cpu_us.items()))
    print(f"                           total {sum(cpu_us.values()):.0f}")
    return figures


if __name__ == "__main__":
    main()
