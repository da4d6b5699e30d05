"""The Classifier port on ONNX Runtime, running the manifest's model exported to ONNX."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from adapters.model.base import INT8_NEEDS_OPENVINO, ArrayClassifier, BackendError, ImageDecoder, Pixels
from adapters.model.manifest import ModelManifest
from adapters.model.onnx_export import INPUT_NAME, exported_onnx
from adapters.model.threads import resolve_threads
from inference.domain import Precision

log = logging.getLogger(__name__)


class OnnxRuntimeClassifier(ArrayClassifier):
    """Exports the manifest's model to ONNX (once, cached), then classifies batches with ORT.

    fp32 only: ORT's CPU provider has no bf16 convolutions, and fp16 would need a converted
    graph. On a cuda device it uses the CUDA provider when this onnxruntime build has one.
    """

    def __init__(
        self,
        manifest: ModelManifest,
        decoder: ImageDecoder,
        cache_dir: Path,
        *,
        device: str,
        threads: int | None,
        precision: Precision,
    ) -> None:
        super().__init__(manifest, decoder)
        if precision == "int8":
            raise BackendError(INT8_NEEDS_OPENVINO)
        if precision != "fp32":
            raise BackendError(
                f"backend onnxruntime runs fp32 only; for {precision} use backend torch"
                + (" or openvino" if precision == "bf16" else " on a cuda device")
            )
        providers = _providers(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = resolve_threads(threads)
        # One chain of layers: a second pool of inter-op threads would only oversubscribe.
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = exported_onnx(manifest, cache_dir)
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        self._warm_up()
        log.info("loaded model %s %s with onnxruntime (%s)", manifest.name, manifest.version, providers[0][0])

    def _forward(self, pixels: Pixels) -> npt.NDArray[np.generic]:
        outputs = self._session.run(None, {INPUT_NAME: pixels})
        scores: npt.NDArray[np.generic] = outputs[0]
        return scores


def _providers(device: str) -> list[tuple[str, dict[str, str]]]:
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return [("CPUExecutionProvider", {})]
    if kind != "cuda":
        raise BackendError(f"backend onnxruntime runs on cpu or cuda, not {device!r}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendError(
            "device cuda with backend onnxruntime needs the onnxruntime-gpu build, which is not "
            "installed; use backend torch for cuda"
        )
    return [("CUDAExecutionProvider", {"device_id": index or "0"}), ("CPUExecutionProvider", {})]
