"""The ways `inference quantize` tries, fastest first (see `quantize`'s module docstring), and
NNCF's run for one of them."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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
        overflow_fix=OverflowFix.DISABLE,
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
