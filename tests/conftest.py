"""Fixtures shared by the unit tests: the real container in memory mode, over a test client."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from entrypoints.container import Container
from tests.service import memory_client, memory_container
from tests.stubs import StubClassifier

# The tests serve the small shapes model (its classes catch channel-order and crop bugs), unless
# a test asks for the ImageNet default; processes they start inherit this.
os.environ.setdefault("INFERENCE_MODEL__MANIFEST", "demo")

MakeClient = Callable[..., TestClient]


# The loggers a command run in-process (`main([...])`) reconfigures: its configure_logging
# replaces the root's handlers with one on that test's captured stderr and sets levels, which
# would otherwise leak into every later test of the session.
_CONFIGURED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "pika")


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _CONFIGURED_LOGGERS]
    saved = [(logger.level, logger.handlers[:], logger.propagate) for logger in loggers]
    yield
    for logger, (level, handlers, propagate) in zip(loggers, saved, strict=True):
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate


@pytest.fixture
def stub_classifier() -> StubClassifier:
    return StubClassifier(labels=("cat", "dog", "fish"))


@pytest.fixture
def container(stub_classifier: StubClassifier) -> Container:
    return memory_container(classifier=stub_classifier)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with memory_client(container) as client:
        yield client


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """`make_client(**settings, classifier=…, started=…)`: clients as `tests.service.memory_client`
    builds them, each stopped when the test ends."""
    with ExitStack() as clients:

        def make(container: Container | None = None, **options: Any) -> TestClient:
            return clients.enter_context(memory_client(container, **options))

        yield make
