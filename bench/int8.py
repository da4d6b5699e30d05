"""INT8 for `bench.model`: the model quantized as `inference quantize` does, and the machine's int8 peak.

The benchmark's model has random weights, so it is calibrated on random pixels and no agreement
threshold applies (its "top-1" column still says how often it agrees with the baseline); the
tests hold the real models to 99 %. The peak is what OpenVINO reaches on a compute-bound int8
matmul (NNCF-quantized, as the model is), beside the same matmul in fp32: the share of that peak
a model reaches says how much of the int8 units' speed its layers can use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from adapters.model.int8_agreement import compile_for_cpu
from adapters.model.manifest import ModelManifest
from adapters.model.onnx_export import exported_onnx
from adapters.model.openvino_classifier import OpenVINOClassifier
from adapters.model.quantize import quantize_pixels
from bench.timing import timed_calls
from tests.harness.checkpoints import decoder_for, runtime

CALIBRATION_IMAGES = 32


def int8_classifier(manifest: ModelManifest, cache: Path) -> OpenVINOClassifier:
    """The served INT8 model of `manifest` (auto hint), quantized on random pixels into `cache`."""
    rng = np.random.default_rng(1)
    size = manifest.input_size
    pixels = rng.standard_normal((CALIBRATION_IMAGES, 3, size, size), dtype=np.float32)
    done = quantize_pixels(
        manifest,
        exported_onnx(manifest, cache),
        cache / "int8",
        pixels,
        pixels[:4],
        threshold=0.0,
        samples=CALIBRATION_IMAGES,
    )
    return OpenVINOClassifier(
        manifest, decoder_for(manifest), cache, int8_model=done.folder, **runtime(precision="int8")
    )


def openvino_matmul_gops(precision: str, seconds: float = 1.0, n: int = 1024) -> float:
    """GOP/s (2 per multiply-add) of OpenVINO on an (n, n) by (n, n) matmul, fp32 or NNCF int8."""
    import nncf

    rng = np.random.default_rng(2)
    weights = ops.constant(rng.standard_normal((n, n), dtype=np.float32))
    given = ops.parameter([n, n], ov.Type.f32, name="a")
    model = ov.Model([ops.matmul(given, weights, False, False)], [given], "matmul")
    a = rng.standard_normal((n, n), dtype=np.float32)
    if precision == "int8":
        model = nncf.quantize(model, nncf.Dataset([a]), subset_size=1)
    compiled = compile_for_cpu(ov.Core(), model)
    request = compiled.create_infer_request()
    request.infer({0: a})
    elapsed, latencies = timed_calls(lambda: request.infer({0: a}), seconds)
    return 2 * n**3 * len(latencies) / elapsed / 1e9
