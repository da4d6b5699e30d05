"""The dead letters that the thread's consumer channel has delivered and no coroutine has taken.

The channel's message callback (on the connection's thread) turns each into a `DeadLetter`,
tagged `<generation>.<delivery tag>`; coroutines take them in order, waiting for arrivals. A
dead letter's message is kept until it is parked. (The requests arrive on the worker's loop:
`deliveries`.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from adapters.rabbitmq.messages import dead_letter_failure, request_id_of
from adapters.rabbitmq.settlement import Settlements
from adapters.wakeup import WakeUp
from inference.ports import DeadLetter

# The consumer's lines keep the logger name operators filter on, whichever module writes them.
log = logging.getLogger("adapters.rabbitmq.consumer")


class Inbox:
    def __init__(
        self, lock: threading.Lock, settlements: Settlements, last_attempt: int, generation: Callable[[], int]
    ) -> None:
        """`lock` is the consumer's; `generation()` gives the consumer channel's, on the
        connection's thread."""
        self._lock = lock
        self._settlements = settlements
        self._last_attempt = last_attempt
        self._generation = generation
        self._arrivals = WakeUp(lock)
        self._dead_letters: deque[DeadLetter] = deque()
        self._letter_messages: dict[str, tuple[pika.BasicProperties, bytes]] = {}

    # --- for coroutines ---

    async def take_dead_letters(self, max_count: int, wait: float) -> list[DeadLetter]:
        inbox = self._dead_letters
        deadline = time.monotonic() + wait
        while (remaining := deadline - time.monotonic()) > 0:
            if await self._arrivals.wait_for(lambda: bool(inbox) or None, remaining) is None:
                break
            with self._lock:
                taken = [inbox.popleft() for _ in range(min(max_count, len(inbox)))]
            if taken:  # else the connection dropped them: wait on
                return taken
        return []

    # --- on the connection's thread ---

    def letter_message(self, tag: str) -> tuple[pika.BasicProperties, bytes] | None:
        with self._lock:
            return self._letter_messages.get(tag)

    def parked(self, tag: str) -> None:
        with self._lock:
            self._letter_messages.pop(tag, None)

    def clear(self, wake: bool) -> None:
        """Drop everything: the consumer channel is gone and the broker requeues it all."""
        with self._lock:
            self._dead_letters.clear()
            self._letter_messages.clear()
            if wake:
                self._arrivals.fire()

    def on_dead_letter(
        self, channel: BlockingChannel, method: Any, properties: pika.BasicProperties, body: bytes
    ) -> None:
        generation = self._generation()
        self._settlements.delivered(generation, method.delivery_tag)  # before anyone acks it
        letter = DeadLetter(
            f"{generation}.{method.delivery_tag}",
            request_id_of(properties),
            dead_letter_failure(properties, body, self._last_attempt),
        )
        with self._lock:
            self._dead_letters.append(letter)
            self._letter_messages[letter.tag] = (properties, body)  # kept until parked
            self._arrivals.fire()
