"""The manifest's model as an ONNX file, exported once and cached under a hash of what shapes it.

The ONNX backends never load a hand-placed file: they ask for the export of the very manifest
and weights the PyTorch backend serves, so the two cannot disagree about the model. A worker with
a cold cache exports (a few seconds), every later start reads the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.model.manifest import ModelManifest

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "pixels"
OUTPUT_NAME = "scores"


def exported_onnx(manifest: ModelManifest, cache_dir: Path) -> Path:
    """The cached ONNX file of the manifest's model, exported now if the cache lacks it.

    Safe for several processes at once: each writes its own temporary file and renames it into
    place, so a reader only ever sees a complete file (the last writer wins, with the same bytes).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{manifest.architecture}-{cache_key(manifest)[:32]}"
    torch_version = _torch_version()
    if torch_version is None:
        return _export_made_elsewhere(manifest, cache_dir, stem)
    path = cache_dir / f"{stem}-torch{torch_version}.onnx"
    if path.is_file():
        return path
    from adapters.model.timm_model import build_model

    model = build_model(manifest)
    descriptor, temporary = tempfile.mkstemp(dir=cache_dir, prefix=f".{path.stem}-", suffix=".partial")
    os.close(descriptor)
    try:
        _export(model, manifest.input_size, Path(temporary))
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from a cache's other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("exported %s %s to %s", manifest.name, manifest.version, path)
    return path


def cache_key(manifest: ModelManifest) -> str:
    """sha256 of the weights and of everything else that changes the exported graph (but torch's version,
    which the file name carries)."""
    digest = hashlib.sha256()
    with manifest.weights.open("rb") as weights:
        for chunk in iter(lambda: weights.read(1 << 20), b""):
            digest.update(chunk)
    graph = {
        "architecture": manifest.architecture,
        "architecture_args": manifest.architecture_args,
        "input_size": manifest.input_size,
        "labels": len(manifest.labels),
        "head": dataclasses.asdict(manifest.head) if manifest.head else None,
        "checkpoint_key": manifest.checkpoint_key,  # which tensors of the file become the weights
        "opset": OPSET,
    }
    digest.update(json.dumps(graph, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def _export_made_elsewhere(manifest: ModelManifest, cache_dir: Path, stem: str) -> Path:
    """The export of this very model made where torch is installed (an image's build stage)."""
    made = sorted(cache_dir.glob(f"{stem}-torch*.onnx"))
    if not made:
        raise OSError(
            f"no ONNX export of {manifest.name} in {cache_dir}, and torch (needed to make one) is not "
            "installed: run `inference export-onnx` where it is, or install the `torch` extra"
        )
    return made[-1]


def _export(model: torch.nn.Module, input_size: int, path: Path) -> None:
    import torch

    example = torch.zeros(1, 3, input_size, input_size)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which takes about
        # ten times longer on these models for the same graph; it says so on every call.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
