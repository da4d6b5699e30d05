"""`python -m tests.e2e.slow_worker`: the real worker process with a stub model that takes a
second a batch, so that a test can watch a request while it is `processing`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from dependency_injector import providers

from entrypoints.container import create_container
from entrypoints.settings import Settings
from entrypoints.worker import serve_worker
from inference.domain import InferenceRequest
from inference.outcomes import Failure, Prediction
from inference.timings import BatchTimings
from tests.stubs import StubClassifier

SECONDS_PER_BATCH = 1.0


class SlowClassifier(StubClassifier):
    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings]:
        time.sleep(SECONDS_PER_BATCH)
        return super().classify_timed(batch)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    container = create_container(Settings(mode="distributed"))
    container.classifier.override(providers.Object(SlowClassifier()))
    asyncio.run(serve_worker(container))


if __name__ == "__main__":
    main()
