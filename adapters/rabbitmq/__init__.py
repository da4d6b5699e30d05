"""The queue on RabbitMQ, over pika: a durable quorum queue with confirms and dead letters.

The API publishes (`RabbitMQPublisher`); a worker consumes requests and dead letters
(`RabbitMQConsumer`) and parks them; an operator lists, requeues and purges the parked ones
(`RabbitMQDeadLetterAdmin`); all declare the same `QueueTopology`.
"""

from adapters.rabbitmq.consumer import RabbitMQConsumer
from adapters.rabbitmq.dead_letter_admin import RabbitMQDeadLetterAdmin
from adapters.rabbitmq.publisher import RabbitMQPublisher
from adapters.rabbitmq.topology import QueueTopology

__all__ = ["QueueTopology", "RabbitMQConsumer", "RabbitMQDeadLetterAdmin", "RabbitMQPublisher"]
