"""The bundled demo model as the service will serve it: its architecture and preprocessing (the
manifest's fields), the transform the serving code applies, and the files `demo.train` writes."""

import json
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
import yaml
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.data.transforms_factory import create_transform
from torch import nn

from demo.shapes import LABELS

ARCHITECTURE = "tinynet_e"
INPUT_SIZE = 64
CROP_PCT = 0.875
INTERPOLATION = "bicubic"

MANIFEST = """\
# Demo model: tinynet_e (EfficientNet family) trained by `python -m demo.train` on drawn shapes.
name: shapes-demo
version: "1"
architecture: {architecture}
labels: [{labels}]
input_size: {input_size}
crop_pct: {crop_pct}
interpolation: {interpolation}
mean: [{mean}]
std: [{std}]
weights: weights.safetensors
"""

Transform = Callable[[Image.Image], torch.Tensor]


def eval_transform() -> Transform:
    """The transform the serving code applies at inference, built the same way."""
    transform: Transform = create_transform(
        input_size=(3, INPUT_SIZE, INPUT_SIZE),
        is_training=False,
        interpolation=INTERPOLATION,
        crop_pct=CROP_PCT,
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
    )
    return transform


def write_outputs(out: Path, model: nn.Module, metrics: dict[str, object]) -> int:
    """Write weights, manifest and metrics; return the size of the weights file in bytes."""
    out.mkdir(parents=True, exist_ok=True)
    model = model.to(memory_format=torch.contiguous_format)  # safetensors wants dense tensors
    state = {name: t.detach().float().contiguous() for name, t in model.state_dict().items()}
    safetensors.torch.save_file(state, str(out / "weights.safetensors"))
    manifest = MANIFEST.format(
        architecture=ARCHITECTURE,
        labels=", ".join(LABELS),
        input_size=INPUT_SIZE,
        crop_pct=CROP_PCT,
        interpolation=INTERPOLATION,
        mean=", ".join(str(x) for x in IMAGENET_DEFAULT_MEAN),
        std=", ".join(str(x) for x in IMAGENET_DEFAULT_STD),
    )
    if yaml.safe_load(manifest)["labels"] != list(LABELS):
        raise RuntimeError("the manifest does not round-trip the labels; quote them")
    (out / "model.yaml").write_text(manifest, encoding="utf-8")
    weights_bytes = (out / "weights.safetensors").stat().st_size
    metrics = {**metrics, "weights_bytes": weights_bytes}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return weights_bytes
