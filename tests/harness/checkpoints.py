"""Small checkpoints the tests and benchmarks build themselves (no model hub, no bundled files)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import timm
import torch
import yaml
from safetensors.torch import save_file

from adapters.images import BatchDecoder
from adapters.model import ModelManifest
from entrypoints.container import make_decoder
from entrypoints.settings import ModelSettings
from tests.images import LIMITS, MAX_PIXELS

ARCHITECTURE = "tinynet_e"  # EfficientNet family, 1280 features, quick to build
FEATURES = 1280
LABELS = ["cat", "dog", "fox"]


def write_manifest(directory: Path, weights: str, **fields: Any) -> Path:
    """A manifest for `weights`: the tiny model's, with `fields` changed; a field given as None is
    left out, so that the manifest's own default applies."""
    manifest = {
        "name": "tiny",
        "version": "7",
        "architecture": ARCHITECTURE,
        "labels": LABELS,
        "input_size": 32,
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "weights": weights,
        **fields,
    }
    path = directory / "model.yaml"
    path.write_text(yaml.safe_dump({key: value for key, value in manifest.items() if value is not None}))
    return path


def write_checkpoint(
    directory: Path, architecture: str = ARCHITECTURE, labels: Sequence[str] = LABELS, **fields: Any
) -> Path:
    """Seeded random weights for `architecture` with a head for `labels`, as safetensors, and the
    manifest that names them (`fields` as in `write_manifest`): the manifest's path."""
    torch.manual_seed(0)
    model = timm.create_model(architecture, num_classes=len(labels))
    save_file(model.state_dict(), str(directory / "weights.safetensors"))
    return write_manifest(
        directory, "weights.safetensors", architecture=architecture, labels=list(labels), **fields
    )


def safetensors_checkpoint(directory: Path) -> Path:
    return write_checkpoint(directory)


def reference_head_layers(in_features: int = FEATURES) -> list[dict[str, Any]]:
    """A head in the reference project's fully_connected.yaml form."""
    return [
        {"type": "Linear", "name": "linear1", "params": {"in_features": in_features, "out_features": 16}},
        {"type": "BatchNorm1d", "name": "bn1", "params": {"num_features": 16}},
        {"type": "Swish", "name": "swish1"},
        {"type": "Dropout", "name": "dropout1", "params": {"p": 0.2}},
        {"type": "Linear", "name": "linear2", "params": {"in_features": 16, "out_features": len(LABELS)}},
        {"type": "Softmax", "name": "softmax", "params": {"dim": 1}},
    ]


def reference_style_checkpoint(directory: Path, head_in_features: int = FEATURES) -> Path:
    """Saved the way the reference project saves EfficientNet_B0_NS_320.pth.

    A timm model with its stock 1000-class classifier plus the custom head under `fc`, the
    state dict wrapped as {"model_state_dict": ...}, the head described in fully_connected.yaml.
    """
    torch.manual_seed(1)
    model = timm.create_model(ARCHITECTURE)
    head = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 16),
        torch.nn.BatchNorm1d(16),
        torch.nn.SiLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(16, len(LABELS)),
    )
    batch_norm = head[1]
    assert isinstance(batch_norm, torch.nn.BatchNorm1d) and batch_norm.running_mean is not None
    batch_norm.running_mean.uniform_(-0.5, 0.5)  # so that a head left unloaded would show
    names = ["linear1", "bn1", "swish1", "dropout1", "linear2"]
    state = model.state_dict()
    for name, module in zip(names, head, strict=True):
        for key, value in module.state_dict().items():
            state[f"fc.{name}.{key}"] = value
    torch.save({"epoch": 3, "model_state_dict": state}, directory / "EfficientNet_tiny.pth")
    (directory / "fully_connected.yaml").write_text(
        yaml.safe_dump({"fc": reference_head_layers(head_in_features)})
    )
    return write_manifest(
        directory,
        "EfficientNet_tiny.pth",
        checkpoint_key="model_state_dict",
        head={"file": "fully_connected.yaml", "checkpoint_prefix": "fc"},
    )


def decoder_for(manifest: ModelManifest, max_pixels: int = MAX_PIXELS, threads: int = 1) -> BatchDecoder:
    """The decoder the container gives a backend for `manifest`, at the settings' limits."""
    return make_decoder(manifest, replace(LIMITS, max_pixels=max_pixels), threads=threads)


def runtime(**overrides: Any) -> dict[str, Any]:
    """A backend's device, threads and precision as the settings default them, with overrides."""
    defaults = ModelSettings().model_dump(include={"device", "threads", "precision"})
    return defaults | overrides
