"""Idempotent submits through the HTTP API, on the memory container."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.memory import MemoryIdempotencyKeys
from entrypoints.settings import ApiSettings
from inference.domain import RequestId
from inference.ports import KeyClaim
from inference.use_cases.idempotency import fingerprint
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.service import memory_container
from tests.stubs import FailingQueue, StubClassifier

# A plain submit of png_bytes() with the default top_k, as another API process would claim it.
_DEFAULT_FINGERPRINT = fingerprint(png_bytes(), {"top_k": 5, "deadline": None})


def _post(client: TestClient, image: bytes, key: str | None, **params: int) -> Any:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(SUBMIT, params=params, headers=headers, files={"image": ("x.png", image)})


def test_a_retry_with_the_same_key_answers_the_same_request_and_enqueues_nothing(
    make_client: MakeClient,
) -> None:
    queue = FailingQueue()
    client = make_client(queue_adapter=queue, started=False)

    first = _post(client, png_bytes(), "order-17", top_k=2)
    again = _post(client, png_bytes(), "order-17", top_k=2)

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert queue.depth == 1


def test_a_replayed_request_runs_the_model_once(make_client: MakeClient) -> None:
    classifier = StubClassifier()
    client = make_client(classifier=classifier)
    ids = {_post(client, png_bytes(), "k").json()["request_id"] for _ in range(5)}

    [request_id] = ids
    assert client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5}).json()["status"] == "succeeded"
    assert _post(client, png_bytes(), "k").json()["request_id"] == request_id  # finished: still the same
    assert sum(classifier.batch_sizes) == 1


@pytest.mark.parametrize(
    "change",
    [{"image": png_bytes(colour=(1, 1, 1))}, {"top_k": 3}, {"deadline": 30}],
    ids=["another image", "another top_k", "a deadline"],
)
def test_the_same_key_with_anything_else_is_refused_with_409(
    make_client: MakeClient, change: dict[str, object]
) -> None:
    client = make_client(started=False)
    _post(client, png_bytes(), "k", top_k=2)

    image = change.pop("image", png_bytes())
    response = _post(client, image, "k", **{"top_k": 2, **change})  # type: ignore[arg-type]

    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_reused")


@pytest.mark.parametrize("key", [b"", b"has space", "é".encode(), b"x" * 256, b"tab\there"])
def test_a_key_that_is_not_1_to_255_visible_ascii_characters_is_refused(
    make_client: MakeClient, key: bytes
) -> None:
    client = make_client(started=False)

    response = client.post(SUBMIT, headers={b"Idempotency-Key": key}, files={"image": png_bytes()})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_idempotency_key")


def test_a_refused_submission_frees_its_key_for_the_retry(make_client: MakeClient) -> None:
    queue = FailingQueue(down=True)
    client = make_client(queue_adapter=queue, started=False)

    refused = _post(client, png_bytes(), "k")
    queue.down = False
    retried = _post(client, png_bytes(), "k")

    assert refused.status_code == 503
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers


def test_a_key_still_being_accepted_elsewhere_answers_409_in_progress(make_client: MakeClient) -> None:
    # Another API process holds the key and has not confirmed yet (it is publishing, or it died).
    keys = MemoryIdempotencyKeys(ttl=60, max_keys=10)
    held = KeyClaim(
        fingerprint(png_bytes(), {"top_k": 5, "deadline": None}), RequestId.new(), datetime.now(UTC)
    )
    asyncio.run(keys.claim("k", held, lease=60))
    container = memory_container(api=ApiSettings(idempotency_wait_seconds=0.05))
    container.idempotency_keys.override(keys)
    client = make_client(container, started=False)

    response = _post(client, png_bytes(), "k")

    assert (response.status_code, response.json()["code"]) == (409, "idempotency_key_in_progress")
    assert response.headers["Retry-After"] == "1"


def test_a_claim_left_by_a_crashed_api_is_taken_over_once_its_lease_ends(make_client: MakeClient) -> None:
    keys = MemoryIdempotencyKeys(ttl=60, max_keys=10)
    crashed = KeyClaim(
        fingerprint(png_bytes(), {"top_k": 5, "deadline": None}), RequestId.new(), datetime.now(UTC)
    )
    asyncio.run(keys.claim("k", crashed, lease=0.05))
    container = memory_container(api=ApiSettings(idempotency_wait_seconds=5))
    container.idempotency_keys.override(keys)
    client = make_client(container, started=False)

    response = _post(client, png_bytes(), "k")

    assert response.status_code == 202
    assert response.json()["request_id"] != str(crashed.request_id)


def test_twenty_submits_gathered_with_one_key_enqueue_one_request() -> None:
    queue = FailingQueue()
    container = memory_container(queue_adapter=queue)

    async def scenario() -> set[str]:
        submit = container.submit_once()
        answers = await asyncio.gather(*(submit(png_bytes(), 5, None, "same") for _ in range(20)))
        return {str(answer.request_id) for answer in answers}

    assert len(asyncio.run(scenario())) == 1
    assert queue.depth == 1


def test_the_openapi_document_describes_cancel_deadline_and_the_key(make_client: MakeClient) -> None:
    schema = make_client(started=False).get("/api/openapi.json").json()

    submit = schema["paths"]["/api/inference/requests"]["post"]
    assert {p["name"] for p in submit["parameters"]} >= {"top_k", "deadline", "Idempotency-Key"}
    assert "post" in schema["paths"]["/api/inference/requests/{request_id}/cancel"]
    assert "canceled" in schema["components"]["schemas"]["RequestView"]["properties"]["status"]["enum"]
