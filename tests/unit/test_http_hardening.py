"""The HTTP layer's answers to careless and hostile clients, in memory (issue 15's HTTP defects)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.http.access_log import redact
from entrypoints.http.errors import UploadError
from entrypoints.http.uploads import UploadBudget
from entrypoints.settings import ApiSettings, Settings
from inference.errors import QueueUnavailable, StoreUnavailable
from tests.images import png_bytes
from tests.stubs import FailingQueue, FailingResultStore, StubClassifier

SUBMIT = "/api/inference/requests"
# What a real broker and Redis say when they refuse: nothing a client should ever read.
BROKER_WORDS = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN"
REDIS_WORDS = "Error 111 connecting to redis.internal:6379. Connection refused."


class TalkativeQueue(FailingQueue):
    def _check(self) -> None:
        if self.down:
            raise QueueUnavailable(BROKER_WORDS)


class TalkativeStore(FailingResultStore):
    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable(REDIS_WORDS)


def _submitted_id(client: TestClient) -> str:
    response = client.post(SUBMIT, files={"image": ("a.png", png_bytes())})
    assert response.status_code == 202
    request_id: str = response.json()["request_id"]
    return request_id


@pytest.mark.parametrize("path", ["/api/health", "/api/health/ready", "/api/models", "results"])
def test_head_answers_like_get_without_a_body(client: TestClient, path: str) -> None:
    if path == "results":
        path = f"{SUBMIT}/{_submitted_id(client)}/results"

    got = client.get(path)
    head = client.head(path)

    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))


def test_head_of_an_unknown_request_is_404_like_its_get(client: TestClient) -> None:
    assert client.head(f"{SUBMIT}/{uuid.uuid4()}/results").status_code == 404


def test_head_is_no_way_around_post_only_routes(client: TestClient) -> None:
    assert client.head(SUBMIT).status_code == 405


def test_a_png_sent_as_a_form_field_without_a_filename_is_accepted_as_the_image(
    client: TestClient, stub_classifier: StubClassifier
) -> None:
    image = png_bytes(40, 30)  # bytes that are not UTF-8 text, past a plain field's size cap
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n'.encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        SUBMIT, content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    assert response.status_code == 202, response.text
    result = client.get(f"{response.json()['results_url']}?wait=5").json()
    assert result["status"] == "succeeded"


def test_a_refused_cors_preflight_answers_json_with_detail_and_code() -> None:
    container = create_container(
        Settings(mode="embedded", api=ApiSettings(cors_origins=["https://app.example.com"]))
    )
    with (
        container.classifier.override(providers.Object(StubClassifier())),
        TestClient(create_embedded_app(container)) as client,
    ):
        refused = client.options(
            SUBMIT, headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "PUT"}
        )

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/json"
    body = refused.json()
    assert body["code"] == "cors_refused"
    assert "origin" in body["detail"] and "method" in body["detail"]


@pytest.fixture
def talkative_container() -> Iterator[Container]:
    container = create_container(Settings(mode="embedded"))
    with (
        container.publisher.override(providers.Object(TalkativeQueue(down=True))),
        container.store.override(providers.Object(TalkativeStore(down=True))),
    ):
        yield container


def test_a_failing_dependency_gives_clients_a_stable_code_and_the_log_its_words(
    talkative_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_embedded_app(talkative_container))
    with caplog.at_level(logging.WARNING):
        submitted = client.post(SUBMIT, files={"image": ("a.png", png_bytes())})
        read = client.get(f"{SUBMIT}/{uuid.uuid4()}/results")

    assert submitted.status_code == read.status_code == 503
    assert submitted.json()["code"] == read.json()["code"] == "store_unavailable"
    for response in (submitted, read):
        assert "redis.internal" not in response.text and "6379" not in response.text
    assert REDIS_WORDS in caplog.text


def test_a_failing_broker_gives_clients_queue_unavailable_without_its_refusal_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    container = create_container(Settings(mode="embedded"))
    with container.publisher.override(providers.Object(TalkativeQueue(down=True))):
        client = TestClient(create_embedded_app(container))
        with caplog.at_level(logging.WARNING):
            response = client.post(SUBMIT, files={"image": ("a.png", png_bytes())})

    assert response.status_code == 503
    assert response.json()["code"] == "queue_unavailable"
    assert "ACCESS_REFUSED" not in response.text and "PLAIN" not in response.text
    assert BROKER_WORDS in caplog.text


def test_readiness_says_unavailable_without_the_dependencies_words(
    talkative_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_embedded_app(talkative_container))
    with caplog.at_level(logging.WARNING):
        response = client.get("/api/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["queue"] == checks["store"] == "unavailable"
    assert BROKER_WORDS in caplog.text and REDIS_WORDS in caplog.text


def test_a_client_that_disconnects_mid_upload_logs_one_info_line_and_no_traceback(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_embedded_app(container)
    messages: list[dict[str, object]] = [
        {"type": "http.request", "body": png_bytes()[:20], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SUBMIT,
        "raw_path": SUBMIT.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"image/png"), (b"transfer-encoding", b"chunked")],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
    }
    with caplog.at_level(logging.DEBUG):
        asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [r for r in caplog.records if r.exc_info]
    disconnects = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(disconnects) == 1 and disconnects[0].levelno == logging.INFO


def test_an_upload_alone_may_use_the_whole_budget_and_a_second_waits_its_turn() -> None:
    budget = UploadBudget(limit=100, retry_after=3)
    first, second = budget.reserve(), budget.reserve()

    first.grow(150)  # alone: past the budget, but nothing else is held
    with pytest.raises(UploadError) as refused:
        second.grow(1)
    first.release()
    second.grow(100)

    assert (refused.value.status, refused.value.code) == (503, "too_many_uploads")
    assert refused.value.headers["Retry-After"] == "3"
    assert budget.in_flight == 100


def test_uploads_share_the_budget_and_give_it_back() -> None:
    budget = UploadBudget(limit=100, retry_after=1)
    first, second = budget.reserve(), budget.reserve()

    first.grow(60)
    second.grow(40)
    with pytest.raises(UploadError):
        second.grow(41)
    first.release()
    second.release()

    assert budget.in_flight == 0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/models?api_key=s3cret", "/api/models?api_key=[redacted]"),
        ("/x?wait=5&access_token=abc&top_k=3", "/x?wait=5&access_token=[redacted]&top_k=3"),
        ("/x?Key=abc", "/x?Key=[redacted]"),
        ("/x?wait=5", "/x?wait=5"),
    ],
)
def test_credentials_in_a_query_string_are_redacted_for_the_access_log(path: str, expected: str) -> None:
    assert redact(path) == expected
