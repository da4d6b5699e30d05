"""Start-up's objects are frozen out of the garbage collector's sight, after its garbage is gone."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

import entrypoints.http.server
from entrypoints.cli import main
from entrypoints.heap import settle_heap


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_frees_start_up_garbage_and_freezes_the_rest() -> None:
    garbage = Cycle()
    gone = weakref.ref(garbage)
    kept = Cycle()
    del garbage

    frozen = settle_heap()

    assert gone() is None  # collected before the freeze: a frozen cycle would never be freed
    assert frozen == gc.get_freeze_count() > 1000
    assert all(kept is not each for each in gc.get_objects())  # out of the collector's sight


def test_the_http_server_starts_on_a_settled_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    class Server:
        def run(self) -> None:
            seen.append(gc.get_freeze_count())

    monkeypatch.setattr(entrypoints.http.server, "build_server", lambda *args: Server())

    assert main(["serve", "--port", "0"]) == 0
    assert seen and seen[0] > 1000
