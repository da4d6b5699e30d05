"""The composition root: the one place that chooses adapters. Nothing connects at import time.

`config.mode` selects the adapters: "embedded" runs on the in-memory ones, "distributed" on
RabbitMQ and Redis. Every connection, the decoder and the classifier are `Resource`s: entry
points call `start_adapters` before serving (it builds only the selected ones, so the embedded
mode never reaches for a broker) and `stop_adapters` after, which is the container's own
`shutdown_resources`: whatever was started is stopped, in dependency order.
"""

from entrypoints.container.lifecycle import create_container, start_adapters, stop_adapters
from entrypoints.container.resources import make_decoder
from entrypoints.container.wiring import Container

__all__ = ["Container", "create_container", "make_decoder", "start_adapters", "stop_adapters"]
