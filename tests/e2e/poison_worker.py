"""`inference worker` whose model kills the process (os._exit) on an image that carries
POISON: a request that crashes every worker it reaches, as a real model bug can. The rest
of the worker is the real one; run it as `python -m tests.e2e.poison_worker`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

from dependency_injector import providers

from entrypoints.container import create_container
from entrypoints.settings import Settings
from entrypoints.worker import serve_worker
from inference.domain import InferenceRequest
from inference.outcomes import Failure, ModelInfo, Prediction
from inference.ports import Classifier
from inference.timings import BatchTimings

POISON = b"POISON-PILL"


class CrashesOnPoison(Classifier):
    def __init__(self, inner: Classifier) -> None:
        self._inner = inner

    @property
    def model(self) -> ModelInfo:
        return self._inner.model

    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        self._crash_on_poison(batch)
        return self._inner.classify(batch)

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings | None]:
        self._crash_on_poison(batch)
        return self._inner.classify_timed(batch)

    @staticmethod
    def _crash_on_poison(batch: Sequence[InferenceRequest]) -> None:
        if any(POISON in request.image for request in batch):
            os._exit(70)  # no cleanup, no ack: as a segfault in a native library would


def main() -> None:
    container = create_container(Settings(mode="distributed"))
    real = container.classifier.providers[container.config.model.backend()]
    container.classifier.override(providers.Singleton(CrashesOnPoison, real))
    asyncio.run(serve_worker(container))


if __name__ == "__main__":
    main()
