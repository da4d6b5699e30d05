"""The ways `inference quantize` tries, fastest first (see `quantize`'s module docstring), and
NNCF's run for one of them."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov


@dataclass(frozen=True)
class Choice:
    """How to quantize: the export converted by OpenVINO or read as it is, and the layer types
    left in fp32."""

    converted: bool
    fp32_layers: tuple[str, ...]

    def describe(self) -> str:
        layers = ", ".join(self.fp32_layers) or "no layer"
        return f"{'converted' if self.converted else 'read as exported'}, {layers} in fp32"


# CPU flags (Linux's names) of an int8 dot product that keeps 32-bit sums: AVX-512 VNNI, AVX-VNNI, AMX.
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def overflow_fix(cpu_flags: frozenset[str] | None = None) -> str:
    """NNCF's overflow fix for this CPU (`cpu_flags`: this machine's, by default): off where it has
    VNNI; on, for every layer, where it has not. Without VNNI the CPU multiplies int8 pairs into
    16-bit sums that saturate, which the fix avoids by quantizing weights to 7 bits. Measured
    on an AMD EPYC with AVX2 only, for the bundled ImageNet model's three choices: 66.7, 86.7 and
    83.3 % top-1 agreement without it, 80.0, 96.7 and 96.7 % with it (93.3 % at most with the
    first layer's only); on CPUs with VNNI it costs agreement (77 % against 80 %, all in int8)."""
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    return "disable" if flags is None or flags & VNNI_FLAGS else "enable"


def _cpu_flags() -> frozenset[str] | None:
    """Linux's CPU flags, or None where /proc/cpuinfo cannot be read (then VNNI is assumed)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None


CHOICES = (
    Choice(converted=True, fp32_layers=()),
    Choice(converted=True, fp32_layers=("GroupConvolution",)),
    Choice(converted=False, fp32_layers=("GroupConvolution",)),
)


def quantized(fp32: ov.Model, dataset: Any, used: int, choice: Choice) -> ov.Model:
    """NNCF's static quantization of `fp32` on `used` images of `dataset`, the way `choice` says."""
    import nncf  # seconds to import, and only this command needs it
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    advanced = AdvancedQuantizationParameters(
        activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
        overflow_fix=OverflowFix(overflow_fix()),
    )
    # NNCF draws its progress bars and logs on stdout, where the command prints only the folder's path.
    with contextlib.redirect_stdout(sys.stderr), _nncf_logs_on_stderr():
        int8: ov.Model = nncf.quantize(
            fp32,
            dataset,
            preset=nncf.QuantizationPreset.PERFORMANCE,
            subset_size=used,
            fast_bias_correction=True,
            advanced_parameters=advanced,
            # validate=False: a model may have none of the types named
            ignored_scope=nncf.IgnoredScope(types=list(choice.fp32_layers), validate=False),
        )
    return int8


@contextlib.contextmanager
def _nncf_logs_on_stderr() -> Iterator[None]:
    # NNCF's handler holds the sys.stdout of its import, which redirect_stdout does not reach.
    handlers = [h for h in logging.getLogger("nncf").handlers if isinstance(h, logging.StreamHandler)]
    streams = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
