"""Waiting on a request in distributed mode: the status stream, and a submission that asks for
its result in its answer (`Prefer: wait`). The API process hears what a worker process does
through Redis pub/sub (the signal the long-poll waits on)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo.shapes import draw_jpegs
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server
from tests.sse import Event, events

pytestmark = pytest.mark.server


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="sse-cluster-") as root:
        cluster = Cluster(
            RABBITMQ_URL,
            REDIS_URL,
            Path(root),
            worker_command=(sys.executable, "-m", "tests.e2e.slow_worker"),
            env={"INFERENCE_API__MIN_WORKERS": "0"},  # ready before any worker: none runs at first
            tag="test.sse",
        )
        try:
            cluster.start_api()  # no worker yet: what is submitted stays queued
            cluster.wait_until_ready()
            yield cluster
        finally:
            cluster.stop()
            cluster.clean_up()


def _follow(
    cluster: Cluster, request_id: str, timeout: float, seen: list[Event], first: threading.Event
) -> None:
    """Read the request's status stream to its end into `seen`, setting `first` at its first event."""
    with (
        httpx.Client(base_url=cluster.api_url, timeout=timeout) as client,
        client.stream("GET", f"{SUBMIT}/{request_id}/events") as stream,
    ):
        for event in events(stream.iter_lines()):
            seen.append(event)
            first.set()


def test_a_client_following_from_the_start_sees_queued_processing_succeeded_in_order(
    cluster: Cluster,
) -> None:
    [(_, image)] = draw_jpegs(1, seed=5)
    seen: list[Event] = []
    first = threading.Event()

    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        request_id = client.post(SUBMIT, files={"image": ("shape.jpg", image)}).json()["request_id"]
        follower = threading.Thread(target=_follow, args=(cluster, request_id, 60, seen, first))
        follower.start()
        assert first.wait(30), cluster.logs()
        cluster.start_worker()  # its model takes a second: `processing` lasts that long
        follower.join(timeout=180)
        assert not follower.is_alive(), cluster.logs()
        final = client.get(f"{SUBMIT}/{request_id}/results").json()
    assert [e.data["status"] for e in seen] == ["queued", "processing", "succeeded"], cluster.logs()
    assert seen[-1].data == final


def test_an_api_asked_to_stop_ends_its_open_streams_instead_of_waiting_for_them(cluster: Cluster) -> None:
    # The stream of a request no worker takes would last INFERENCE_API__EVENTS_SECONDS (300 s).
    [(_, image)] = draw_jpegs(1, seed=6)
    first, ended = threading.Event(), threading.Event()

    def follow(request_id: str) -> None:
        _follow(cluster, request_id, 400, seen, first)
        ended.set()

    seen: list[Event] = []
    request_id = httpx.post(
        f"{cluster.api_url}{SUBMIT}", files={"image": ("shape.jpg", image)}, timeout=30
    ).json()["request_id"]
    threading.Thread(target=follow, args=(request_id,), daemon=True).start()
    assert first.wait(30), cluster.logs()
    assert cluster.api is not None
    cluster.api.terminate()
    try:
        cluster.api.wait(timeout=30)  # far less than the stream's 300 s
    except subprocess.TimeoutExpired:
        raise AssertionError(cluster.logs()) from None
    assert ended.wait(10)
    assert [e.data["status"] for e in seen] == ["queued"]


def _submitting(cluster: Cluster, seed: int) -> tuple[threading.Thread, list[httpx.Response]]:
    """A POST that asks to wait up to 30 s for its result, two seconds into its wait."""
    [(_, image)] = draw_jpegs(1, seed=seed)
    answers: list[httpx.Response] = []

    def submit() -> None:
        with httpx.Client(base_url=cluster.api_url, timeout=60) as client:
            answers.append(
                client.post(SUBMIT, files={"image": ("a.jpg", image)}, headers={"Prefer": "wait=30"})
            )

    submitting = threading.Thread(target=submit)
    submitting.start()
    submitting.join(timeout=2)
    assert submitting.is_alive() and not answers, cluster.logs()  # no worker yet: it waits
    return submitting, answers


def test_a_submission_that_prefers_to_wait_is_answered_with_the_result_a_worker_made_meanwhile(
    cluster: Cluster,
) -> None:
    submitting, answers = _submitting(cluster, seed=7)
    cluster.start_worker()
    submitting.join(timeout=60)

    [answer] = answers
    assert answer.status_code == 200, cluster.logs()
    assert answer.json()["status"] == "succeeded"
    assert answer.headers["preference-applied"] == "wait=30"


def test_an_api_asked_to_stop_answers_waiting_submissions_202_at_once(cluster: Cluster) -> None:
    submitting, answers = _submitting(cluster, seed=8)
    assert cluster.api is not None
    cluster.api.terminate()
    submitting.join(timeout=10)  # far less than the 30 s it asked to wait

    [answer] = answers
    assert answer.status_code == 202, cluster.logs()  # accepted: its client reads it elsewhere
    assert answer.json()["status"] == "queued"
    cluster.api.wait(timeout=10)
