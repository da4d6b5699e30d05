"""Where INT8 models live: one folder per model and calibration set, written whole or not at all.

A folder's name carries a hash of what shapes the quantized model: the weights and graph (the
ONNX export's key), the preprocessing that turned the calibration images into pixels, and the
calibration set itself (file names and bytes) with the quantizer's version and settings. The
worker serves the newest folder of its manifest's model, or the one a setting pins; it needs no
NNCF, only OpenVINO.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from adapters.model.base import BackendError
from adapters.model.manifest import ModelManifest
from adapters.model.onnx_export import cache_key

MODEL_FILE = "model.xml"  # OpenVINO IR; its weights are model.bin beside it
REPORT_FILE = "quantization.json"  # the check it passed, and the key it was made for


def model_key(manifest: ModelManifest) -> str:
    """sha256 of the ONNX export's key and the preprocessing: calibrated activation ranges
    depend on both."""
    preprocessing = {
        "resize_size": manifest.resize_size,
        "interpolation": manifest.interpolation,
        "mean": manifest.mean,
        "std": manifest.std,
    }
    text = cache_key(manifest) + json.dumps(preprocessing, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def calibration_key(images: Iterable[tuple[str, bytes]], settings: dict[str, Any]) -> str:
    """sha256 of the calibration set (names and bytes, in name order) and the quantizer's settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, data in sorted(images):
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(data).digest())
    return digest.hexdigest()


def folder_prefix(manifest: ModelManifest) -> str:
    return f"{manifest.architecture}-{model_key(manifest)[:24]}-int8-"


def int8_folder(manifest: ModelManifest, cache_dir: Path, calibration: str) -> Path:
    return cache_dir / f"{folder_prefix(manifest)}{calibration[:16]}"


def write_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    """`write` fills a temporary folder beside `folder`, which is then renamed into place.

    A reader never sees half a model. When another process got there first, its folder (made
    from the same inputs) stays and ours is dropped.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-", suffix=".partial"))
    try:
        write(temporary)
        os.chmod(temporary, 0o755)  # noqa: S103 (mkdtemp's 0700 would hide the model from a cache's other users)
        try:
            os.rename(temporary, folder)
        except OSError:
            if not (folder / MODEL_FILE).is_file():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def served_int8_model(manifest: ModelManifest, cache_dir: Path, pinned: Path | None) -> Path:
    """The INT8 model (its model.xml) a worker serves: the pinned folder, or else the newest
    quantization of this very model in the cache. BackendError if there is none to serve."""
    if pinned is not None:
        report = _report(pinned)
        if report.get("model_key") != model_key(manifest):
            raise BackendError(
                f"INT8 model {pinned} was not quantized from {manifest.name} {manifest.version} as the "
                "manifest describes it (other weights or preprocessing): run `inference quantize` again"
            )
        return pinned / MODEL_FILE
    made = [
        folder
        for folder in cache_dir.glob(f"{folder_prefix(manifest)}*")
        if (folder / MODEL_FILE).is_file() and (folder / REPORT_FILE).is_file()
    ]
    if not made:
        raise BackendError(
            f"no INT8 model of {manifest.name} {manifest.version} in {cache_dir}: run `inference quantize "
            "--manifest MANIFEST --calibration DIR` first (with the same INFERENCE_MODEL__CACHE_DIR)"
        )
    return max(made, key=lambda folder: (folder / REPORT_FILE).stat().st_mtime) / MODEL_FILE


def _report(folder: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads((folder / REPORT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise BackendError(f"{folder} is not a folder that `inference quantize` wrote: {exc}") from exc
    if not (folder / MODEL_FILE).is_file():
        raise BackendError(f"{folder} has no {MODEL_FILE}")
    return report
