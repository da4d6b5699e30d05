"""One request followed through real processes by its logs: the API's JSON lines and the worker's
name its id and the trace its client sent, the record keeps that trace, and no line holds the API
key or the image's bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demo.shapes import draw_jpegs
from tests.harness import SUBMIT
from tests.harness.cluster import Cluster, launched
from tests.servers import RABBITMQ_URL, REDIS_URL, require_server

pytestmark = pytest.mark.server

API_KEY = "sk-distinctive-0f5e1d2c3b4a-key"
TRACE_ID = "5ca1ab1e" * 4
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_server("RabbitMQ", RABBITMQ_URL)
    require_server("Redis", REDIS_URL)
    env = {
        "INFERENCE_LOG_FORMAT": "json",
        "INFERENCE_LOG_LEVEL": "DEBUG",  # every line there is: none may leak
        "INFERENCE_API_KEYS": API_KEY,
        "INFERENCE_MODEL__MANIFEST": "demo",
        "INFERENCE_MODEL__BACKEND": "torch",
    }
    with launched(1, env=env, tag="e2e-logs") as cluster:
        yield cluster


def json_lines(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """The process's log: every line must be one JSON object."""
    text = (cluster.root / f"{name}.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def lines_until(cluster: Cluster, name: str, found: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The process's lines once one satisfies `found` (a line is written just after its work)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = json_lines(cluster, name)
        if any(found(line) for line in lines):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"no such line in {name}.log:\n{cluster.logs()}")
        time.sleep(0.2)


def test_one_request_is_followed_from_the_api_s_log_to_the_worker_s_by_its_id_and_trace(
    cluster: Cluster,
) -> None:
    [(_, image)] = draw_jpegs(1, seed=5)
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        accepted = client.post(
            SUBMIT,
            files={"image": ("shape.jpg", image, "image/jpeg")},
            headers={"Authorization": f"Bearer {API_KEY}", "traceparent": TRACEPARENT},
        )
        assert accepted.status_code == 202, accepted.text
        request_id = accepted.json()["request_id"]
        result = client.get(
            f"{SUBMIT}/{request_id}/results",
            params={"wait": 30},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ).json()
        refused = client.post(
            SUBMIT,
            files={"image": ("shape.jpg", image, "image/jpeg")},
            headers={"Authorization": f"Bearer {API_KEY[::-1]}", "X-API-Key": API_KEY},
        )
    assert result["status"] == "succeeded"
    assert result["trace_id"] == TRACE_ID
    assert accepted.headers["traceparent"].split("-")[1] == TRACE_ID
    assert refused.status_code == 403  # a key, but not one configured

    api = lines_until(cluster, "api", lambda line: line.get("status") == 403)
    [access] = [line for line in api if line.get("method") == "POST" and line.get("status") == 202]
    assert access["request_id"] == request_id
    assert access["trace_id"] == TRACE_ID
    assert access["logger"] == "uvicorn.access"
    assert access["level"] == "info"
    assert access["ts"].endswith("Z")

    worker = lines_until(cluster, "worker-0", lambda line: request_id in line.get("request_ids", ()))
    [batch] = [line for line in worker if request_id in line.get("request_ids", ())]
    assert batch["event"] == "batch processed"
    assert batch["trace_ids"] == [TRACE_ID]
    assert batch["succeeded"] == 1
    assert batch["model"]
    assert batch["batch_id"]
    assert batch["duration_seconds"] > 0


def test_no_log_line_holds_the_api_key_or_the_image_s_bytes(cluster: Cluster) -> None:
    [(_, image)] = draw_jpegs(1, seed=9)
    with httpx.Client(base_url=cluster.api_url, timeout=30) as client:
        for key in (API_KEY, API_KEY[::-1]):
            client.post(
                f"{SUBMIT}?api_key={API_KEY}",
                content=image,
                headers={"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"},
            )
        client.post(SUBMIT, content=image, headers={"X-API-Key": API_KEY, "Content-Type": "image/jpeg"})
    lines_until(cluster, "api", lambda line: "api_key=[redacted]" in str(line.get("path")))
    time.sleep(2)  # whatever the worker logs of that image, it has had the time to

    for name in ("api", "worker-0"):
        raw = (cluster.root / f"{name}.log").read_bytes()
        assert API_KEY.encode() not in raw, name
        assert API_KEY[::-1].encode() not in raw, name
        # Any 32 bytes of the image's middle, raw or as Python would print them.
        middle = image[len(image) // 2 : len(image) // 2 + 32]
        assert middle not in raw, name
        assert repr(middle)[2:-1].encode() not in raw, name
        json_lines(cluster, name)  # and all of it is JSON, one object a line
