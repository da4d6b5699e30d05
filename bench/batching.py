"""The worker's batch size and batch wait, tuned end to end: what the defaults are made of.

    uv run python -m bench.batching [--batch-sizes 1,2,4,8] [--waits-ms 0,10] [--images 160]

Runs bench.pipeline's end-to-end measurement (640x480 JPEGs, EfficientNet-B0 at 320 px, random
weights, the default backend) once per combination, in one run, and prints images/s and time to
result for each. A batch waits for more images only once its first has arrived, and never past
the wait; with a wait of 0 a batch is whatever has arrived while the previous one ran.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.model import write_model
from bench.pipeline import end_to_end
from demo.shapes import draw_jpegs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--batch-sizes", default="1,2,4,8")
    parser.add_argument("--waits-ms", default="0,10")
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    distinct = [data for _, data in draw_jpegs(24, seed=11, size=(640, 480))]
    images = [distinct[i % len(distinct)] for i in range(args.images)]
    figures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as directory:
        write_model(Path(directory), args.architecture, args.size)
        manifest = Path(directory) / "model.yaml"
        print(f"batching: {args.architecture} at {args.size} px, {args.clients} clients, 640x480 JPEGs")
        print(f"{'batch':>5} {'wait ms':>7} {'images/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
        for batch_size in (int(n) for n in args.batch_sizes.split(",")):
            for wait in (float(w) for w in args.waits_ms.split(",")):
                env = {
                    "INFERENCE_WORKER__MAX_BATCH_SIZE": str(batch_size),
                    "INFERENCE_WORKER__MAX_BATCH_WAIT_MS": str(wait),
                }
                e2e = end_to_end(manifest, images, args.clients, 1, env)
                times = e2e["time_to_result_ms"]
                figures.append({"batch_size": batch_size, "wait_ms": wait, **e2e})
                print(
                    f"{batch_size:5d} {wait:7g} {e2e['images_per_second']:9.1f}"
                    f" {times['p50']:7.0f} {times['p99']:7.0f}"
                )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
