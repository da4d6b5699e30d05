"""The ways `inference quantize` tries, fastest first (see `quantize`'s module docstring)."""

from __future__ import annotations

from dataclasses import dataclass


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
