"""Post-training static INT8 quantization with NNCF, kept only if it agrees with fp32.

The fp32 model is the ONNX export the other backends run, read by OpenVINO; NNCF measures its
activation ranges on calibration images preprocessed exactly as the service preprocesses a
request (the container's decoder), and writes an OpenVINO model of int8 convolutions and
matmuls. Before the model is kept, its top-1 is compared with the fp32 model's on a held-out
set: under the threshold, nothing is written (and a cached model that fails is removed).

Each choice of `CHOICES` is tried in order, and the first INT8 model that passes the check is
kept (`quantization.json` records it). The first two read the export with `ov.convert_model`,
whose transformations turn ONNX's spelling of SiLU, `x * sigmoid(x)`, back into one Swish and
fold the constant arithmetic around it, before NNCF places its quantizers. Read as it is
(`Core.read_model`), the sigmoid and the product stay apart, NNCF quantizes between them, and the
CPU plugin cannot fuse the activation into the int8 convolution: EfficientNet-B0's compiled int8
graph kept 66 fp32 subgraphs and 228 layout reorders and ran 1.13x fp32 on one thread; converted,
1.6x (fusing only the Swish, by hand, reached 1.22x). The last choice is the model as this
command made it before: read as exported, and the one the bundled ImageNet model needs (below).

Depthwise convolutions (OpenVINO's `GroupConvolution`) are quantized in the first choice. On
EfficientNet-B0 they are 30 % of the int8 model's time and worth 1.41x against 1.62x (one thread,
all in int8); on the bundled ImageNet model (EfficientNet-Lite0, its real weights; top-1 agreement
on scikit-image's five ImageNet-like photos with crops and mirror images, 30 images, calibrated on
64 crops of the other twenty photos) they buy no speed and cost agreement: 77 % with them in int8,
100 % without (converted or not; on 120 calibration crops, converted, 96.7 %, read as exported
100 %). A depthwise convolution filters each channel alone, so the error of its per-tensor
int8 input (one scale for hundreds of channels, most of them spanning a small part of the range) is
not averaged away over input channels as in a pointwise convolution; measured layer by layer, the
late depthwise convolutions at 7x7 (stages 5 and 6) carry nearly all of the error (0.12-0.37
relative logit error each, against 0.03 for any other layer). Besides: the `performance` preset
(symmetric activations; `mixed` measured 83 % against 80 % before the depthwise change); activation
ranges from their min and max (NNCF's quantiles measured the same without it and less with it
before); no overflow fix on CPUs with VNNI (77 % with it), and one for every layer on CPUs without
(`int8_choices.overflow_fix`; the check below runs on the quantizing machine); the fast
bias correction (full or none measured the same). Leaving the first convolution and the classifier
in fp32 changed nothing.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov

from adapters.model.base import ImageDecoder, Pixels
from adapters.model.int8_agreement import compile_for_cpu, compiled_agreement, top1_agreement
from adapters.model.int8_cache import (
    MODEL_FILE,
    REPORT_FILE,
    calibration_key,
    int8_folder,
    model_key,
    write_atomically,
)
from adapters.model.int8_choices import CHOICES, overflow_fix, quantized
from adapters.model.manifest import ModelManifest
from adapters.model.onnx_export import exported_onnx

log = logging.getLogger(__name__)

PRESET = "performance"


@dataclass(frozen=True)
class Quantization:
    """What `quantize_images` did; `folder` is None when the model fell under the threshold."""

    folder: Path | None  # holds model.xml, model.bin and quantization.json
    agreement: float  # top-1 agreement with fp32 on the held-out set
    held_out: int
    calibration: int  # calibration images NNCF used
    cached: bool  # found in the cache (and checked again), not made now


def quantize_images(
    manifest: ModelManifest,
    decoder: ImageDecoder,
    cache_dir: Path,
    calibration: Sequence[tuple[str, bytes]],
    held_out: Sequence[bytes],
    *,
    threshold: float,
    samples: int,
) -> Quantization:
    """The INT8 model for `calibration` (named encoded images), from the cache or made now, if its
    top-1 agrees with fp32 on `held_out` at least `threshold` of the time."""
    settings = quantizer_settings(samples)
    folder = int8_folder(manifest, cache_dir, calibration_key(calibration, settings))
    held_out_pixels = _decoded(decoder, held_out, "held-out")
    onnx = exported_onnx(manifest, cache_dir)
    if (folder / MODEL_FILE).is_file():
        agreement = top1_agreement(onnx, folder / MODEL_FILE, held_out_pixels)
        used = json.loads((folder / REPORT_FILE).read_text())["calibration_images"]
        if agreement < threshold:
            shutil.rmtree(folder, ignore_errors=True)  # what a worker would load is what failed
            return Quantization(None, agreement, len(held_out_pixels), used, cached=True)
        return Quantization(folder, agreement, len(held_out_pixels), used, cached=True)
    ordered = [data for _, data in sorted(calibration)]  # NNCF takes the first `samples`: a stable choice
    pixels = _decoded(decoder, ordered, "calibration")
    return quantize_pixels(
        manifest, onnx, folder, pixels, held_out_pixels, threshold=threshold, samples=samples
    )


def quantizer_settings(samples: int) -> dict[str, Any]:
    """What, besides the images, makes one quantized model differ from another (its cache key)."""
    return {
        "nncf": importlib.metadata.version("nncf"),
        "preset": PRESET,
        "activation_ranges": "minmax",
        "overflow_fix": overflow_fix(),  # this CPU's: a model quantized elsewhere is another
        "choices": [choice.describe() for choice in CHOICES],
        "samples": samples,
    }


def quantize_pixels(
    manifest: ModelManifest,
    onnx: Path,
    folder: Path,
    calibration: Pixels,
    held_out: Pixels,
    *,
    threshold: float,
    samples: int,
) -> Quantization:
    """Quantize on preprocessed `calibration` pixels, check on `held_out`, write `folder` with the
    first of CHOICES that passes."""
    import nncf  # seconds to import, and only this command needs it

    if overflow_fix() == "enable":
        log.warning(
            "this CPU has no VNNI: quantizing with NNCF's overflow fix; int8 serves best on a CPU with "
            "VNNI (on an AVX2-only EPYC the ImageNet model in int8 ran 0.90x its fp32 speed)"
        )
    core = ov.Core()
    reference = compile_for_cpu(core, core.read_model(str(onnx)))
    started = time.perf_counter()
    used = min(samples, len(calibration))
    dataset = nncf.Dataset([calibration[i : i + 1] for i in range(used)])
    for choice in CHOICES:
        fp32 = ov.convert_model(str(onnx)) if choice.converted else core.read_model(str(onnx))
        int8 = quantized(fp32, dataset, used, choice)
        agreement = compiled_agreement(reference, compile_for_cpu(core, int8), held_out)
        log.info(
            "%s quantized (%s): top-1 agreement %.2f %% (%.1f s)",
            manifest.name,
            choice.describe(),
            100 * agreement,
            time.perf_counter() - started,
        )
        if agreement >= threshold:
            break
    else:
        return Quantization(None, agreement, len(held_out), used, cached=False)
    report = {
        "model": f"{manifest.name} {manifest.version}",
        "model_key": model_key(manifest),
        "calibration_images": used,
        "held_out_images": len(held_out),
        "top1_agreement": agreement,
        "threshold": threshold,
        **quantizer_settings(samples),
        "graph": "converted" if choice.converted else "read as exported",
        "fp32_layers": list(choice.fp32_layers),
    }

    def write(into: Path) -> None:
        # Weights left in fp32 (not compressed to fp16): the model served is the model checked.
        ov.save_model(int8, str(into / MODEL_FILE), compress_to_fp16=False)
        (into / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")

    write_atomically(folder, write)
    log.info("wrote %s (top-1 agreement %.2f %%)", folder, 100 * agreement)
    return Quantization(folder, agreement, len(held_out), used, cached=False)


def _decoded(decoder: ImageDecoder, images: Sequence[bytes], role: str) -> Pixels:
    pixels, errors = decoder.decode(images)
    failed = [str(error) for error in errors if error is not None]
    if failed:
        log.warning("%d %s images skipped, e.g. %s", len(failed), role, failed[0])
    if not len(pixels):
        raise ValueError(f"no {role} image could be decoded ({len(images)} given)")
    return pixels
