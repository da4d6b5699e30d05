"""What a request's own code costs when it runs cold, as it does in a service at a few hundred
requests/s, against the same code in a loop.

    uv run python -m bench.cold [--calls 300]

A loop keeps a piece's code and data in the CPU's caches; a service that wakes for one request
at a time finds them gone, since the process slept (the core ran something else) or a model ran
beside it. Each piece of the API's and the worker's per-request path (the image header check,
a record's encoding and decoding) is timed in thread CPU three ways: back to back; each call
after a sleep of 10 ms; each call after a pass over 64 MiB of memory, as a model's pass makes.
The ratio to the loop is what in-process measurements (`bench.capacity`'s CPU per request at
saturation, a profile of a loop) understate for a service that waits for its model.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from adapters.images.inspector import PillowImageInspector
from adapters.redis.codec import decode_record, encode_record
from demo.shapes import draw_jpegs
from inference.domain import InferenceRequest, RequestId, RequestRecord

SLEEP_SECONDS = 0.01


def per_call(work: Callable[[int], object], calls: int, before: Callable[[], object] | None) -> float:
    """Median thread CPU of `work(i)` in µs, `before()` run (untimed) ahead of each call."""
    spent = []
    for i in range(calls):
        if before is not None:
            before()
        started = time.thread_time()
        work(i)
        spent.append(time.thread_time() - started)
    return 1e6 * float(np.median(spent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="timed calls of each piece, each way")
    args = parser.parse_args()

    jpegs = [data for _, data in draw_jpegs(24, seed=11, size=(640, 480))]
    inspector = PillowImageInspector(max_jpeg_scans=100)
    records = [
        RequestRecord.queued(InferenceRequest(RequestId.new(), data, "image/jpeg", 5, datetime.now(UTC)))
        for data in jpegs
    ]
    encoded = [encode_record(record) for record in records]
    pieces: dict[str, Callable[[int], object]] = {
        "nothing (the clock itself)": lambda i: None,
        "header check (640x480 JPEG)": lambda i: inspector.inspect_quickly(jpegs[i % 24], 100),
        "record encode": lambda i: encode_record(records[i % 24]),
        "record decode": lambda i: decode_record(encoded[i % 24]),
    }
    memory = np.ones(16 * 1024 * 1024, dtype=np.float32)  # 64 MiB: past any CPU's caches

    def sweep() -> None:
        np.multiply(memory, 1.0, out=memory)

    ways: dict[str, Callable[[], object] | None] = {
        "in a loop": None,
        "after a 10 ms sleep": lambda: time.sleep(SLEEP_SECONDS),
        "after 64 MiB of memory": sweep,
    }
    print(f"{'thread CPU per call, median µs':<30}" + "".join(f"{way:>24}" for way in ways))
    for name, work in pieces.items():
        per_call(work, args.calls, None)  # warm: imports, caches, specialised bytecode
        figures = [per_call(work, args.calls, before) for before in ways.values()]
        cells = [f"{figures[0]:.1f}"] + [f"{f:.1f} ({f / figures[0]:.1f}×)" for f in figures[1:]]
        print(f"{name:<30}" + "".join(f"{cell:>24}" for cell in cells))


if __name__ == "__main__":
    main()
