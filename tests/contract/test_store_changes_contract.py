"""The store-changes contract (wait_for_change and the webhook outbox) on memory and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from adapters.memory import MemoryResultStore
from adapters.redis import RedisResultStore, RedisWebhookOutbox
from adapters.redis.codec import decode_record, encode_record
from inference.ports import WebhookOutbox
from tests.contract.result_store_contract import StoreHarness, a_record
from tests.contract.store_changes_contract import StoreChangesContract
from tests.contract.test_result_store_contract import memory_harness, redis_harness


class TestStoreChangesContract(StoreChangesContract):
    @pytest.fixture(
        params=[
            pytest.param(memory_harness, id="memory"),
            pytest.param(redis_harness, id="redis", marks=pytest.mark.server),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> Iterator[StoreHarness]:
        harness: StoreHarness = request.param()
        yield harness
        harness.close()

    @pytest.fixture
    def outbox(self, subject: StoreHarness) -> WebhookOutbox:
        store = subject.store
        if isinstance(store, RedisResultStore):
            return RedisWebhookOutbox(store)
        assert isinstance(store, MemoryResultStore)
        return store


def test_a_record_stored_before_webhooks_existed_reads_back_without_one() -> None:
    document = json.loads(encode_record(a_record()))
    del document["webhook"]
    assert decode_record(json.dumps(document)).webhook is None
