"""Deadlines through the HTTP API, on the memory container with a stub model."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from entrypoints.settings import ApiSettings
from tests.conftest import MakeClient
from tests.harness import SUBMIT
from tests.images import png_bytes
from tests.stubs import GatedScores
from tests.unit.test_cancellation import one_at_a_time, submit_png, wait_for_status


def test_a_request_whose_deadline_passed_in_the_queue_fails_without_running(make_client: MakeClient) -> None:
    model = GatedScores()
    client = one_at_a_time(make_client, model)
    first = submit_png(client, png_bytes(colour=(1, 2, 3)))
    wait_for_status(client, first, "processing")  # the model is busy with it
    late_image = png_bytes(colour=(4, 5, 6))
    response = client.post(SUBMIT, params={"deadline": 0.05}, files={"image": ("x.png", late_image)})
    late = response.json()["request_id"]
    time.sleep(0.1)  # its deadline passes while it waits behind the first

    model.gate.set()
    record = client.get(f"{SUBMIT}/{late}/results", params={"wait": 5}).json()

    assert record["status"] == "failed"
    assert record["error"]["code"] == "deadline_exceeded"
    assert late_image not in model.ran
    assert client.get(f"{SUBMIT}/{first}/results", params={"wait": 5}).json()["status"] == "succeeded"


def test_a_request_within_its_deadline_runs_and_shows_its_deadline(client: TestClient) -> None:
    response = client.post(SUBMIT, params={"deadline": 60}, files={"image": ("x.png", png_bytes())})
    request_id = response.json()["request_id"]

    record = client.get(f"{SUBMIT}/{request_id}/results", params={"wait": 5}).json()

    assert record["status"] == "succeeded"
    created, deadline = (datetime.fromisoformat(record[k]) for k in ("created_at", "deadline_at"))
    assert (deadline - created).total_seconds() == pytest.approx(60)


def test_the_servers_default_deadline_applies_when_the_client_gives_none(make_client: MakeClient) -> None:
    client = make_client(started=False, api=ApiSettings(default_deadline_seconds=30))

    record = client.get(f"{SUBMIT}/{submit_png(client, png_bytes())}/results").json()

    created, deadline = (datetime.fromisoformat(record[k]) for k in ("created_at", "deadline_at"))
    assert (deadline - created).total_seconds() == pytest.approx(30)


def test_without_any_deadline_a_request_has_none(make_client: MakeClient) -> None:
    client = make_client(started=False)

    assert client.get(f"{SUBMIT}/{submit_png(client, png_bytes())}/results").json()["deadline_at"] is None


@pytest.mark.parametrize("deadline", ["0", "-1", "61", "soon"])
def test_a_deadline_that_is_not_positive_or_over_the_maximum_is_refused(
    make_client: MakeClient, deadline: str
) -> None:
    client = make_client(started=False, api=ApiSettings(max_deadline_seconds=60))

    response = client.post(SUBMIT, params={"deadline": deadline}, files={"image": ("x.png", png_bytes())})

    assert (response.status_code, response.json()["code"]) == (422, "invalid_deadline")
