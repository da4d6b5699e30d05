"""ModelThreads: the model's own threads take a worker's batches in order, the next one as soon
as they are done with one (without the event loop), and say whether one is free."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from functools import partial

from entrypoints.model_threads import ModelThreads

WAIT = 5.0


def test_the_thread_takes_the_next_batch_without_the_event_loop() -> None:
    # The loop is held (a long step of its own) from before the first batch ends until after the
    # second starts: with batches handed over by the loop, the second could not start meanwhile.
    async def scenario() -> bool:
        model = ModelThreads(1)
        first_may_end, second_started = threading.Event(), threading.Event()
        first = asyncio.ensure_future(model.run(lambda: first_may_end.wait(WAIT)))
        second = asyncio.ensure_future(model.run(second_started.set))
        await asyncio.sleep(0.05)  # both queued; the first runs
        first_may_end.set()
        started_while_the_loop_was_held = second_started.wait(WAIT)  # (blocks the loop)
        await asyncio.gather(first, second)
        model.close()
        return started_while_the_loop_was_held

    assert asyncio.run(scenario()) is True


def test_batches_run_in_the_order_they_came_and_a_thread_is_free_only_once_none_waits() -> None:
    async def scenario() -> tuple[list[str], list[bool]]:
        model, order, free_seen = ModelThreads(1), [], []
        gates = {name: threading.Event() for name in "abc"}

        def batch(name: str) -> None:
            gates[name].wait(WAIT)
            order.append(name)

        runs = [asyncio.ensure_future(model.run(partial(batch, name))) for name in "abc"]
        await asyncio.sleep(0)
        free_seen.append(model.free)
        gates["c"].set()  # it may end at once, but only after the two before it
        gates["a"].set()
        await runs[0]
        free_seen.append(model.free)  # "b" runs, "c" waits
        gates["b"].set()
        await asyncio.gather(*runs)
        free_seen.append(model.free)
        model.close()
        return order, free_seen

    assert asyncio.run(scenario()) == (["a", "b", "c"], [False, False, True])


def test_until_free_waits_for_a_thread_nobody_else_takes() -> None:
    async def scenario() -> tuple[bool, bool]:
        model = ModelThreads(2)
        gate = threading.Event()
        one = asyncio.ensure_future(model.run(lambda: gate.wait(WAIT)))
        await asyncio.sleep(0)
        free_with_one = model.free
        two = asyncio.ensure_future(model.run(lambda: gate.wait(WAIT)))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(model.until_free())
        await asyncio.sleep(0.05)
        waited = not waiting.done()
        gate.set()
        await asyncio.wait_for(asyncio.gather(one, two, waiting), WAIT)
        model.close()
        return free_with_one, waited

    assert asyncio.run(scenario()) == (True, True)


def test_a_batch_cancelled_while_queued_never_runs_and_one_running_runs_to_its_end() -> None:
    async def scenario() -> tuple[list[str], bool]:
        model, ran = ModelThreads(1), []
        gate = threading.Event()

        def running() -> None:
            gate.wait(WAIT)
            ran.append("running")

        first = asyncio.ensure_future(model.run(running))
        queued = asyncio.ensure_future(model.run(lambda: ran.append("queued")))
        await asyncio.sleep(0.05)
        first.cancel()
        queued.cancel()
        await asyncio.gather(first, queued, return_exceptions=True)
        gate.set()
        free = model.free
        model.close()
        await asyncio.sleep(0.1)
        return ran, free

    assert asyncio.run(scenario()) == (["running"], True)


def test_a_batch_runs_in_its_task_s_context() -> None:
    # (Its log lines carry the batch's fields, and its span is the batch's.)
    batch_id: contextvars.ContextVar[str] = contextvars.ContextVar("batch_id", default="none")

    async def scenario() -> str:
        model = ModelThreads(1)
        batch_id.set("b-1")
        seen = await model.run(batch_id.get)
        model.close()
        return seen

    assert asyncio.run(scenario()) == "b-1"
