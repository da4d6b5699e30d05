"""A worker without torch (the `worker` image) serves the ONNX export its build made, or says why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.model import onnx_export
from adapters.model.manifest import ModelManifest


@pytest.fixture
def manifest(tmp_path: Path) -> ModelManifest:
    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"not really weights: only their hash matters here")
    return ModelManifest("tiny", "1", "tinynet_e", ("a", "b"), 32, weights)


@pytest.fixture
def without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "_torch_version", lambda: None)


@pytest.mark.usefixtures("without_torch")
def test_without_torch_the_export_another_torch_made_of_this_model_is_served(
    manifest: ModelManifest, tmp_path: Path
) -> None:
    stem = f"{manifest.architecture}-{onnx_export.cache_key(manifest)[:32]}"
    made = tmp_path / f"{stem}-torch2.15.0.onnx"
    made.write_bytes(b"onnx")
    (tmp_path / f"{manifest.architecture}-{'0' * 32}-torch2.15.0.onnx").write_bytes(b"another model")

    assert onnx_export.exported_onnx(manifest, tmp_path) == made


@pytest.mark.usefixtures("without_torch")
def test_without_torch_and_without_an_export_the_error_says_how_to_make_one(
    manifest: ModelManifest, tmp_path: Path
) -> None:
    with pytest.raises(OSError, match=r"torch .* is not installed: run `inference export-onnx`"):
        onnx_export.exported_onnx(manifest, tmp_path)


def test_with_torch_an_export_is_named_after_the_torch_that_made_it(
    manifest: ModelManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "_torch_version", lambda: "9.9.9")
    stem = f"{manifest.architecture}-{onnx_export.cache_key(manifest)[:32]}"
    mine = tmp_path / f"{stem}-torch9.9.9.onnx"
    mine.write_bytes(b"onnx")
    (tmp_path / f"{stem}-torch2.15.0.onnx").write_bytes(b"made by another torch")

    assert onnx_export.exported_onnx(manifest, tmp_path) == mine
