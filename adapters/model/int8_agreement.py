"""Top-1 agreement of an INT8 model with its fp32 original, compiled as a worker compiles them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from adapters.model.base import Pixels
from adapters.model.threads import resolve_threads

CHUNK = 16  # images per forward pass when comparing: bounded memory on any held-out set


def top1_agreement(onnx: Path, int8_model: Path, pixels: Pixels) -> float:
    core = ov.Core()
    return compiled_agreement(
        compile_for_cpu(core, core.read_model(str(onnx))),
        compile_for_cpu(core, core.read_model(str(int8_model))),
        pixels,
    )


def compiled_agreement(fp32: ov.CompiledModel, int8: ov.CompiledModel, pixels: Pixels) -> float:
    same = 0
    for start in range(0, len(pixels), CHUNK):
        chunk = pixels[start : start + CHUNK]
        reference, quantized = (np.asarray(model(chunk)[0]).argmax(axis=1) for model in (fp32, int8))
        same += int((reference == quantized).sum())
    return same / len(pixels)


def compile_for_cpu(core: ov.Core, model: ov.Model) -> ov.CompiledModel:
    # fp32 for whatever stays unquantized, as the worker compiles it: not bf16 behind our back.
    config = {hints.inference_precision: ov.Type.f32, props.inference_num_threads: resolve_threads(None)}
    return core.compile_model(model, "CPU", config)
