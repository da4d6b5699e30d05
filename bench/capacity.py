"""What the API, the broker and the store carry: the distributed pipeline with a classifier that
does no work, so every request costs only HTTP, RabbitMQ, Redis and the worker loop.

    uv run python -m bench.capacity [--requests 8000] [--clients 64] [--workers 1] [--json out.json]
                                    [--metrics on|off|both] [--rounds 1] [--private-servers]
                                    [--wait-for-results]

Clients POST real JPEGs as fast as the API takes them (closed loop, no retries); afterwards
every accepted request's record is read back. Completed requests/s runs from the first
acceptance to the last completion, by the service's own timestamps; "lost" counts accepted
requests with no terminal record. The worker takes batches of up to 32 (`--worker-batch`):
with no model, a batch costs only its store and broker round trips. CPU time per request is
read for each process (the API, the workers, the local RabbitMQ and Redis, this client), to
show where a request's cost goes; "service" is their sum without the client. The shared
RabbitMQ and Redis count other users' work too: `--private-servers` starts a node of each for
this benchmark alone (RabbitMQ must be installed; it takes a few seconds to boot).

`--wait-for-results` makes each client long-poll its request's result (`GET …/results?wait=30`)
before it submits the next, as bench.pipeline's clients do: the CPU per request then includes
that GET, the API's other half of a request's cost.

`--metrics both` runs it with metrics off and on, alternating for `--rounds` rounds (a shared
machine's noise then falls on both alike), and prints the medians of the per-round ratios on/off:
what the instrumentation costs in capacity and in CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.cpu import cpu_seconds, own_cpu_seconds, server_pids
from bench.load import closed_loop, settle
from bench.servers import Servers, servers
from demo.shapes import draw_jpegs
from tests.harness import percentiles
from tests.harness.cluster import launched
from tests.harness.ledger import account


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
        "--metrics", choices=("on", "off", "both"), default="on", help="both: off and on, alternating"
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --metrics both: pairs of runs")
    parser.add_argument(
        "--wait-for-results",
        action="store_true",
        help="each client long-polls its result before submitting again (the GET's cost counts)",
    )
    parser.add_argument(
        "--prefer-wait",
        action="store_true",
        help="each client asks for its result in the POST's answer (Prefer: wait=30) and waits for it",
    )
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="start a RabbitMQ and a Redis of its own: their CPU is then this benchmark's alone",
    )
    args = parser.parse_args()
    with servers(args.private_servers) as args.servers:
        run(args)


def run(args: argparse.Namespace) -> None:

    width, height = (int(n) for n in args.size.split("x"))
    distinct = draw_jpegs(64, seed=7, size=(width, height))
    images = [distinct[i % len(distinct)][1] for i in range(args.requests)]
    if args.metrics != "both":
        figures: Any = measure(args, images, distinct, args.metrics == "on")
    else:
        pairs = [
            (measure(args, images, distinct, False), measure(args, images, distinct, True))
            for _ in range(args.rounds)
        ]
        figures = {"rounds": [{"off": off, "on": on} for off, on in pairs], "on_over_off": on_over_off(pairs)}
        ratios = figures["on_over_off"]
        print(f"metrics on / off, medians of {args.rounds} alternating round(s):")
        print(f"  completed/s              {ratios['completed_per_second']:8.3f}")
        print(f"  service CPU per request  {ratios['service_cpu_us_per_request']:8.3f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def on_over_off(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, float]:
    """Per measure, the median over rounds of its on/off ratio."""
    return {
        name: statistics.median(on[name] / off[name] for off, on in pairs)
        for name in ("accepted_per_second", "completed_per_second", "service_cpu_us_per_request")
    }


def measure(
    args: argparse.Namespace, images: list[bytes], distinct: list[tuple[str, bytes]], metrics: bool
) -> dict[str, Any]:
    worker = [sys.executable, "-m", "bench.noop_worker"]
    env = {
        "INFERENCE_WORKER__MAX_BATCH_SIZE": str(args.worker_batch),
        "INFERENCE_METRICS__ENABLED": str(metrics).lower(),
    }
    servers: Servers = args.servers
    with launched(
        args.workers,
        worker_command=worker,
        env=env,
        rabbitmq_url=servers.rabbitmq_url,
        redis_url=servers.redis_url,
    ) as cluster:
        assert cluster.api is not None
        processes = {"api": cluster.api.pid, **server_pids(servers.rabbitmq_marker, servers.redis_marker)}
        processes |= {f"worker-{n}": p.pid for n, p in enumerate(cluster.workers)}
        before = {name: cpu_seconds(pid) for name, pid in processes.items()} | {"client": own_cpu_seconds()}
        began = time.monotonic()
        outcomes = asyncio.run(
            closed_loop(
                cluster.api_url,
                images,
                args.clients,
                args.wait_for_results,
                prefer_wait=30 if args.prefer_wait else 0,
            )
        )
        submitting = time.monotonic() - began
        time.sleep(1.0)  # the worker's last batches (it keeps up, so a second is plenty)
        after = {name: cpu_seconds(pid) for name, pid in processes.items()} | {"client": own_cpu_seconds()}
        asyncio.run(settle(cluster.api_url, outcomes))  # reading the results back is not counted
    result = account(outcomes)
    cpu_us = {name: 1e6 * (after[name] - before[name]) / args.requests for name in after}
    service_us = sum(us for name, us in cpu_us.items() if name != "client")
    accept_ms = percentiles([1000 * (o.answered - o.sent) for o in outcomes if o.request_id])
    average_kib = sum(map(len, images)) / len(images) / 1024
    figures = {
        "machine": f"{os.cpu_count()} CPUs",
        "images": f"{len(distinct)} distinct JPEGs, {args.size}, {average_kib:.0f} KiB on average",
        "metrics": "on" if metrics else "off",
        "workers": args.workers,
        "clients": args.clients,
        "wait_for_results": args.wait_for_results,
        "prefer_wait": args.prefer_wait,
        "accepted_per_second": result.accepted / submitting,
        "accept_ms": accept_ms,
        "cpu_us_per_request": cpu_us,
        "service_cpu_us_per_request": service_us,
        **asdict(result),
    }
    print(
        f"capacity, do-nothing classifier: {args.workers} worker(s), {args.clients} clients, "
        f"metrics {figures['metrics']}"
        + (", each long-polling its result" if args.wait_for_results else "")
        + (", each waiting for it in the POST's answer (Prefer: wait)" if args.prefer_wait else "")
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
    print(f"                           service {service_us:.0f}, with the client {sum(cpu_us.values()):.0f}")
    return figures


if __name__ == "__main__":
    main()
