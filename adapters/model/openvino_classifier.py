"""The Classifier port on OpenVINO (CPU), running the manifest's model exported to ONNX, or its
INT8 quantization (`inference quantize`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from adapters.model.base import ArrayClassifier, BackendError, ImageDecoder, Pixels
from adapters.model.int8_cache import served_int8_model
from adapters.model.manifest import ModelManifest
from adapters.model.onnx_export import exported_onnx
from adapters.model.threads import resolve_threads
from inference.domain import Precision

log = logging.getLogger(__name__)

Hint = Literal["auto", "latency", "throughput"]
# int8: the quantized layers run in int8 whatever this says; the rest stays fp32, as when checked.
_PRECISIONS = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}
CHUNKED_PRECISIONS: frozenset[str] = frozenset({"int8"})  # batches in chunks: see the class
_HINTS = {"latency": hints.PerformanceMode.LATENCY, "throughput": hints.PerformanceMode.THROUGHPUT}


class OpenVINOClassifier(ArrayClassifier):
    """Exports the manifest's model to ONNX (once, cached), compiles it for the CPU, classifies.

    The precision is always set: left alone, OpenVINO silently runs bf16 on CPUs that have it,
    which is a different model than the one the manifest promised. With the latency hint one
    infer request runs the whole batch on every thread; with the throughput hint the CPUs are
    split into streams, each with its own request, and a batch is split across them. The first
    wins for one image and the second for batches (the README's performance section has the
    figures), so "auto" compiles both and picks by size. Precision int8 serves the newest INT8
    model of this manifest's model in `cache_dir`, or `int8_model` (a folder) when set.

    The single-image model and the throughput model are compiled for a batch of exactly one, and
    a batch runs as one request per image spread over the streams, as OpenVINO's throughput mode
    intends: a static shape lets the CPU plugin plan its memory and fuse layers once, which a
    dynamic batch dimension prevents (on a 2-core Zen 4, EfficientNet-B0 at 224 px: +9 % for one
    image, +6 % for batches of 4). A latency-only model keeps the dynamic batch, since it runs a
    whole batch as one request. So does an int8 throughput model (CHUNKED_PRECISIONS): its batch
    runs in one chunk per stream, since int8 gains from several images per request where fp32
    does not (one thread, CPU per image: int8 8.2 ms alone, 7.3 in dynamic fours; fp32 13.0 and
    12.7; through this class, batches of 8: int8 8.4 ms per image one per request, 7.6 in chunks).
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
        int8_model: Path | None,
        hint: Hint = "auto",
    ) -> None:
        super().__init__(manifest, decoder)
        if device != "cpu":
            raise BackendError(f"backend openvino runs on the cpu here, not {device!r}; use backend torch")
        core = ov.Core()
        _check_precision(core, precision)
        if precision == "int8":
            source = served_int8_model(manifest, cache_dir, int8_model)
        else:
            source = exported_onnx(manifest, cache_dir)
        config: dict[str, Any] = {
            hints.inference_precision: _PRECISIONS[precision],
            props.inference_num_threads: resolve_threads(threads),
        }
        self._queues: dict[str, ov.AsyncInferQueue] = {}
        per_image = precision not in CHUNKED_PRECISIONS
        for mode in ("latency", "throughput") if hint == "auto" else (hint,):
            model = core.read_model(str(source))
            if (mode == "throughput" and per_image) or (mode == "latency" and hint == "auto"):
                model.reshape({model.inputs[0]: [1, 3, manifest.input_size, manifest.input_size]})
            compiled = core.compile_model(model, "CPU", config | {hints.performance_mode: _HINTS[mode]})
            queue = ov.AsyncInferQueue(
                compiled, int(compiled.get_property(props.optimal_number_of_infer_requests))
            )
            queue.set_callback(self._collect)
            self._queues[mode] = queue
        self._single = self._queues.get("latency") or self._queues["throughput"]
        self._batch = self._queues.get("throughput") or self._queues["latency"]
        # Whether the batch model takes one image per request (static) or the batch in chunks.
        self._per_image = "throughput" in self._queues and per_image
        self._results: list[npt.NDArray[np.generic]] = []
        self._warm_up()
        log.info(
            "loaded model %s %s with openvino (%s, %s hint, %d infer requests for a batch) from %s",
            manifest.name,
            manifest.version,
            precision,
            hint,
            len(self._batch),
            source,
        )

    def _forward(self, pixels: Pixels) -> npt.NDArray[np.generic]:
        queue = self._single if len(pixels) == 1 else self._batch
        if self._per_image or len(pixels) == 1:
            chunks = [pixels[i : i + 1] for i in range(len(pixels))]  # start_async waits for a free request
        else:
            chunks = np.array_split(pixels, min(len(queue), len(pixels)))
        self._results = [pixels[:0]] * len(chunks)
        for index, chunk in enumerate(chunks):
            # share_inputs: the request reads the chunk in place; it lives until wait_all returns.
            queue.start_async({0: chunk}, userdata=index, share_inputs=True)
        queue.wait_all()
        return np.concatenate(self._results)

    def _warm_up(self) -> None:
        super()._warm_up()  # one image: the single-image model
        size = self._manifest.input_size
        self.probabilities(np.zeros((2, 3, size, size), dtype=np.float32))

    def _collect(self, request: ov.InferRequest, index: int) -> None:
        # Runs on OpenVINO's thread; the request's output buffer is reused by its next run.
        self._results[index] = request.get_output_tensor(0).data.copy()


def _check_precision(core: ov.Core, precision: Precision) -> None:
    if precision == "fp16":
        raise BackendError("precision fp16 needs backend torch on a cuda device; on the CPU use bf16")
    capabilities = core.get_property("CPU", props.device.capabilities)
    if precision == "bf16" and "BF16" not in capabilities:
        raise BackendError(
            "precision bf16 with backend openvino needs a CPU with AVX512-BF16 or AMX, which this one "
            "lacks; use fp32"
        )
