"""The Classifier on a timm model: the manifest, three backends (torch, onnxruntime, openvino), INT8.

The manifest is light; each backend is imported on first use, since importing torch, ONNX
Runtime or OpenVINO costs seconds and hundreds of megabytes that an API process never needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from adapters.model.manifest import ManifestError, ModelManifest, load_manifest

if TYPE_CHECKING:
    from adapters.model.base import BackendError
    from adapters.model.onnx_export import exported_onnx
    from adapters.model.onnxruntime_classifier import OnnxRuntimeClassifier
    from adapters.model.openvino_classifier import OpenVINOClassifier
    from adapters.model.quantize import Quantization, quantize_images
    from adapters.model.timm_classifier import TimmClassifier

__all__ = [
    "BackendError",
    "ManifestError",
    "ModelManifest",
    "OnnxRuntimeClassifier",
    "OpenVINOClassifier",
    "Quantization",
    "TimmClassifier",
    "exported_onnx",
    "load_manifest",
    "quantize_images",
]

_LAZY = {
    "BackendError": "adapters.model.base",
    "exported_onnx": "adapters.model.onnx_export",
    "TimmClassifier": "adapters.model.timm_classifier",
    "OnnxRuntimeClassifier": "adapters.model.onnxruntime_classifier",
    "OpenVINOClassifier": "adapters.model.openvino_classifier",
    "Quantization": "adapters.model.quantize",
    "quantize_images": "adapters.model.quantize",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
