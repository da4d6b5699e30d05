"""Measuring helpers for the benchmarks: timed loops, FLOPs, the machine's matmul peak."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.flop_counter import FlopCounterMode


def timed_calls(call: Callable[[], object], seconds: float) -> tuple[float, list[float]]:
    """Call repeatedly for about `seconds` (at least once): (elapsed seconds, each call's seconds)."""
    latencies: list[float] = []
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or not latencies:
        began = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - began)
    return elapsed, latencies


def flops_per_image(model: torch.nn.Module, size: int) -> float:
    """FLOPs of one forward pass on one image, as torch counts them (2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


def matmul_gflops(dtype: torch.dtype, seconds: float = 1.0, n: int = 2048) -> float:
    """What `torch.mm` on large square matrices reaches here: a practical peak for this dtype."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    elapsed, latencies = timed_calls(lambda: torch.mm(a, b), seconds)
    return 2 * n**3 * len(latencies) / elapsed / 1e9


def top1_agreement(scores: npt.NDArray[np.generic], reference: npt.NDArray[np.generic]) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == np.argmax(reference, axis=1)))
