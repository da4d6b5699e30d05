"""What every model backend shares: decoding, per-image failures, softmax, top-k and warm-up.

A backend (PyTorch, ONNX Runtime, OpenVINO) only turns a float32 NCHW array into scores; the
rest of the Classifier port lives here once, in numpy, so the backends cannot drift apart.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from adapters.model.manifest import ModelManifest
from inference.domain import InferenceRequest
from inference.errors import ImageTooLarge, InvalidImage
from inference.outcomes import Failure, LabelScore, ModelInfo, Prediction
from inference.ports import Classifier
from inference.timings import BatchTimings

Pixels = npt.NDArray[np.float32]


class BackendError(ValueError):
    """The backend cannot run the model as configured (precision, device) on this machine."""


INT8_NEEDS_OPENVINO = "precision int8 needs backend openvino (and an INT8 model: `inference quantize`)"


class ImageDecoder(Protocol):
    """Encoded images to the model's input array; the container passes one in.

    The images package decodes (it owns untrusted bytes); the model only states what it needs,
    so neither technology imports the other.
    """

    def decode(self, images: Sequence[bytes]) -> tuple[Pixels, list[InvalidImage | None]]:
        """The (n, 3, size, size) array of the images that decoded, and each image's error or None."""
        ...


def softmax(scores: Pixels) -> Pixels:
    """Row-wise softmax, shifted by each row's maximum so that large logits do not overflow."""
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    result: Pixels = shifted / shifted.sum(axis=1, keepdims=True)
    return result


class ArrayClassifier(Classifier):
    """The Classifier port around a forward pass on a (n, 3, size, size) float32 array.

    A subclass loads its model, calls `_warm_up()` once it can run, and implements `_forward`,
    which returns one row of logits (or of probabilities, when the manifest's head ends in
    Softmax) per image. Thread-safe: batches classified at once are decoded at once, and take
    turns in the model, so a worker decodes its next batch while the model runs this one.
    The decoder refuses images over the API's pixel limit without decoding them: a message
    published around the API gets no further.
    """

    def __init__(self, manifest: ModelManifest, decoder: ImageDecoder) -> None:
        self._manifest = manifest
        self._decoder = decoder
        self._model_lock = threading.Lock()
        self._outputs_probabilities = bool(manifest.head and manifest.head.layers[-1].type == "Softmax")

    @property
    def model(self) -> ModelInfo:
        return self._manifest.info

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        return self.classify_timed(batch)[0]

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings]:
        started = time.perf_counter()
        pixels, errors = self._decoder.decode([request.image for request in batch])
        decoded = time.perf_counter()
        with self._model_lock:  # one forward pass at a time: each already uses every core
            # The wait for the lock is the model's time too: another batch holds it.
            probabilities = self.probabilities(pixels) if len(pixels) else pixels
        timings = BatchTimings(preprocess=decoded - started, model=time.perf_counter() - decoded)
        outcomes: list[Prediction | Failure] = []
        row = 0
        for request, error in zip(batch, errors, strict=True):
            if error is None:
                outcomes.append(self._prediction(probabilities[row], request.top_k))
                row += 1
            else:
                code = ImageTooLarge.code if isinstance(error, ImageTooLarge) else InvalidImage.code
                outcomes.append(Failure(code, str(error)))
        return outcomes, timings

    def probabilities(self, pixels: Pixels) -> Pixels:
        """Class probabilities, one row per image of a preprocessed (n, 3, size, size) array."""
        scores = np.asarray(self._forward(pixels), dtype=np.float32)
        return scores if self._outputs_probabilities else softmax(scores)

    @abstractmethod
    def _forward(self, pixels: Pixels) -> npt.NDArray[np.generic]:
        """Logits (or probabilities, for a Softmax head) of shape (n, labels) for n images."""

    def _warm_up(self) -> None:
        # The first run allocates, picks kernels and (torch.compile) compiles: not a request's job.
        size = self._manifest.input_size
        self.probabilities(np.zeros((1, 3, size, size), dtype=np.float32))

    def _prediction(self, probabilities: Pixels, k: int) -> Prediction:
        labels = self._manifest.labels
        best = np.argsort(-probabilities, kind="stable")[: min(k, len(labels))]
        return Prediction(
            scores=tuple(LabelScore(labels[i], float(probabilities[i])) for i in best.tolist()),
            model_name=self._manifest.name,
            model_version=self._manifest.version,
        )
