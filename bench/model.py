"""Model speed per backend, precision and batch size, on preprocessed arrays (no decoding).

    uv run python -m bench.model [--architecture efficientnet_b0] [--size 320] [--batch-sizes 1,2,4,8]
                                 [--seconds 6] [--rounds 3] [--compile] [--only openvino] [--json out.json]

Writes a manifest and random weights for the architecture, so that the real loading code runs
(the ONNX export included). The backends take turns in short rounds because a shared machine's
speed drifts: images/s is the median over rounds, and the ratio to the baseline (eager fp32
NCHW, what a naive worker runs) is taken within each round, then its median. FLOPs per image
come from torch's FlopCounterMode; "% peak" is the share of the `torch.mm` GFLOP/s measured in
this run at the same precision (int8: of OpenVINO's on an NNCF-quantized matmul, see bench.int8).
"top-1" is the agreement with the baseline on random inputs. Below the table, OpenVINO int8 and
bf16 against fp32, each at its best batch size, within each round, then the median.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from adapters.model.base import BackendError
from adapters.model.manifest import ModelManifest, load_manifest
from adapters.model.onnxruntime_classifier import OnnxRuntimeClassifier
from adapters.model.openvino_classifier import OpenVINOClassifier
from adapters.model.timm_classifier import TimmClassifier
from adapters.model.timm_model import build_model
from bench.int8 import int8_classifier, openvino_matmul_gops
from bench.model_report import Array, Forward, Row, report
from bench.timing import flops_per_image, matmul_gflops, timed_calls, top1_agreement
from tests.harness.checkpoints import decoder_for, runtime, write_checkpoint

Variant = tuple[str, str, Callable[[ModelManifest, Path], Forward]]

VARIANTS: list[Variant] = [
    ("torch eager NCHW (baseline)", "fp32", lambda m, cache: naive_forward(m)),
    (
        "torch channels_last",
        "fp32",
        lambda m, cache: TimmClassifier(m, decoder_for(m), compile=False, **runtime()).probabilities,
    ),
    (
        "onnxruntime",
        "fp32",
        lambda m, cache: OnnxRuntimeClassifier(m, decoder_for(m), cache, **runtime()).probabilities,
    ),
    (
        "openvino (auto hint)",
        "fp32",
        lambda m, cache: (
            OpenVINOClassifier(m, decoder_for(m), cache, int8_model=None, **runtime()).probabilities
        ),
    ),
    (
        "openvino, latency hint",
        "fp32",
        lambda m, c: (
            OpenVINOClassifier(
                m, decoder_for(m), c, hint="latency", int8_model=None, **runtime()
            ).probabilities
        ),
    ),
    (
        "openvino, throughput hint",
        "fp32",
        lambda m, c: (
            OpenVINOClassifier(
                m, decoder_for(m), c, hint="throughput", int8_model=None, **runtime()
            ).probabilities
        ),
    ),
    (
        "torch channels_last",
        "bf16",
        lambda m, cache: (
            TimmClassifier(m, decoder_for(m), compile=False, **runtime(precision="bf16")).probabilities
        ),
    ),
    (
        "openvino (auto hint)",
        "bf16",
        lambda m, c: (
            OpenVINOClassifier(
                m, decoder_for(m), c, int8_model=None, **runtime(precision="bf16")
            ).probabilities
        ),
    ),
    ("openvino (auto hint)", "int8", lambda m, c: int8_classifier(m, c).probabilities),
]
COMPILED: Variant = (
    "torch.compile channels_last",
    "fp32",
    lambda m, c: TimmClassifier(m, decoder_for(m), compile=True, **runtime()).probabilities,
)


def write_model(directory: Path, architecture: str, size: int) -> ModelManifest:
    """`architecture` at `size` with random weights and 1000 classes: a model's speed does not
    depend on what it learnt."""
    labels = [f"class {i}" for i in range(1000)]
    fields = {
        "name": architecture,
        "input_size": size,
        "version": None,
        "crop_pct": None,
        "interpolation": None,
    }
    return load_manifest(write_checkpoint(directory, architecture, labels, **fields))


def naive_forward(manifest: ModelManifest) -> Forward:
    """The baseline: the model as built (NCHW, fp32) under no_grad, softmax in torch."""
    model = build_model(manifest)

    def forward(pixels: Array) -> npt.NDArray[np.generic]:
        with torch.no_grad():
            probabilities: npt.NDArray[np.generic] = model(torch.from_numpy(pixels)).softmax(dim=1).numpy()
        return probabilities

    return forward


def load_rows(manifest: ModelManifest, cache: Path, variants: list[Variant]) -> list[Row]:
    rows = []
    for name, precision, make in variants:
        started = time.perf_counter()
        try:
            rows.append(Row(name, precision, make(manifest, cache)))
        except BackendError as exc:
            print(f"  skipped {name} {precision}: {exc}")
            continue
        print(f"  loaded {name} {precision} in {time.perf_counter() - started:.1f} s", flush=True)
    return rows


def run(args: argparse.Namespace, manifest: ModelManifest, cache: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    size = manifest.input_size
    variants = VARIANTS[:2] + [COMPILED] * args.compile + VARIANTS[2:]
    # The baseline always runs: every ratio is to it.
    rows = load_rows(manifest, cache, variants[:1] + [v for v in variants[1:] if args.only in v[0]])
    probe = rng.standard_normal((16, 3, size, size), dtype=np.float32)
    for row in rows:
        row.agreement = top1_agreement(row.forward(probe), rows[0].forward(probe))
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": [], "int8": [], "openvino fp32": []}
    for round_ in range(args.rounds):
        peaks["fp32"].append(matmul_gflops(torch.float32))
        peaks["bf16"].append(matmul_gflops(torch.bfloat16))
        peaks["int8"].append(openvino_matmul_gops("int8"))
        peaks["openvino fp32"].append(openvino_matmul_gops("fp32"))
        for batch in args.batch_sizes:
            pixels = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
            for row in rows:
                row.forward(pixels)  # a new batch shape's first run is not representative
                elapsed, latencies = timed_calls(lambda: row.forward(pixels), args.seconds / args.rounds)  # noqa: B023
                row.rates.setdefault(batch, []).append(batch * len(latencies) / elapsed)
                row.ratios.setdefault(batch, []).append(row.rates[batch][-1] / rows[0].rates[batch][-1])
                row.latencies.setdefault(batch, []).extend(latencies)
        print(f"  round {round_ + 1}/{args.rounds} done", flush=True)
    flops = flops_per_image(build_model(manifest), size)
    return report(rows, args.batch_sizes, flops, {key: max(values) for key, values in peaks.items()})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--architecture", default="efficientnet_b0")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument(
        "--batch-sizes", type=lambda text: [int(b) for b in text.split(",")], default=[1, 2, 4, 8]
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="timed seconds per cell, over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="add torch.compile (slow to compile)")
    parser.add_argument(
        "--only", default="", help="run only the backends whose name holds this (and the baseline)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    cpus = len(os.sched_getaffinity(0))
    print(f"{args.architecture} at {args.size} px; {cpus} CPUs; torch {torch.__version__}", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        figures = run(
            args, write_model(Path(directory), args.architecture, args.size), Path(directory) / "cache"
        )
    if args.json:
        figures |= {
            "architecture": args.architecture,
            "size": args.size,
            "cpus": cpus,
            "torch": torch.__version__,
        }
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
