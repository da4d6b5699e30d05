"""The dispatcher's step: each due webhook called, and settled as its answer says."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory import MemoryResultStore
from entrypoints.views import record_json
from inference.domain import RequestRecord, RequestStatus
from inference.errors import WebhookUnreachable, WebhookUrlForbidden
from inference.outcomes import Failure
from inference.ports import WebhookSender
from inference.transitions import Cancel, Fail, Requeue, Succeed
from inference.use_cases.webhooks import DeliverWebhooks
from inference.webhook_delivery import Webhook, WebhookStatus
from tests.queues import memory_store, transition
from tests.stubs import a_prediction, a_record

URL = "https://hooks.example.com/done"
FINISHED = datetime(2025, 1, 1, tzinfo=UTC)


class StubWebhookSender(WebhookSender):
    """Answers each call with the next of `answers` (a status, or an exception to raise)."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, bytes]] = []

    async def check(self, url: str) -> None:
        return None

    async def send(self, url: str, message_id: str, body: bytes) -> int:
        self.calls.append((url, message_id, body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = FINISHED

    def __call__(self) -> datetime:
        return self.now


def deliver(store: MemoryResultStore, sender: StubWebhookSender, clock: Clock) -> DeliverWebhooks:
    return DeliverWebhooks(
        store, sender, record_json, lease=60, max_age=3600, first_delay=10, max_delay=600,
        clock=clock, draw=lambda: 1.0,
    )  # fmt: skip


async def finished(store: MemoryResultStore) -> RequestRecord:
    record = replace(a_record(), webhook=Webhook(URL))
    await store.add(record)
    return await transition(store, record.request_id, Succeed(a_prediction(), FINISHED))


def test_a_delivered_webhook_carries_the_record_as_results_show_it_and_is_done() -> None:
    async def scenario() -> None:
        store, sender, clock = memory_store(), StubWebhookSender(204), Clock()
        done = await finished(store)
        assert await deliver(store, sender, clock)(10) == 1
        [(url, message_id, body)] = sender.calls
        assert (url, message_id) == (URL, str(done.request_id))
        assert json.loads(body)["status"] == "succeeded"
        assert json.loads(body)["result"]["label"] == "cat"
        stored = await store.get(done.request_id)
        assert stored.webhook == Webhook(URL, WebhookStatus.DELIVERED, 1, None)
        assert replace(stored, webhook=done.webhook) == done  # the outcome is untouched
        clock.now += timedelta(days=1)
        assert await deliver(store, sender, clock)(10) == 0

    asyncio.run(scenario())


def test_a_busy_receiver_is_called_again_after_a_growing_wait_until_it_takes_it() -> None:
    async def scenario() -> None:
        unreachable = WebhookUnreachable("no answer: ConnectTimeout")
        store, sender, clock = memory_store(), StubWebhookSender(503, 429, unreachable, 200), Clock()
        done = await finished(store)
        step = deliver(store, sender, clock)
        assert await step(10) == 1  # the first call: 503
        waits = []
        for _ in range(3):  # 429, no answer, then 200
            webhook = (await store.get(done.request_id)).webhook
            assert webhook is not None and webhook.status is WebhookStatus.PENDING
            before = clock.now
            while await step(10) == 0:  # not due yet
                clock.now += timedelta(seconds=1)
            waits.append((clock.now - before).total_seconds())
        final = (await store.get(done.request_id)).webhook
        assert final == Webhook(URL, WebhookStatus.DELIVERED, 4, None)
        assert [call[1] for call in sender.calls] == [str(done.request_id)] * 4  # one webhook-id

    asyncio.run(scenario())


def test_the_last_error_says_why_a_call_did_not_deliver() -> None:
    async def scenario() -> None:
        store, clock = memory_store(), Clock()
        done = await finished(store)
        await deliver(store, StubWebhookSender(503), clock)(10)
        webhook = (await store.get(done.request_id)).webhook
        assert webhook == Webhook(URL, WebhookStatus.PENDING, 1, "HTTP 503")

    asyncio.run(scenario())


@pytest.mark.parametrize("answer", [404, 410, 301, WebhookUrlForbidden("resolves to 10.0.0.1")])
def test_a_refusal_fails_the_webhook_at_once(answer: int | Exception) -> None:
    async def scenario() -> None:
        store, sender, clock = memory_store(), StubWebhookSender(answer), Clock()
        done = await finished(store)
        await deliver(store, sender, clock)(10)
        webhook = (await store.get(done.request_id)).webhook
        assert webhook is not None and (webhook.status, webhook.attempts) == (WebhookStatus.FAILED, 1)
        assert (await store.get(done.request_id)).status is RequestStatus.SUCCEEDED
        clock.now += timedelta(days=1)
        assert await deliver(store, sender, clock)(10) == 0

    asyncio.run(scenario())


def test_retries_end_as_failed_once_the_next_would_be_past_the_maximum_age() -> None:
    async def scenario() -> None:
        store, clock = memory_store(), Clock()
        sender = StubWebhookSender(*[503] * 50)
        done = await finished(store)
        step = deliver(store, sender, clock)
        while (
            webhook := (await store.get(done.request_id)).webhook
        ) and webhook.status is WebhookStatus.PENDING:
            await step(10)
            clock.now += timedelta(seconds=30)
        assert webhook is not None and webhook.status is WebhookStatus.FAILED
        assert webhook.last_error == "HTTP 503"
        assert clock.now - FINISHED <= timedelta(seconds=3600 + 600 + 30)

    asyncio.run(scenario())


def test_a_canceled_request_is_called_back_too() -> None:
    async def scenario() -> None:
        store, sender, clock = memory_store(), StubWebhookSender(200), Clock()
        record = replace(a_record(), webhook=Webhook(URL))
        await store.add(record)
        await transition(store, record.request_id, Cancel(FINISHED))
        assert await deliver(store, sender, clock)(10) == 1
        [(_, _, body)] = sender.calls
        assert json.loads(body)["status"] == "canceled"

    asyncio.run(scenario())


def test_a_requeued_request_is_called_back_again_when_it_ends_anew_and_not_before() -> None:
    async def scenario() -> None:
        store, sender, clock = memory_store(), StubWebhookSender(200, 200), Clock()
        record = replace(a_record(), webhook=Webhook(URL))
        await store.add(record)
        await transition(store, record.request_id, Fail(Failure("model_error", "x"), FINISHED))
        requeued = await transition(store, record.request_id, Requeue(FINISHED))
        assert requeued.webhook == Webhook(URL)  # pending again, no calls yet
        assert await deliver(store, sender, clock)(10) == 1  # due from the failure: not called now
        assert sender.calls == []
        await transition(store, record.request_id, Succeed(a_prediction(), FINISHED))
        assert await deliver(store, sender, clock)(10) == 1
        [(_, _, body)] = sender.calls
        assert json.loads(body)["status"] == "succeeded"

    asyncio.run(scenario())
