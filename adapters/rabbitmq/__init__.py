"""The queue on RabbitMQ, over pika: a durable quorum queue with confirms and dead letters."""

from adapters.rabbitmq.queue import RabbitMQQueue

__all__ = ["RabbitMQQueue"]
