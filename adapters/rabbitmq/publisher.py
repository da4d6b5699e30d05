"""The API's side of the queue on RabbitMQ: the queues declared, requests published with confirms.

Two connections: one declares the topology on every connect (so a broker that lost the queues
gets them back) and tells `ping` whether the broker is there; the other publishes, pipelining
its confirms (`confirming.AmqpPublisher`), opened by the first publish on the event loop of that
publish.

pika's asyncio connection belongs to one loop (`per_loop`): a new loop gets a new publishing
connection, which waits for its first connect as the very first publish did.
"""

from __future__ import annotations

import asyncio
import logging

from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from adapters.rabbitmq.confirming import AmqpPublisher
from adapters.rabbitmq.connection import AmqpThread, connection_parameters, reconnect_backoff
from adapters.rabbitmq.messages import encode
from adapters.rabbitmq.pending import UnroutableMessage
from adapters.rabbitmq.per_loop import PerLoop
from adapters.rabbitmq.topology import QueueTopology
from inference.domain import InferenceRequest
from inference.errors import QueueUnavailable
from inference.ports import Publisher

log = logging.getLogger(__name__)


class RabbitMQPublisher(Publisher):
    def __init__(self, url: str, topology: QueueTopology, timeout: float, client_name: str) -> None:
        """`timeout` bounds a publish's wait for its confirm and any other broker call."""
        self._topology = topology
        self._timeout = timeout
        self._parameters = parameters = connection_parameters(url, timeout, client_name)
        self._amqp = AmqpThread(parameters, self._on_connect, lambda: None, name=f"amqp-{topology.name}")
        self._publishers = PerLoop(lambda loop: AmqpPublisher(parameters, reconnect_backoff(), loop))
        self._declarer: BlockingChannel | None = None  # on the connection's thread only

    def start(self, wait: float) -> None:
        """Connect in the background (waiting up to `wait` s for it); retried until `shutdown`."""
        self._amqp.start()
        self._amqp.wait_connected(wait)

    async def aclose(self) -> None:
        """Close the publishing connection, waiting for the broker's close-ok, on its own loop
        (the API's lifespan ends on it); `shutdown` stops the rest."""
        await self._publishers.aclose(self._timeout)

    def shutdown(self) -> None:
        """Stop; a publishing connection still open closes on its loop when that loop next runs."""
        self._publishers.abandon()
        self._amqp.stop(self._timeout)

    async def publish(self, request: InferenceRequest) -> None:
        body, properties = encode(request)
        publisher = self._publishers.on_this_loop()
        if not publisher.connected:
            await self.ping()
            publisher.start()
            if not publisher.ever_connected:  # the first publishes give it time to connect
                await publisher.wait_connected(self._timeout)
        try:
            await asyncio.wait_for(publisher.publish(self._topology.name, body, properties), self._timeout)
        except UnroutableMessage:
            log.warning("the queue %s did not exist; declaring it again", self._topology.name)
            await self._declare_again()  # ready for the client's retry
            raise
        except TimeoutError as exc:
            raise QueueUnavailable(
                f"the broker did not confirm the message within {self._timeout:g} s"
            ) from exc

    async def ping(self) -> None:
        if not self._amqp.connected:
            raise QueueUnavailable(f"the broker is unreachable: {self._amqp.last_error}")

    async def _declare_again(self) -> None:
        future = self._amqp.call(self._declare)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
        except TimeoutError as exc:
            raise QueueUnavailable(
                f"the broker did not declare the queue within {self._timeout:g} s"
            ) from exc

    # --- on the connection's thread ---

    def _on_connect(self, connection: BlockingConnection) -> None:
        self._declarer = connection.channel()
        self._topology.declare(self._declarer)

    def _declare(self) -> None:
        if self._declarer is not None:
            self._topology.declare(self._declarer)
