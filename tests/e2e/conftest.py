"""Every end-to-end test is slow: it starts real processes (and often servers, a model, a browser),
so the quick loop (`-m "not slow and not server"`) never runs one, whatever a file forgets to say."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.slow)
