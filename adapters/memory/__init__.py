"""Working in-memory adapters: the embedded mode runs on them and the unit tests use them as fakes."""

from adapters.memory.idempotency_keys import MemoryIdempotencyKeys
from adapters.memory.queue import MemoryQueue
from adapters.memory.result_store import MemoryResultStore
from adapters.memory.worker_registry import MemoryWorkerRegistry

__all__ = ["MemoryIdempotencyKeys", "MemoryQueue", "MemoryResultStore", "MemoryWorkerRegistry"]
