"""The ONNX export: made from the manifest and its weights, cached by their hash, safe to race."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file, save_file

from adapters.model import onnx_export
from adapters.model.manifest import HeadLayer, HeadSpec, ModelManifest, load_manifest
from adapters.model.onnx_export import cache_key, exported_onnx
from adapters.model.timm_model import build_model
from entrypoints.cli import main
from tests.harness.checkpoints import safetensors_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def manifest(tmp_path: Path) -> ModelManifest:
    model = tmp_path / "model"
    model.mkdir()
    return load_manifest(safetensors_checkpoint(model))


def _refuse_to_export(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("exported again instead of reading the cache")


def test_a_second_call_reads_the_cache_instead_of_exporting_again(
    manifest: ModelManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = exported_onnx(manifest, tmp_path / "cache")
    written = first.stat().st_mtime_ns
    monkeypatch.setattr(torch.onnx, "export", _refuse_to_export)

    second = exported_onnx(manifest, tmp_path / "cache")

    assert second == first
    assert second.stat().st_mtime_ns == written


def test_changed_weights_export_to_a_different_file(manifest: ModelManifest, tmp_path: Path) -> None:
    before = exported_onnx(manifest, tmp_path / "cache")
    weights = load_file(str(manifest.weights))
    save_file({name: tensor + 0.01 for name, tensor in weights.items()}, str(manifest.weights))

    after = exported_onnx(manifest, tmp_path / "cache")

    assert after != before
    assert sorted((tmp_path / "cache").iterdir()) == sorted([before, after])


@pytest.mark.parametrize(
    "change",
    [
        {"architecture": "tinynet_d"},
        {"architecture_args": {"drop_rate": 0.1}},
        {"input_size": 40},
        {"labels": ("cat", "dog", "fox", "owl")},
        {"head": HeadSpec((HeadLayer("Linear", "fc", {"in_features": 1280, "out_features": 3}),))},
        {"checkpoint_key": "state_dict"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_whatever_shapes_the_graph_changes_the_cache_key(
    manifest: ModelManifest, change: dict[str, Any]
) -> None:
    assert cache_key(dataclasses.replace(manifest, **change)) != cache_key(manifest)


def test_a_new_name_version_or_label_wording_reuses_the_export(manifest: ModelManifest) -> None:
    renamed = dataclasses.replace(manifest, name="other", version="8", labels=("a", "b", "c"))

    assert cache_key(renamed) == cache_key(manifest)


def test_an_export_that_fails_leaves_nothing_in_the_cache(
    manifest: ModelManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_halfway(model: torch.nn.Module, input_size: int, path: Path) -> None:
        path.write_bytes(b"half a model")
        raise RuntimeError("disk full")

    monkeypatch.setattr(onnx_export, "_export", fail_halfway)

    with pytest.raises(RuntimeError, match="disk full"):
        exported_onnx(manifest, tmp_path / "cache")

    assert not list((tmp_path / "cache").iterdir())


# Each process waits at the start of its export until the other one is exporting too.
EXPORT_TOGETHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from adapters.model import onnx_export
    from adapters.model.manifest import load_manifest

    manifest, cache, gate = load_manifest(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    name = sys.argv[4]
    export = onnx_export._export

    def export_together(*args):
        (gate / name).touch()
        deadline = time.monotonic() + 60
        while len(list(gate.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        export(*args)

    onnx_export._export = export_together
    print(onnx_export.exported_onnx(manifest, cache))
    """
)


@pytest.mark.slow
def test_two_processes_exporting_at_once_leave_one_complete_file(
    manifest: ModelManifest, tmp_path: Path
) -> None:
    cache, gate = tmp_path / "cache", tmp_path / "gate"
    gate.mkdir()
    manifest_path = manifest.weights.parent / "model.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", EXPORT_TOGETHER, str(manifest_path), str(cache), str(gate), name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("one", "two")
    ]
    printed = {worker.communicate(timeout=240)[0].strip() for worker in workers}

    assert [worker.returncode for worker in workers] == [0, 0]
    assert sorted(path.name for path in gate.iterdir()) == ["one", "two"]  # both really exported
    (path,) = printed
    assert list(cache.iterdir()) == [Path(path)]
    onnx.checker.check_model(path)
    pixels = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    (scores,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"pixels": pixels})
    with torch.no_grad():
        expected = build_model(manifest)(torch.from_numpy(pixels)).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-4)


def test_the_export_onnx_command_prints_the_path_of_the_export(
    manifest: ModelManifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["export-onnx", "--manifest", str(manifest.weights.parent / "model.yaml")]
    command += ["--cache-dir", str(tmp_path / "cache")]

    assert main(command) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert main(command) == 0

    assert printed.parent == tmp_path / "cache" and printed.suffix == ".onnx"
    assert onnx.load(printed).graph.input[0].name == "pixels"
    assert Path(capsys.readouterr().out.strip()) == printed


def test_the_export_onnx_command_refuses_a_broken_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "model.yaml"
    manifest.write_text("name: half a manifest\n")

    assert main(["export-onnx", "--manifest", str(manifest), "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "missing keys" in capsys.readouterr().err
