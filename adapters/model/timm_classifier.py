"""The Classifier port on PyTorch and timm, eager (optionally torch.compile'd), on CPU or CUDA."""

from __future__ import annotations

import logging
from contextlib import nullcontext, suppress

import numpy as np
import numpy.typing as npt
import torch

from adapters.model.base import INT8_NEEDS_OPENVINO, ArrayClassifier, BackendError, ImageDecoder, Pixels
from adapters.model.manifest import ModelManifest
from adapters.model.threads import resolve_threads
from adapters.model.timm_model import build_model
from inference.domain import Precision

log = logging.getLogger(__name__)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TimmClassifier(ArrayClassifier):
    """Loads the manifest's model once with timm, warms it up, then classifies batches.

    Always channels_last (it roughly doubles the CPU throughput of EfficientNet's depthwise
    convolutions) and under inference_mode. bf16 and fp16 run the fp32 weights under autocast.
    """

    def __init__(
        self,
        manifest: ModelManifest,
        decoder: ImageDecoder,
        *,
        device: str,
        threads: int | None,
        precision: Precision,
        compile: bool,
    ) -> None:
        super().__init__(manifest, decoder)
        self._device = torch.device(device)
        self._autocast = _autocast_dtype(self._device, precision)
        torch.set_num_threads(resolve_threads(threads))
        _one_inter_op_thread()
        model = build_model(manifest).to(self._device).to(memory_format=torch.channels_last)
        self._model = torch.compile(model) if compile else model
        self._compiled = compile
        self._warm_up()
        log.info(
            "loaded model %s %s on %s (torch, %s%s)",
            manifest.name,
            manifest.version,
            self._device,
            precision,
            ", compiled" if compile else "",
        )

    def _forward(self, pixels: Pixels) -> npt.NDArray[np.generic]:
        tensor = torch.from_numpy(pixels).to(self._device).contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast(self._device.type, dtype=self._autocast) if self._autocast else nullcontext()
        )
        with torch.inference_mode(), autocast:
            output: torch.Tensor = self._model(tensor)
        return output.float().cpu().numpy()

    def _warm_up(self) -> None:
        super()._warm_up()
        if self._compiled:
            # torch.compile specialises on the first batch size and recompiles for a dynamic batch
            # dimension at the second (tens of seconds): at load, not on a client's request.
            size = self._manifest.input_size
            self.probabilities(np.zeros((2, 3, size, size), dtype=np.float32))


def _autocast_dtype(device: torch.device, precision: Precision) -> torch.dtype | None:
    """The dtype to autocast to, None for fp32; refuses what this device cannot run fast."""
    if precision == "fp32":
        return None
    if precision == "int8":
        raise BackendError(INT8_NEEDS_OPENVINO)
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise BackendError(f"{device} does not support bf16; use precision fp16 or fp32")
        return _DTYPES[precision]
    if device.type != "cpu":
        raise BackendError(f"precision {precision} needs device cpu or cuda, not {device}")
    if precision == "fp16":
        raise BackendError("precision fp16 needs a cuda device; on the CPU use bf16 (or fp32)")
    # oneDNN emulates bf16 on CPUs without native instructions, slower than fp32.
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        raise BackendError(
            "precision bf16 on the CPU needs AVX512-BF16 or AMX, which this CPU lacks; use fp32"
        )
    return torch.bfloat16


def _one_inter_op_thread() -> None:
    # A classifier is one chain of layers: inter-op parallelism only oversubscribes the CPUs.
    # torch allows it once, before any parallel work: a second model in the process keeps it.
    with suppress(RuntimeError):
        torch.set_num_interop_threads(1)
