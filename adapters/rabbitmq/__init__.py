"""The queue on RabbitMQ, over pika: a durable quorum queue with confirms and dead letters.

The API publishes (`RabbitMQPublisher`); a worker consumes requests and dead letters
(`RabbitMQConsumer`); both declare the same `QueueTopology`.
"""

from adapters.rabbitmq.consumer import RabbitMQConsumer
from adapters.rabbitmq.publisher import RabbitMQPublisher
from adapters.rabbitmq.topology import QueueTopology

__all__ = ["QueueTopology", "RabbitMQConsumer", "RabbitMQPublisher"]
