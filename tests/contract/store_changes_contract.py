"""What the result store promises to those who follow a record: `wait_for_change` (status
streams) and the webhook outbox its transitions write (the dispatcher). Written once, run on
every store adapter by `test_store_changes_contract`.

A `subject` fixture gives a StoreHarness and the outbox that shares its data. Times handed to
the outbox are explicit, so no test waits out a lease.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from inference.domain import RequestRecord, RequestStatus
from inference.errors import UnknownRequest
from inference.outcomes import Failure
from inference.ports import ResultStore, WebhookOutbox
from inference.transitions import Fail, Start, Succeed
from inference.webhook_delivery import Webhook, WebhookStatus
from tests.contract.result_store_contract import LONG_WAIT, PROMPT, StoreHarness, a_record, at
from tests.queues import transition
from tests.stubs import a_prediction

URL = "https://hooks.example.com/done"


def with_webhook(record: RequestRecord) -> RequestRecord:
    return replace(record, webhook=Webhook(URL))


async def finished_with_webhook(store: ResultStore, seconds: int = 2) -> RequestRecord:
    record = with_webhook(a_record())
    await store.add(record)
    return await transition(store, record.request_id, Succeed(a_prediction(), at(seconds)))


class StoreChangesContract:
    # --- wait_for_change ---

    def test_a_record_other_than_the_one_seen_comes_back_at_once(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            store, record = subject.store, a_record()
            await store.add(record)
            started = time.monotonic()
            assert await store.wait_for_change(record.request_id, None, LONG_WAIT) == record
            processing = await transition(store, record.request_id, Start(at(1)))
            assert await store.wait_for_change(record.request_id, record, LONG_WAIT) == processing
            assert time.monotonic() - started < PROMPT

        asyncio.run(scenario())

    def test_an_unchanged_record_comes_back_as_it_is_after_the_timeout(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            store, record = subject.store, a_record()
            await store.add(record)
            started = time.monotonic()
            assert await store.wait_for_change(record.request_id, record, 0.3) == record
            assert 0.25 <= time.monotonic() - started < PROMPT + 0.3

        asyncio.run(scenario())

    def test_every_transition_wakes_a_follower_in_order_whoever_applies_it(
        self, subject: StoreHarness
    ) -> None:
        async def scenario() -> None:
            store, other = subject.store, subject.connect()
            record = a_record()
            await store.add(record)
            seen: list[RequestStatus] = [record.status]

            async def follow() -> None:
                current = record
                while not current.status.is_terminal:
                    current = await store.wait_for_change(record.request_id, current, LONG_WAIT)
                    seen.append(current.status)

            async def work() -> None:
                await asyncio.sleep(0.2)  # the follower is waiting by then
                await transition(other, record.request_id, Start(at(1)))
                await asyncio.sleep(0.2)
                await transition(other, record.request_id, Fail(Failure("model_error", "no"), at(2)))

            started = time.monotonic()
            await asyncio.gather(follow(), work())
            assert seen == [RequestStatus.QUEUED, RequestStatus.PROCESSING, RequestStatus.FAILED]
            assert time.monotonic() - started < 0.4 + PROMPT

        asyncio.run(scenario())

    def test_a_follower_cancelled_at_any_moment_stops_waiting(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            record = a_record()
            await subject.store.add(record)
            await subject.store.wait_for_change(record.request_id, None, LONG_WAIT)  # connected
            for pause in (0, 0, 0.001, 0.01, 0.1):  # 0: as its first read is in flight
                waiting = asyncio.ensure_future(
                    subject.store.wait_for_change(record.request_id, record, LONG_WAIT)
                )
                await asyncio.sleep(pause)
                waiting.cancel()
                await asyncio.wait({waiting}, timeout=PROMPT)
                assert waiting.cancelled(), f"still waiting {pause} s after it began"

        asyncio.run(scenario())

    def test_following_an_unknown_request_raises_unknown_request(self, subject: StoreHarness) -> None:
        with pytest.raises(UnknownRequest):
            asyncio.run(subject.store.wait_for_change(a_record().request_id, None, LONG_WAIT))

    # --- watch_terminal: a submitter's ear on its request, from before it exists ---

    def test_a_watch_entered_before_the_record_hears_its_terminal_transition_by_another_client(
        self, subject: StoreHarness
    ) -> None:
        async def scenario() -> None:
            store, other, record = subject.store, subject.connect(), a_record()
            async with store.watch_terminal(record.request_id) as watch:
                await store.add(record)

                async def work() -> float:
                    await asyncio.sleep(0.2)  # the watcher is waiting by then
                    await transition(other, record.request_id, Start(at(1)))
                    await transition(other, record.request_id, Succeed(a_prediction(), at(2)))
                    return time.monotonic()

                finished, finished_at = await asyncio.gather(watch.terminal_within(LONG_WAIT), work())
                assert finished is not None and finished.status is RequestStatus.SUCCEEDED
                assert finished == await store.get(record.request_id)
                assert time.monotonic() - finished_at < PROMPT

        asyncio.run(scenario())

    def test_a_watch_keeps_a_transition_made_before_its_wait_began(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            store, other, record = subject.store, subject.connect(), a_record()
            async with store.watch_terminal(record.request_id) as watch:
                await store.add(record)
                failed = await transition(other, record.request_id, Fail(Failure("model_error", "x"), at(1)))
                await asyncio.sleep(0.2)  # the news arrives while nobody waits on it
                started = time.monotonic()
                assert await watch.terminal_within(LONG_WAIT) == failed
                assert time.monotonic() - started < PROMPT

        asyncio.run(scenario())

    def test_a_watch_on_an_unfinished_request_gives_none_after_its_timeout(
        self, subject: StoreHarness
    ) -> None:
        async def scenario() -> None:
            store, record = subject.store, a_record()
            async with store.watch_terminal(record.request_id) as watch:
                await store.add(record)
                await transition(store, record.request_id, Start(at(1)))  # news, but not terminal
                started = time.monotonic()
                assert await watch.terminal_within(0.3) is None
                assert 0.25 <= time.monotonic() - started < PROMPT + 0.3

        asyncio.run(scenario())

    def test_a_watch_cancelled_mid_wait_stops_waiting(self, subject: StoreHarness) -> None:
        async def scenario() -> None:
            store, record = subject.store, a_record()
            async with store.watch_terminal(record.request_id) as watch:
                await store.add(record)
                waiting = asyncio.ensure_future(watch.terminal_within(LONG_WAIT))
                await asyncio.sleep(0.05)
                waiting.cancel()
                await asyncio.wait({waiting}, timeout=PROMPT)
                assert waiting.cancelled()

        asyncio.run(scenario())

    # --- the webhook outbox ---

    def test_a_finished_request_with_a_webhook_is_due_at_once_and_others_never(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            store = subject.store
            done = await finished_with_webhook(store)
            plain, started = a_record(), with_webhook(a_record())
            for record in (plain, started):
                await store.add(record)
            await transition(store, plain.request_id, Succeed(a_prediction(), at(2)))
            await transition(store, started.request_id, Start(at(2)))
            assert await outbox.claim(at(1), 60, 10) == []  # due when it finished, not before
            assert await outbox.claim(at(3), 60, 10) == [done]

        asyncio.run(scenario())

    def test_a_claimed_webhook_is_hidden_for_its_lease_then_due_again(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            done = await finished_with_webhook(subject.store)
            assert await outbox.claim(at(3), 60, 10) == [done]
            assert await outbox.claim(at(62), 60, 10) == []
            assert await outbox.claim(at(64), 60, 10) == [done]  # its claimer died: nothing lost

        asyncio.run(scenario())

    def test_concurrent_claims_never_take_the_same_webhook(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            ids = {(await finished_with_webhook(subject.store)).request_id for _ in range(12)}
            claims = await asyncio.gather(*(outbox.claim(at(3), 60, 5) for _ in range(4)))
            claimed = [record.request_id for claim in claims for record in claim]
            assert sorted(claimed) == sorted(ids)

        asyncio.run(scenario())

    def test_settling_stores_the_delivery_and_keeps_the_outcome(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            done = await finished_with_webhook(subject.store)
            await outbox.claim(at(3), 60, 10)
            retrying = Webhook(URL, WebhookStatus.PENDING, 1, "HTTP 503")
            await outbox.settle(done.request_id, retrying, at(10))
            assert await subject.store.get(done.request_id) == done.with_webhook(retrying)
            assert await outbox.claim(at(9), 60, 10) == []
            [again] = await outbox.claim(at(10), 60, 10)
            assert again.webhook == retrying
            delivered = Webhook(URL, WebhookStatus.DELIVERED, 2, None)
            await outbox.settle(done.request_id, delivered, None)
            assert await subject.store.get(done.request_id) == done.with_webhook(delivered)
            assert await outbox.claim(at(10_000), 60, 10) == []

        asyncio.run(scenario())

    def test_a_late_claimer_cannot_undo_a_settled_delivery(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            done = await finished_with_webhook(subject.store)
            delivered = Webhook(URL, WebhookStatus.DELIVERED, 1, None)
            await outbox.settle(done.request_id, delivered, None)
            await outbox.settle(done.request_id, Webhook(URL, WebhookStatus.PENDING, 1, "timeout"), at(5))
            assert (await subject.store.get(done.request_id)).webhook == delivered
            assert await outbox.claim(at(10_000), 60, 10) == []

        asyncio.run(scenario())

    def test_the_webhook_of_an_expired_record_is_dropped(
        self, subject: StoreHarness, outbox: WebhookOutbox
    ) -> None:
        async def scenario() -> None:
            await finished_with_webhook(subject.store)
            subject.let_time_pass(subject.ttl * 1.5)
            later = at(3) + timedelta(days=1)
            assert await outbox.claim(later, 60, 10) == []
            assert await outbox.claim(later + timedelta(hours=1), 60, 10) == []

        asyncio.run(scenario())
