"""ModelTurns: turns in the model, in order, and whether one is free for whoever comes next."""

from __future__ import annotations

import asyncio

from entrypoints.model_turns import ModelTurns


def test_turns_are_given_in_the_order_asked_and_a_handed_over_turn_is_never_free() -> None:
    async def scenario() -> tuple[list[str], list[bool]]:
        turns, order, free_seen = ModelTurns(1), [], []
        holding = asyncio.Event()

        async def batch(name: str) -> None:
            async with turns.turn():
                order.append(name)
                holding.set()
                await asyncio.sleep(0.01)
                free_seen.append(turns.free)

        first = asyncio.create_task(batch("first"))
        await holding.wait()
        rest = [asyncio.create_task(batch(name)) for name in ("second", "third")]
        await asyncio.gather(first, *rest)
        free_seen.append(turns.free)
        return order, free_seen

    order, free_seen = asyncio.run(scenario())

    assert order == ["first", "second", "third"]
    assert free_seen == [False, False, False, True]  # free only once nobody waits


def test_until_free_waits_for_a_turn_nobody_else_takes() -> None:
    async def scenario() -> bool:
        turns = ModelTurns(1)
        async with turns.turn():
            waiting = asyncio.create_task(turns.until_free())
            await asyncio.sleep(0.01)
            if waiting.done():
                return False
        await asyncio.wait_for(waiting, 1)
        return turns.free

    assert asyncio.run(scenario()) is True


def test_a_waiter_cancelled_after_its_turn_was_handed_over_passes_it_on() -> None:
    async def scenario() -> list[str]:
        turns, order = ModelTurns(1), []

        async def batch(name: str) -> None:
            async with turns.turn():
                order.append(name)

        async with turns.turn():
            doomed = asyncio.create_task(batch("doomed"))
            last = asyncio.create_task(batch("last"))
            await asyncio.sleep(0)
        doomed.cancel()  # its turn is handed over, but it has not yet run: cancelled now
        await asyncio.gather(doomed, last, return_exceptions=True)
        return order

    assert asyncio.run(scenario()) == ["last"]


def test_a_waiter_cancelled_and_passed_over_before_it_runs_leaves_the_turn_free() -> None:
    async def scenario() -> tuple[bool, bool]:
        turns = ModelTurns(1)
        holder = turns.turn()
        await holder.__aenter__()
        waiting = asyncio.create_task(turns.until_free())
        doomed = asyncio.create_task(_take_and_keep(turns))
        await asyncio.sleep(0)  # it waits for the turn
        doomed.cancel()
        await holder.__aexit__(None, None, None)  # gives the turn before the cancelled one runs
        results = await asyncio.gather(doomed, return_exceptions=True)
        await asyncio.wait_for(waiting, 1)
        return isinstance(results[0], asyncio.CancelledError), turns.free

    assert asyncio.run(scenario()) == (True, True)


async def _take_and_keep(turns: ModelTurns) -> None:
    async with turns.turn():
        await asyncio.sleep(10)
