"""bench.pipeline's rows: one run's ratio and fixed CPU per request, and the medians of rounds."""

from __future__ import annotations

import statistics
from typing import Any


def medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Print, and return, the median ratio and fixed CPU per request of a configuration's rounds."""
    ratios = sorted(row["ratio"] for row in rows)
    fixed = {
        name: statistics.median(row["fixed_cpu_us"][name] for row in rows) for name in rows[0]["fixed_cpu_us"]
    }
    print(
        f"{'':>10} median of {len(rows)} rounds: ratio {statistics.median(ratios):.0%}"
        f" ({', '.join(f'{ratio:.0%}' for ratio in ratios)}), fixed CPU µs per request "
        + ", ".join(f"{name} {us:.0f}" for name, us in sorted(fixed.items()))
    )
    return {"median_ratio": statistics.median(ratios), "median_fixed_cpu_us": fixed}


def report(
    alone: dict[str, Any], e2e: dict[str, Any], jpeg: str, metrics: str, result: str
) -> dict[str, Any]:
    """Print one row, and return its figures: the ratio and the fixed CPU per request."""
    ratio = e2e["images_per_second"] / alone["images_per_second"]
    cpu = e2e["cpu_us_per_request"]
    fixed = {
        name: us - alone["cpu_us_per_image"] if name.startswith("worker") else us for name, us in cpu.items()
    }
    t = e2e["time_to_result_ms"]
    busy = "/".join("?" if share is None else f"{share:.0%}" for share in e2e["classifier_busy"])
    print(
        f"{jpeg:>10} {metrics:>7} {result:>7}"
        f" {alone['images_per_second']:9.1f}/s {e2e['images_per_second']:9.1f}/s"
        f" {ratio:6.0%} {busy:>5} {e2e['idle']:4.0%}/{alone['idle']:<4.0%}   {sum(fixed.values()):5.0f} = "
        + " + ".join(f"{name} {us:.0f}" for name, us in sorted(fixed.items()))
        + f"   {t['p50']:.0f} / {t['p99']:.0f}"
        f"   (lost {e2e['lost']}, backend {alone['backend']}, batch {alone['batch_size']})"
    )
    return {
        "metrics": metrics,
        "result": result,
        "in_process": alone,
        "end_to_end": e2e,
        "ratio": ratio,
        "fixed_cpu_us": fixed,
    }
