"""The queue's providers: which adapter plays each side of the queue, in each mode.

The embedded mode's one in-memory queue plays every role; in the distributed mode the API's
publisher, the worker's consumer and the operator's dead-letter admin each declare the same
`QueueTopology` on RabbitMQ. `Container` inherits them, as these inherit the model's, so that one
configuration and one `shutdown_resources` cover the whole tree.
"""

from __future__ import annotations

from dependency_injector import providers

from adapters.memory import MemoryQueue
from adapters.rabbitmq import QueueTopology, RabbitMQConsumer, RabbitMQDeadLetterAdmin, RabbitMQPublisher
from entrypoints.container import resources
from entrypoints.container.model import ModelProviders


class QueueProviders(ModelProviders):
    config = ModelProviders.config

    # The embedded mode's one queue plays every role; a distributed process builds only its own
    # side: the API a publisher, a worker a consumer (which also reads the dead letters).
    _memory_queue = providers.Singleton(
        MemoryQueue,
        max_length=config.queue.max_length,
        max_bytes=config.queue.max_bytes,
        max_attempts=config.worker.max_attempts,
        max_parked=config.queue.max_parked,
    )
    _topology = providers.Singleton(
        QueueTopology,
        name=config.queue.name,
        max_length=config.queue.max_length,
        max_bytes=config.queue.max_bytes,
        max_attempts=config.worker.max_attempts,
        max_parked=config.queue.max_parked,
    )
    _rabbitmq_publisher = providers.Resource(
        resources.connected,
        providers.Factory(
            RabbitMQPublisher,
            url=config.rabbitmq_url,
            topology=_topology,
            timeout=config.queue.timeout_seconds,
            client_name="inference-api",
        ),
    )
    publisher = providers.Selector(config.mode, embedded=_memory_queue, distributed=_rabbitmq_publisher)
    # Its publishing connection closes on the event loop, so in an async Resource of its own, as
    # the store's (in `wiring`): the publisher stays a plain one, which the use cases' factories take as
    # it is. It names the Resource, not the Selector: the container shuts a Resource down before
    # those it depends on only where it sees the dependency, and it does not look into Selectors.
    publisher_connection = providers.Selector(
        config.mode,
        embedded=providers.Object(None),
        distributed=providers.Resource(resources.closing_publisher, _rabbitmq_publisher),
    )
    _rabbitmq_consumer = providers.Resource(
        resources.connected,
        providers.Factory(
            RabbitMQConsumer,
            url=config.rabbitmq_url,
            topology=_topology,
            # The batch in hand and the next: a worker holds no more than it will soon run.
            prefetch=providers.Callable(
                lambda size, batches: size * batches,
                config.worker.max_batch_size,
                config.worker.prefetch_batches,
            ),
            timeout=config.queue.timeout_seconds,
            client_name="inference-worker",
        ),
    )
    consumer = providers.Selector(config.mode, embedded=_memory_queue, distributed=_rabbitmq_consumer)
    # Its deliveries' connection closes on the worker's loop: as `publisher_connection`.
    consumer_connection = providers.Selector(
        config.mode,
        embedded=providers.Object(None),
        distributed=providers.Resource(resources.closing_consumer, _rabbitmq_consumer),
    )
    # `inference dlq`: the parked dead letters, from a connection of its own per command.
    dead_letter_admin = providers.Selector(
        config.mode,
        embedded=_memory_queue,
        distributed=providers.Singleton(
            RabbitMQDeadLetterAdmin,
            url=config.rabbitmq_url,
            topology=_topology,
            timeout=config.queue.timeout_seconds,
        ),
    )
