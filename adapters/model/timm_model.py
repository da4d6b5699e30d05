"""Build a timm model from a manifest and load its weights safely (no pickle ever executes).

Weights load only through safetensors or `torch.load(weights_only=True)`; nothing downloads.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from adapters.model.checkpoint_keys import map_positionally
from adapters.model.manifest import PACKAGE_SCHEME, HeadSpec, ManifestError, ModelManifest

_LAYERS: dict[str, Callable[..., nn.Module]] = {
    "Linear": nn.Linear,
    "BatchNorm1d": nn.BatchNorm1d,
    "Dropout": nn.Dropout,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,  # Swish with beta = 1 is SiLU
    "ReLU": nn.ReLU,
    "Softmax": lambda **params: nn.Softmax(**({"dim": 1} | params)),
}
_STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")


def build_model(manifest: ModelManifest) -> nn.Module:
    """The model in eval mode with its weights loaded; raises ManifestError with a clear reason."""
    try:
        model = timm.create_model(
            manifest.architecture,
            pretrained=False,
            num_classes=0 if manifest.head else len(manifest.labels),
            **manifest.architecture_args,
        )
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ManifestError(f"timm cannot build {manifest.architecture!r}: {exc}") from exc
    attribute = _classifier_attribute(model)
    if manifest.head:
        head = build_head(manifest.head, _num_features(model), len(manifest.labels))
        _set_submodule(model, attribute, head)
    state = _read_state_dict(manifest)
    if manifest.head:
        state = _move_head_weights(state, manifest.head.checkpoint_prefix, attribute)
    state = _strip_prefix(state, "module.")  # saved from DataParallel
    if manifest.key_mapping == "positional":
        state = map_positionally(state, model.state_dict(), manifest.weights_source)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensors of the wrong shape
        raise ManifestError(
            f"weights {manifest.weights.name} do not fit {manifest.architecture} with "
            f"{len(manifest.labels)} labels: {exc}"
        ) from exc
    if result.missing_keys or result.unexpected_keys:
        raise ManifestError(
            f"weights {manifest.weights.name} do not fit {manifest.architecture} with "
            f"{len(manifest.labels)} labels: missing {_few(result.missing_keys)}, "
            f"unexpected {_few(result.unexpected_keys)}"
        )
    return model.eval()


def build_head(spec: HeadSpec, in_features: int, num_classes: int) -> nn.Sequential:
    """The head as an nn.Sequential, its widths checked against the backbone and the labels."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for layer in spec.layers:
        factory = _LAYERS.get(layer.type)
        if factory is None:
            raise ManifestError(
                f"head layer {layer.name!r}: unsupported type {layer.type!r}; supported: {', '.join(_LAYERS)}"
            )
        expected = layer.params.get("in_features", layer.params.get("num_features"))
        if expected is not None and expected != width:
            raise ManifestError(
                f"head layer {layer.name!r} ({layer.type}) expects {expected} input features "
                f"but receives {width} (the backbone gives {in_features})"
            )
        try:
            layers[layer.name] = factory(**layer.params)
        except TypeError as exc:
            raise ManifestError(f"head layer {layer.name!r} ({layer.type}): {exc}") from exc
        width = layer.params.get("out_features", width)
    if width != num_classes:
        raise ManifestError(f"the head ends with {width} outputs but the manifest has {num_classes} labels")
    return nn.Sequential(layers)


def _read_state_dict(manifest: ModelManifest) -> dict[str, torch.Tensor]:
    path = manifest.weights
    if not path.is_file():
        if manifest.weights_source.startswith(PACKAGE_SCHEME):
            package = manifest.weights_source[len(PACKAGE_SCHEME) :].partition("/")[0]
            raise ManifestError(
                f"weights {manifest.weights_source} not found: is the Python package {package} "
                "installed (in this environment, at the version the manifest expects)?"
            )
        raise ManifestError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error type for a bad header
            raise ManifestError(f"cannot load {path.name} as safetensors: {exc}") from exc
    try:
        loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses anything but tensors and plain containers
        raise ManifestError(f"cannot load {path.name} as a state dict: {exc}") from exc
    keys = (manifest.checkpoint_key,) if manifest.checkpoint_key else _STATE_DICT_KEYS
    for key in keys:
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    else:
        if manifest.checkpoint_key:
            raise ManifestError(f"{path.name} has no {manifest.checkpoint_key!r} entry")
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ManifestError(f"{path.name} does not hold a state dict of tensors")
    return dict(loaded)


def _num_features(model: nn.Module) -> int:
    features = getattr(model, "num_features", None)
    if not isinstance(features, int):
        raise ManifestError(f"{type(model).__name__} does not say its feature width; a custom head needs it")
    return features


def _classifier_attribute(model: nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    return str(cfg.get("classifier", "classifier"))


def _set_submodule(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent_name, _, child = dotted.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _move_head_weights(
    state: dict[str, torch.Tensor], prefix: str | None, attribute: str
) -> dict[str, torch.Tensor]:
    if not prefix or prefix == attribute:
        return state
    # The architecture's own classifier weights are stale once the head replaces it.
    kept = {k: v for k, v in state.items() if not k.startswith(attribute + ".")}
    return {(attribute + k[len(prefix) :] if k.startswith(prefix + ".") else k): v for k, v in kept.items()}


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _few(keys: list[str]) -> str:
    return (
        "none" if not keys else ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    )
