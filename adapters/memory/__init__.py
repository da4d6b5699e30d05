"""Working in-memory adapters: the embedded mode runs on them and the unit tests use them as fakes."""

from adapters.memory.memory_queue import MemoryQueue
from adapters.memory.memory_result_store import MemoryResultStore

__all__ = ["MemoryQueue", "MemoryResultStore"]
