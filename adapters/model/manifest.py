"""The model manifest: a small YAML file that says how to build, load and feed a classifier.

Shared by the model adapters and by the API (which reads it to describe the model without
loading weights). Needs no torch.

Weights are a file beside the manifest, or `package://<module>/<path>`: a file that an installed
Python package ships (found without importing the package). Labels are a list, or `labels_file`,
one label a line. `key_mapping: positional` loads a checkpoint saved under another project's
tensor names (see `checkpoint_keys`).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inference.outcomes import ModelInfo

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
KEY_MAPPINGS = ("positional",)
PACKAGE_SCHEME = "package://"


class ManifestError(ValueError):
    """The manifest, its head or its weights do not describe a model we can serve."""


@dataclass(frozen=True)
class HeadLayer:
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HeadSpec:
    """A classification head that replaces the architecture's own.

    `checkpoint_prefix` names where the checkpoint keeps the head's weights when that differs
    from the architecture's classifier attribute (the reference project saves them under `fc`).
    """

    layers: tuple[HeadLayer, ...]
    checkpoint_prefix: str | None = None


@dataclass(frozen=True)
class ModelManifest:
    name: str
    version: str
    architecture: str
    labels: tuple[str, ...]
    input_size: int
    weights: Path
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    architecture_args: dict[str, Any] = field(default_factory=dict)
    checkpoint_key: str | None = None
    head: HeadSpec | None = None
    key_mapping: str | None = None
    # What the manifest said (`package://…` or a file name), for messages about missing weights.
    weights_source: str = ""

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.name, self.version, self.labels, self.input_size)

    @property
    def resize_size(self) -> int:
        """Shorter side before the centre crop, as timm's eval transform computes it."""
        return int(self.input_size / self.crop_pct)


def load_manifest(path: str | Path) -> ModelManifest:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read model manifest {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ManifestError(f"model manifest {path} must be a mapping")
    try:
        return _parse(raw, path.parent)
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"model manifest {path}: {exc}") from exc


def _parse(raw: dict[str, Any], base: Path) -> ModelManifest:
    missing = {"name", "architecture", "input_size", "weights"} - raw.keys()
    if "labels" not in raw and "labels_file" not in raw:
        missing.add("labels")
    if missing:
        raise ValueError(f"missing keys: {', '.join(sorted(missing))}")
    labels = _labels(raw, base)
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError("labels must be at least two distinct names")
    interpolation = str(raw.get("interpolation", "bicubic"))
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}")
    key_mapping = raw.get("key_mapping")
    if key_mapping is not None and key_mapping not in KEY_MAPPINGS:
        raise ValueError(f"key_mapping must be one of {', '.join(KEY_MAPPINGS)}")
    crop_pct = float(raw.get("crop_pct", 0.875))
    if not 0 < crop_pct <= 1:
        raise ValueError("crop_pct must be in (0, 1]")
    return ModelManifest(
        name=str(raw["name"]),
        version=str(raw.get("version", "1")),
        architecture=str(raw["architecture"]),
        labels=labels,
        input_size=_positive_int(raw["input_size"], "input_size"),
        weights=_weights_path(str(raw["weights"]), base),
        crop_pct=crop_pct,
        interpolation=interpolation,
        mean=_triple(raw.get("mean", (0.485, 0.456, 0.406)), "mean"),
        std=_triple(raw.get("std", (0.229, 0.224, 0.225)), "std"),
        architecture_args=dict(raw.get("architecture_args") or {}),
        checkpoint_key=raw.get("checkpoint_key"),
        head=_parse_head(raw["head"], base) if raw.get("head") else None,
        key_mapping=key_mapping,
        weights_source=str(raw["weights"]),
    )


def _labels(raw: dict[str, Any], base: Path) -> tuple[str, ...]:
    if "labels_file" in raw:
        lines = (base / str(raw["labels_file"])).read_text(encoding="utf-8").splitlines()
        return tuple(line.strip() for line in lines if line.strip())
    return tuple(str(label) for label in raw["labels"])


def _weights_path(source: str, base: Path) -> Path:
    """The weights file; for `package://module/path`, inside the installed package.

    The package is located, never imported. When it is not installed, the path names it and
    does not exist: an API process (which never loads weights) still reads the manifest, and a
    worker's loader says which package to install.
    """
    if not source.startswith(PACKAGE_SCHEME):
        return base / source
    package, _, inner = source[len(PACKAGE_SCHEME) :].partition("/")
    if not package.isidentifier() or not inner:
        raise ValueError(f"weights {source!r} must read package://<module>/<path inside it>")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return Path(f"<package {package} is not installed>") / inner
    return Path(next(iter(spec.submodule_search_locations))) / inner


def _parse_head(raw: Any, base: Path) -> HeadSpec:
    if not isinstance(raw, dict):
        raise ValueError("head must be a mapping with `layers` or `file`")
    if "file" in raw:
        # The reference project's fully_connected.yaml: a list of layers under `fc`.
        loaded = yaml.safe_load((base / str(raw["file"])).read_text()) or {}
        layers = loaded.get("fc") or loaded.get("layers") or []
    else:
        layers = raw.get("layers") or []
    if not layers:
        raise ValueError("head has no layers")
    parsed = tuple(
        HeadLayer(
            type=str(layer["type"]),
            name=str(layer.get("name") or f"{index}"),
            params=dict(layer.get("params") or {}),
        )
        for index, layer in enumerate(layers)
    )
    prefix = raw.get("checkpoint_prefix")
    return HeadSpec(layers=parsed, checkpoint_prefix=str(prefix) if prefix else None)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer")
    return int(value)


def _triple(value: Any, name: str) -> tuple[float, float, float]:
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{name} must have three values (R, G, B)")
    return (values[0], values[1], values[2])
