"""The embedded service's /metrics: counts that match what was submitted, classified and refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import MetricsSettings, Settings
from tests.images import png_bytes, png_header_claiming
from tests.metrics import samples_of
from tests.stubs import StubClassifier

SUBMIT = "/api/inference/requests"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples_of(response.text)


def classify(client: TestClient, count: int) -> list[dict[str, object]]:
    ids = [
        client.post(SUBMIT, files={"image": png_bytes(colour=(i, 0, 0))}).json()["request_id"]
        for i in range(count)
    ]
    return [client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 10}).json() for request_id in ids]


def test_twenty_classified_images_show_in_the_metrics_with_counts_that_match(
    client: TestClient, container: Container, stub_classifier: StubClassifier
) -> None:
    results = classify(client, 20)
    assert [r["status"] for r in results] == ["succeeded"] * 20

    # The workers gauge reads the latest count (taken every third of a heartbeat's time-to-live,
    # and by each readiness check): a readiness check makes it current.
    assert client.get("/api/health/ready").json()["workers"] == 1
    samples = scrape(client)
    batches = len(stub_classifier.batch_sizes)
    assert samples["inference_requests_total", (("outcome", "accepted"),)] == 20
    assert samples["inference_results_total", (("code", "none"), ("status", "succeeded"))] == 20
    assert samples["inference_batch_size_count", ()] == batches
    assert samples["inference_batch_size_sum", ()] == 20
    assert samples["inference_queue_wait_seconds_count", ()] == 20
    assert samples["inference_time_to_result_seconds_count", ()] == 20
    assert samples["inference_preprocess_seconds_count", ()] == 20
    assert samples["inference_model_seconds_count", ()] == batches
    assert samples["inference_queue_depth", (("state", "ready"),)] == 0
    assert samples["inference_redeliveries_total", ()] == 0
    assert samples["inference_dead_letters", ()] == 0
    assert samples["inference_oldest_request_age_seconds", ()] == 0  # nothing waits any more
    assert samples["inference_workers_alive", ()] == 1  # the embedded worker
    manifest = container.manifest()
    model = {
        "backend": container.config.model.backend(),
        "name": manifest.name,
        "precision": container.config.model.precision(),
        "version": manifest.version,
    }
    assert samples["inference_model_info", tuple(sorted(model.items()))] == 1


def test_a_finished_request_says_where_its_time_went(client: TestClient) -> None:
    [result] = classify(client, 1)
    timings = result["timings"]
    assert isinstance(timings, dict)
    assert set(timings) == {"queue_wait", "preprocess", "model", "total"}
    assert all(isinstance(value, float) and value >= 0 for value in timings.values())
    assert timings["total"] >= timings["queue_wait"]


def test_refusals_are_counted_by_their_code(client: TestClient) -> None:
    refused = {
        "unsupported_media_type": b"not an image at all",
        "image_too_large": png_header_claiming(100_000, 100_000),
    }
    for code, upload in refused.items():
        response = client.post(SUBMIT, files={"image": upload})
        assert response.json()["code"] == code
    client.post(SUBMIT, files={"image": png_bytes()})

    samples = scrape(client)
    assert samples["inference_requests_total", (("outcome", "unsupported_media_type"),)] == 1
    assert samples["inference_requests_total", (("outcome", "image_too_large"),)] == 1
    assert samples["inference_requests_total", (("outcome", "accepted"),)] == 1


def test_with_metrics_off_nothing_is_recorded_and_metrics_answer_404(stub_classifier: StubClassifier) -> None:
    container = create_container(Settings(mode="embedded", metrics=MetricsSettings(enabled=False)))
    container.classifier.override(stub_classifier)
    with TestClient(create_embedded_app(container)) as client:
        [result] = classify(client, 1)
        assert result["status"] == "succeeded"
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
