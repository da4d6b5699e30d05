"""The HTTP API through the real container (memory mode) with a stub classifier."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from entrypoints.settings import ApiSettings, QueueSettings
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import jpeg_bytes, png_bytes
from tests.queues import memory_store
from tests.stubs import FailingQueue, FailingResultStore, FakeClock, StubClassifier, undecodable_image


def _results(client: TestClient, request_id: str, wait: float = 5) -> dict[str, object]:
    response = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": wait})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_multipart_upload_is_accepted_with_202_and_a_location(client: TestClient) -> None:
    response = client.post(SUBMIT, files={"image": ("cat.png", png_bytes(), "image/png")})

    assert response.status_code == 202
    body = response.json()
    assert uuid.UUID(body["request_id"]).version == 4
    assert body["status"] == "queued"
    assert response.headers["location"] == f"{SUBMIT}/{body['request_id']}/results"
    assert body["results_url"] == response.headers["location"]


def test_a_raw_image_body_is_accepted(client: TestClient) -> None:
    response = client.post(SUBMIT, content=jpeg_bytes(), headers={"content-type": "image/jpeg"})

    assert response.status_code == 202


def test_a_submitted_image_succeeds_with_top_k_sorted_probabilities(client: TestClient) -> None:
    request_id = client.post(SUBMIT, params={"top_k": 2}, files={"image": png_bytes()}).json()["request_id"]

    body = _results(client, request_id)

    assert body["status"] == "succeeded"
    assert body["error"] is None
    assert body["completed_at"] is not None
    result = body["result"]
    assert isinstance(result, dict)
    assert result["label"] == "cat"
    assert [item["label"] for item in result["top_k"]] == ["cat", "dog"]
    assert result["top_k"][0]["score"] >= result["top_k"][1]["score"]
    assert result["model"] == {"name": "stub-net", "version": "1"}


def test_a_request_that_is_not_finished_reads_as_queued_with_no_result(make_client: MakeClient) -> None:
    client = make_client(started=False)  # no worker: the request stays queued
    request_id = client.post(SUBMIT, files={"image": png_bytes()}).json()["request_id"]

    body = _results(client, request_id, wait=0)

    assert body["status"] == "queued"
    assert body["result"] is None and body["error"] is None and body["completed_at"] is None


def test_an_image_the_model_cannot_decode_ends_failed_with_a_code(client: TestClient) -> None:
    request_id = client.post(SUBMIT, files={"image": undecodable_image()}).json()["request_id"]

    body = _results(client, request_id)

    assert body["status"] == "failed"
    assert body["result"] is None
    assert body["error"] == {"code": "invalid_image", "message": "the image could not be decoded"}


def test_top_k_is_capped_at_the_number_of_labels(client: TestClient, stub_classifier: StubClassifier) -> None:
    request_id = client.post(SUBMIT, params={"top_k": 50}, files={"image": png_bytes()}).json()["request_id"]

    result = _results(client, request_id)["result"]

    assert isinstance(result, dict)
    assert len(result["top_k"]) == len(stub_classifier.model.labels)


def _assert_error(response_status: int, body: dict[str, object], status: int, code: str) -> None:
    assert response_status == status, body
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]


def test_a_body_over_the_limit_gets_413(make_client: MakeClient) -> None:
    client = make_client(api=ApiSettings(max_upload_bytes=1000))

    raw = client.post(
        SUBMIT, content=png_bytes(200, 200) + b"\0" * 2000, headers={"content-type": "image/png"}
    )
    form = client.post(SUBMIT, files={"image": b"\x89PNG\r\n\x1a\n" + b"\0" * 3000})

    _assert_error(raw.status_code, raw.json(), 413, "payload_too_large")
    _assert_error(form.status_code, form.json(), 413, "payload_too_large")


@pytest.mark.parametrize(
    "upload",
    [b"just some text", b"%PDF-1.7\n", b"%!PS-Adobe-3.0 EPSF-3.0\n"],
    ids=["text", "pdf", "eps"],
)
def test_bytes_that_are_not_a_supported_image_get_415_whatever_their_declared_type(
    client: TestClient, upload: bytes
) -> None:
    response = client.post(SUBMIT, content=upload, headers={"content-type": "image/png"})

    _assert_error(response.status_code, response.json(), 415, "unsupported_media_type")


def test_a_form_without_the_image_field_gets_422(client: TestClient) -> None:
    response = client.post(SUBMIT, files={"picture": png_bytes()})

    _assert_error(response.status_code, response.json(), 422, "missing_image")


def test_an_empty_image_gets_422(client: TestClient) -> None:
    raw = client.post(SUBMIT, content=b"", headers={"content-type": "image/png"})
    form = client.post(SUBMIT, files={"image": ("empty.png", b"", "image/png")})

    _assert_error(raw.status_code, raw.json(), 422, "empty_image")
    _assert_error(form.status_code, form.json(), 422, "empty_image")


@pytest.mark.parametrize("top_k", ["0", "-1", "many"])
def test_a_bad_top_k_gets_422(client: TestClient, top_k: str) -> None:
    response = client.post(SUBMIT, params={"top_k": top_k}, files={"image": png_bytes()})

    _assert_error(response.status_code, response.json(), 422, "invalid_top_k")


def test_a_full_queue_gets_429_with_retry_after(make_client: MakeClient) -> None:
    client = make_client(queue=QueueSettings(max_length=1), started=False)  # no worker: the queue only fills
    assert client.post(SUBMIT, files={"image": png_bytes()}).status_code == 202

    response = client.post(SUBMIT, files={"image": png_bytes()})

    _assert_error(response.status_code, response.json(), 429, "queue_full")
    assert int(response.headers["retry-after"]) >= 1


def test_a_queue_full_of_image_bytes_gets_429_too(make_client: MakeClient) -> None:
    image = png_bytes(64, 64)
    client = make_client(
        queue=QueueSettings(max_bytes=len(image) + 10), started=False
    )  # the queue only fills
    assert client.post(SUBMIT, files={"image": image}).status_code == 202

    response = client.post(SUBMIT, files={"image": image})

    _assert_error(response.status_code, response.json(), 429, "queue_full")


def test_an_unavailable_queue_gets_503_with_retry_after_and_leaves_no_record(make_client: MakeClient) -> None:
    store = FailingResultStore()
    client = make_client(queue_adapter=FailingQueue(down=True), store_adapter=store, started=False)

    response = client.post(SUBMIT, files={"image": png_bytes()})
    orphans = [client.get(f"{SUBMIT}/{rid}/results").status_code for rid in store.added_ids]

    _assert_error(response.status_code, response.json(), 503, "queue_unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert orphans == [404] * len(orphans)


def test_an_unavailable_store_gets_503_on_submit_and_on_read(make_client: MakeClient) -> None:
    client = make_client(store_adapter=FailingResultStore(down=True), started=False)

    submitted = client.post(SUBMIT, files={"image": png_bytes()})
    read = client.get(f"{SUBMIT}/{uuid.uuid4()}/results")

    _assert_error(submitted.status_code, submitted.json(), 503, "store_unavailable")
    _assert_error(read.status_code, read.json(), 503, "store_unavailable")
    assert "retry-after" in submitted.headers


def test_an_unknown_request_id_gets_404(client: TestClient) -> None:
    response = client.get(f"{SUBMIT}/{uuid.uuid4()}/results")

    _assert_error(response.status_code, response.json(), 404, "unknown_request")


def test_a_request_whose_record_expired_gets_404(make_client: MakeClient) -> None:
    clock = FakeClock()
    client = make_client(store_adapter=memory_store(ttl=60, clock=clock), started=False)

    request_id = client.post(SUBMIT, files={"image": png_bytes()}).json()["request_id"]
    assert client.get(f"{SUBMIT}/{request_id}/results").status_code == 200
    clock.now += 61
    response = client.get(f"{SUBMIT}/{request_id}/results")

    _assert_error(response.status_code, response.json(), 404, "unknown_request")


def test_a_malformed_request_id_gets_422(client: TestClient) -> None:
    response = client.get(f"{SUBMIT}/not-a-uuid/results")

    _assert_error(response.status_code, response.json(), 422, "invalid_request_id")


@pytest.mark.parametrize("wait", ["-1", "31", "soon"])
def test_a_wait_outside_0_to_30_seconds_gets_422(client: TestClient, wait: str) -> None:
    response = client.get(f"{SUBMIT}/{uuid.uuid4()}/results", params={"wait": wait})

    _assert_error(response.status_code, response.json(), 422, "invalid_wait")


def test_health_answers_ok(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}


def test_readiness_reports_queue_store_model_and_live_workers(client: TestClient) -> None:
    response = client.get("/api/health/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"queue": "ok", "store": "ok", "model": "ok", "workers": "ok"},
        "workers": 1,
    }


def test_readiness_is_503_and_names_what_is_not_ready(make_client: MakeClient) -> None:
    client = make_client(store_adapter=FailingResultStore(down=True), started=False)  # the model never loads

    response = client.get("/api/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["queue"] == "ok"
    assert checks["store"].startswith("unavailable")
    assert checks["model"] == "loading"


def test_models_describes_the_served_model(client: TestClient) -> None:
    body = client.get("/api/models").json()

    assert body == {"name": "stub-net", "version": "1", "labels": ["cat", "dog", "fish"], "input_size": 224}


def test_the_openapi_document_and_swagger_ui_are_served(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    docs = client.get("/api/docs")

    assert "/api/inference/requests" in spec["paths"]
    request_body = spec["paths"]["/api/inference/requests"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/*"} <= set(request_body)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_an_unknown_path_gets_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nothing-here")

    _assert_error(response.status_code, response.json(), 404, "not_found")
