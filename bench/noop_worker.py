"""`inference worker` with a classifier that does no work, for measuring what the rest carries.

    uv run python -m bench.noop_worker      (configured like `inference worker`, from INFERENCE_*)

Everything but the model is the real thing: the container, the queue and store adapters, the
worker loop and its use cases. Only the classifier is replaced, by one that answers the first
label with certainty without reading the image.
"""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import providers

from entrypoints.container import create_container
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings
from entrypoints.worker import run_worker
from inference.domain import InferenceRequest
from inference.outcomes import Failure, LabelScore, ModelInfo, Prediction
from inference.ports import Classifier


class NoWorkClassifier(Classifier):
    """Answers every request with the model's first label at probability 1, instantly."""

    def __init__(self, info: ModelInfo) -> None:
        self._info = info
        # Made once: building a score per label (1,000 of them) for every batch was 7 % of the
        # worker's CPU in a profile, charged to the service by the benchmark.
        self._scores = tuple(LabelScore(label, 1.0 if i == 0 else 0.0) for i, label in enumerate(info.labels))

    @property
    def model(self) -> ModelInfo:
        return self._info

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        return [
            Prediction(self._scores[: request.top_k], self._info.name, self._info.version)
            for request in batch
        ]


def main() -> None:
    settings = Settings(mode="distributed")
    configure_logging(settings.log_level, settings.log_format)  # as `inference worker` does
    container = create_container(settings)
    container.classifier.override(providers.Object(NoWorkClassifier(container.manifest().info)))
    run_worker(container)


if __name__ == "__main__":
    main()
