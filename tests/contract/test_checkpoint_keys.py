"""Checkpoints under another project's tensor names load onto timm's model by position, checked.

The checkpoints are built here from a small timm model with its tensors renamed, as the
`efficientnet_pytorch` project names them differently from timm but in the same order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import yaml

from adapters.model.manifest import ManifestError, load_manifest
from adapters.model.timm_model import build_model

ARCHITECTURE = "tinynet_e"
LABELS = ["cat", "dog", "fox"]

pytestmark = pytest.mark.slow


def _reference() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(ARCHITECTURE, num_classes=len(LABELS)).eval()


def _renamed(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Other names, same order, and no BatchNorm counters (as efficientnet_pytorch saves them)."""
    kept = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    return {f"_theirs.{index}.{key.rsplit('.', 1)[-1]}": value for index, (key, value) in enumerate(kept)}


def _write(directory: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(state, directory / "weights.pth")
    manifest = {
        "name": "renamed",
        "architecture": ARCHITECTURE,
        "labels": LABELS,
        "input_size": 32,
        "weights": "weights.pth",
        "key_mapping": "positional",
    }
    (directory / "model.yaml").write_text(yaml.safe_dump(manifest))
    return directory / "model.yaml"


def test_a_checkpoint_under_other_names_loads_by_position_into_the_same_model(tmp_path: Path) -> None:
    reference = _reference()
    manifest = load_manifest(_write(tmp_path, _renamed(reference.state_dict())))

    loaded = build_model(manifest)

    pixels = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(pixels), reference(pixels))


def test_two_tensors_out_of_order_stop_the_load_naming_both_sides(tmp_path: Path) -> None:
    items = list(_renamed(_reference().state_dict()).items())
    items[0], items[5] = items[5], items[0]  # the stem's convolution swapped with a BatchNorm vector
    manifest = load_manifest(_write(tmp_path, dict(items)))

    with pytest.raises(ManifestError) as refused:
        build_model(manifest)

    message = str(refused.value)
    assert "tensor #0" in message and items[0][0] in message and "'conv_stem.weight'" in message
    assert f"has shape {tuple(items[0][1].shape)}" in message and "needs (" in message


def test_a_checkpoint_with_a_tensor_missing_says_how_many_each_side_has(tmp_path: Path) -> None:
    state = _renamed(_reference().state_dict())
    state.pop(next(iter(state)))
    manifest = load_manifest(_write(tmp_path, state))

    with pytest.raises(ManifestError, match=r"the checkpoint has (\d+) tensors and the model (?!\1)\d+"):
        build_model(manifest)


def test_without_the_mapping_the_renamed_checkpoint_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, _renamed(_reference().state_dict()))
    raw = yaml.safe_load(path.read_text())
    del raw["key_mapping"]
    path.write_text(yaml.safe_dump(raw))

    with pytest.raises(ManifestError, match=r"missing conv_stem\.weight"):
        build_model(load_manifest(path))
