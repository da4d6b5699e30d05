"""The Classifier port on PyTorch and timm: decode each image, one forward pass per batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from adapters.image_decoding import DEFAULT_MAX_PIXELS, Preprocessing, decode
from adapters.model_manifest import ModelManifest
from adapters.timm_model import build_model
from inference.domain import Failure, InferenceRequest, LabelScore, ModelInfo, Prediction
from inference.errors import ImageTooLarge, InvalidImage
from inference.ports import Classifier

log = logging.getLogger(__name__)


class TimmClassifier(Classifier):
    """Loads the manifest's model once, warms it up, then classifies batches.

    Not thread-safe by design: a worker owns one and feeds it one batch at a time. Images over
    `max_pixels` (the API's limit, INFERENCE_API__MAX_PIXELS) fail without being decoded: a
    message published around the API gets no further.
    """

    def __init__(
        self,
        manifest: ModelManifest,
        device: str = "cpu",
        threads: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if threads:
            torch.set_num_threads(threads)
        self._manifest = manifest
        self._max_pixels = max_pixels
        self._device = torch.device(device)
        self._preprocessing = Preprocessing(
            input_size=manifest.input_size,
            resize_size=manifest.resize_size,
            interpolation=manifest.interpolation,
            mean=manifest.mean,
            std=manifest.std,
        )
        # channels_last roughly doubles CPU throughput of depthwise convolutions (EfficientNet).
        self._model = build_model(manifest).to(self._device).to(memory_format=torch.channels_last)
        self._outputs_probabilities = bool(manifest.head and manifest.head.layers[-1].type == "Softmax")
        self._warm_up()
        log.info("loaded model %s %s on %s", manifest.name, manifest.version, self._device)

    @property
    def model(self) -> ModelInfo:
        return self._manifest.info

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        outcomes: list[Prediction | Failure | None] = [None] * len(batch)
        pixels: list[np.ndarray] = []
        decoded: list[int] = []
        for index, request in enumerate(batch):
            try:
                pixels.append(decode(request.image, self._preprocessing, self._max_pixels))
                decoded.append(index)
            except InvalidImage as exc:
                code = ImageTooLarge.code if isinstance(exc, ImageTooLarge) else InvalidImage.code
                outcomes[index] = Failure(code, str(exc))
        if decoded:
            probabilities = self._forward(np.stack(pixels))
            for row, index in enumerate(decoded):
                outcomes[index] = self._top_k(probabilities[row], batch[index].top_k)
        return [outcome for outcome in outcomes if outcome is not None]

    def _forward(self, pixels: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(pixels).to(self._device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            output = self._model(tensor).float()
            if not self._outputs_probabilities:
                output = output.softmax(dim=1)
        result: torch.Tensor = output.cpu()
        return result

    def _top_k(self, probabilities: torch.Tensor, k: int) -> Prediction:
        scores, indices = probabilities.topk(min(k, len(self._manifest.labels)))
        return Prediction(
            top_k=tuple(
                LabelScore(self._manifest.labels[i], float(s))
                for s, i in zip(scores.tolist(), indices.tolist(), strict=True)
            ),
            model_name=self._manifest.name,
            model_version=self._manifest.version,
        )

    def _warm_up(self) -> None:
        size = self._manifest.input_size
        self._forward(np.zeros((1, 3, size, size), dtype=np.float32))
