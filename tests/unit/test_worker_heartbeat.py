"""The worker's heartbeat file stays fresh while a batch is working (issue 15): touched only
between batches, a long batch made the worker look dead, and an orchestrator would kill it and
redeliver the batch in a loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from dependency_injector import providers

from entrypoints.container import create_container
from entrypoints.settings import Settings, WorkerSettings
from entrypoints.worker import create_worker_loop
from inference.domain import RequestStatus
from tests.images import png_bytes
from tests.stubs import StubClassifier


def test_the_heartbeat_file_is_touched_again_while_a_batch_is_in_the_model(tmp_path: Path) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    in_model, release = threading.Event(), threading.Event()

    def busy_scores(_: bytes) -> list[float]:
        in_model.set()
        release.wait(30)
        return [0.7, 0.2, 0.1]

    container = create_container(Settings(mode="embedded", worker=WorkerSettings(heartbeat_file=heartbeat)))
    container.classifier.override(providers.Object(StubClassifier(scores=busy_scores)))

    async def scenario() -> tuple[bool, RequestStatus]:
        record = await container.submit_request()(png_bytes(), 1)
        worker = create_worker_loop(container)
        task = asyncio.create_task(worker.run())
        await asyncio.to_thread(in_model.wait, 30)
        touched = heartbeat.stat().st_mtime_ns
        for _ in range(200):  # beats come every second; give up after ten
            await asyncio.sleep(0.05)
            if heartbeat.stat().st_mtime_ns != touched:
                break
        beat_during_batch = heartbeat.stat().st_mtime_ns != touched and not release.is_set()
        release.set()
        outcome = await container.get_result()(record.request_id, wait=10)
        worker.stop()
        await task
        return beat_during_batch, outcome.status

    beat_during_batch, status = asyncio.run(asyncio.wait_for(scenario(), 60))

    assert beat_during_batch
    assert status == RequestStatus.SUCCEEDED
