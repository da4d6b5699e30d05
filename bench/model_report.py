"""`bench.model`'s table and its summary: OpenVINO int8 and bf16 against fp32, best batch against best."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tests.harness import percentile

Array = npt.NDArray[np.float32]
Forward = Callable[[Array], npt.NDArray[np.generic]]


@dataclass
class Row:
    name: str
    precision: str
    forward: Forward
    rates: dict[int, list[float]] = field(default_factory=dict)
    ratios: dict[int, list[float]] = field(default_factory=dict)
    latencies: dict[int, list[float]] = field(default_factory=dict)
    agreement: float = 0.0


def report(
    rows: list[Row], batch_sizes: list[int], flops: float, peak: dict[str, float]
) -> dict[str, object]:
    fp32, bf16, int8 = peak["fp32"], peak["bf16"], peak["int8"]
    print(
        f"\n{flops / 1e9:.2f} GFLOP per image; torch.mm peak {fp32:.0f} GFLOP/s fp32, {bf16:.0f} bf16; ",
        end="",
    )
    print(f"OpenVINO matmul {int8:.0f} GOP/s int8, {peak['openvino fp32']:.0f} fp32\n")
    columns = ("backend", "prec", "batch", "img/s", "p50 ms", "p99 ms", "× base", "% peak", "top-1")
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    results = []
    for batch in batch_sizes:
        for row in rows:
            rate, ratio = statistics.median(row.rates[batch]), statistics.median(row.ratios[batch])
            p50, p99 = (1000 * percentile(row.latencies[batch], f) for f in (0.5, 0.99))
            share = rate * flops / 1e9 / peak[row.precision]
            cells = [row.name, row.precision, str(batch), f"{rate:.1f}", f"{p50:.1f}", f"{p99:.1f}"]
            cells += [f"{ratio:.2f}×", f"{share:.1%}", f"{row.agreement:.0%}"]
            print("| " + " | ".join(cells) + " |")
            results.append(
                {"backend": row.name, "precision": row.precision, "batch": batch, "images_per_second": rate}
                | {"p50_ms": p50, "p99_ms": p99, "ratio_to_baseline": ratio, "fraction_of_matmul_peak": share}
                | {"top1_agreement": row.agreement}
            )
    return {
        "gflop_per_image": flops / 1e9,
        "matmul_peak_gflops": peak,
        "rows": results,
        "openvino_best_batch_ratios": best_batch_ratios(rows, batch_sizes),
    }


def best_batch_ratios(rows: list[Row], batch_sizes: list[int]) -> dict[str, float]:
    """OpenVINO (auto hint) int8 and bf16 over fp32, each at its best batch size in each round."""
    found = {row.precision: row for row in rows if row.name == "openvino (auto hint)"}
    if "fp32" not in found:
        return {}
    rounds = range(len(found["fp32"].rates[batch_sizes[0]]))

    def best(row: Row, round_: int) -> float:
        return max(row.rates[batch][round_] for batch in batch_sizes)

    ratios: dict[str, float] = {}
    for precision in ("int8", "bf16"):
        if precision in found:
            each = [best(found[precision], r) / best(found["fp32"], r) for r in rounds]
            ratios[precision] = statistics.median(each)
            listed = ", ".join(f"{ratio:.2f}" for ratio in each)
            print(
                f"openvino {precision} / fp32, best batch vs best batch: {ratios[precision]:.2f}× ({listed})"
            )
    return ratios
