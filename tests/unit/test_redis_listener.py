"""A long-poll's `Listener` (adapters.redis.listener): what it hears, and that waiting for it
costs no task of its own (asyncio.wait_for made one per wait, on every long-poll)."""

from __future__ import annotations

import asyncio

from adapters.redis.listener import Listener


def test_a_listener_hands_over_what_was_said_before_it_was_asked_at_once() -> None:
    async def scenario() -> list[str]:
        heard = Listener()
        heard.hear("processing")
        heard.hear("succeeded")
        return await asyncio.wait_for(heard.next(30.0), 1.0)

    assert asyncio.run(scenario()) == ["processing", "succeeded"]


def test_a_listener_that_hears_nothing_says_so_when_the_time_is_up() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        heard = Listener()
        first = await heard.next(0.05)
        heard.hear("late")
        return first, await heard.next(0.05)

    assert asyncio.run(scenario()) == ([], ["late"])


def test_a_waiting_listener_wakes_on_news_and_runs_no_task_of_its_own() -> None:
    async def scenario() -> tuple[int, list[str]]:
        heard = Listener()
        waiting = asyncio.create_task(heard.next(30.0))
        await asyncio.sleep(0.01)  # it waits now
        tasks = len(asyncio.all_tasks())
        heard.hear("succeeded")
        return tasks, await asyncio.wait_for(waiting, 1.0)

    tasks, said = asyncio.run(scenario())
    assert said == ["succeeded"]
    assert tasks == 2  # this scenario and the waiting call: nothing more


def test_a_cancelled_wait_leaves_the_listener_usable() -> None:
    async def scenario() -> list[str]:
        heard = Listener()
        waiting = asyncio.create_task(heard.next(30.0))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        heard.hear("succeeded")
        return await asyncio.wait_for(heard.next(30.0), 1.0)

    assert asyncio.run(scenario()) == ["succeeded"]
