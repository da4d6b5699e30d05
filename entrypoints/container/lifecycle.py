"""What an entry point calls: build the container from settings, start what its role needs,
stop whatever was started."""

from __future__ import annotations

import inspect
from typing import Literal

from entrypoints.container.wiring import Container
from entrypoints.settings import Settings


def create_container(settings: Settings | None = None) -> Container:
    container = Container()
    container.config.from_dict((settings or Settings()).model_dump())
    return container


async def start_adapters(container: Container, role: Literal["api", "worker"]) -> None:
    """Start what `role` needs: its side of the queue, and the store (connecting to servers,
    if any). The embedded mode starts both roles."""
    if role == "api":
        container.publisher()
        await _started(container.publisher_connection())
    else:
        container.consumer()
        await _started(container.consumer_connection())
    container.store()
    await _started(container.store_connections())


async def _started(resource: object) -> None:
    if inspect.isawaitable(resource):  # an async Resource (RabbitMQ's, Redis's) starts on the running loop
        await resource


async def stop_adapters(container: Container) -> None:
    """Stop every resource this container started, the classifier and its decoder included."""
    stopping = container.shutdown_resources()
    if stopping is not None:
        await stopping
