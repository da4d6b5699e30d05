"""The model's section (`INFERENCE_MODEL__*`): which model, run by what, and the models bundled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
)

from inference.domain import Precision

# The repository root: this module is entrypoints/settings/model.py.
_ROOT = Path(__file__).resolve().parents[2]
DEMO_MANIFEST = _ROOT / "demo" / "model" / "model.yaml"
IMAGENET_MANIFEST = _ROOT / "models" / "efficientnet-lite0" / "model.yaml"
# Models that come with the service, by the name `--model` and INFERENCE_MODEL__MANIFEST accept.
BUNDLED_MODELS = {"imagenet": IMAGENET_MANIFEST, "demo": DEMO_MANIFEST}


def _bundled_model(value: object) -> object:
    return BUNDLED_MODELS.get(value, value) if isinstance(value, str) else value


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inference"


class ModelSettings(BaseModel):
    manifest: Annotated[Path, BeforeValidator(_bundled_model)] = Field(
        IMAGENET_MANIFEST,
        description="The model manifest (YAML) to serve, or a bundled model: imagenet, demo (shapes).",
    )
    backend: Literal["torch", "onnxruntime", "openvino"] = Field(
        "openvino",
        description="What runs the model: torch (eager), or its ONNX export on onnxruntime/openvino.",
    )
    precision: Precision = Field(
        "fp32",
        description="bf16: torch or openvino, on CPUs with AVX512-BF16/AMX; fp16: torch on cuda; "
        "int8: openvino, after `inference quantize`.",
    )
    int8_model: Path | None = Field(
        None,
        description="The INT8 model (a folder `inference quantize` wrote) to serve; None = the newest "
        "one of the manifest's model in cache_dir.",
    )
    compile: bool = Field(False, description="torch.compile the model (backend torch; slow to start).")
    device: str = Field("cpu", description="cpu, cuda, cuda:1 … (cuda: backend torch or onnxruntime-gpu).")
    threads: int | None = Field(
        None, ge=1, description="Inference threads; None = the CPUs this process may use (affinity, cgroup)."
    )
    decode_threads: int = Field(2, ge=1, description="Threads decoding a batch's images.")
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="ONNX exports (by weights hash) and INT8 models: $XDG_CACHE_HOME/inference.",
    )

    # Field validators (not a model one), so that the error names the setting.
    @field_validator("precision")
    @classmethod
    def _int8_needs_openvino(cls, precision: Precision, info: ValidationInfo) -> Precision:
        backend = info.data.get("backend")
        if precision == "int8" and backend != "openvino":
            raise ValueError(f"int8 runs on backend openvino only, not {backend}")
        return precision

    @field_validator("compile")
    @classmethod
    def _compile_needs_torch(cls, compile: bool, info: ValidationInfo) -> bool:
        backend = info.data.get("backend")
        if compile and backend != "torch":
            raise ValueError(f"compile applies to backend torch only, not {backend}")
        return compile
