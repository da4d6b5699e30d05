"""Fixtures shared by the HTTP and worker tests: the real container in memory mode."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from entrypoints.container import Container, create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.settings import Settings
from tests.stubs import StubClassifier

# The tests serve the small shapes model (its classes catch channel-order and crop bugs), unless
# a test asks for the ImageNet default; processes they start inherit this.
os.environ.setdefault("INFERENCE_MODEL__MANIFEST", "demo")


@pytest.fixture
def stub_classifier() -> StubClassifier:
    return StubClassifier(labels=("cat", "dog", "fish"))


@pytest.fixture
def container(stub_classifier: StubClassifier) -> Iterator[Container]:
    container = create_container(Settings(mode="embedded"))
    with (
        container.classifier.override(providers.Object(stub_classifier)),
        container.model_info.override(providers.Object(stub_classifier.model)),
    ):
        yield container


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_embedded_app(container)) as client:
        yield client
