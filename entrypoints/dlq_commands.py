"""`inference dlq list|requeue|purge`: the parked dead letters, on the broker and the store the
distributed settings name (the embedded mode's queue lives inside its serving process)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from inference.domain import RequestId
from inference.errors import InferenceError

if TYPE_CHECKING:
    from entrypoints.container import Container
    from inference.use_cases.dead_letter_admin import ListedLetter

T = TypeVar("T")
SettingsFor = Callable[[argparse.Namespace], Any]


def add_commands(commands: Any, add_server_options: Callable[[argparse.ArgumentParser], None]) -> None:
    dlq = commands.add_parser(
        "dlq",
        help="list, requeue or purge the parked dead letters (distributed mode)",
        description="Dead letters are parked once their request's failure is stored; these read them.",
    )
    actions = dlq.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the parked letters, oldest first: id, reason, attempts, age")
    listing.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    listing.set_defaults(dlq=_list)
    requeue = actions.add_parser("requeue", help="send parked requests round again, attempts reset")
    which = requeue.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID", help="request ids to requeue")
    which.add_argument("--all", action="store_true", help="every parked request")
    requeue.set_defaults(dlq=_requeue)
    purge = actions.add_parser("purge", help="delete parked letters (their failures stay stored)")
    purge.add_argument("--older-than", type=float, metavar="SECONDS", help="only those parked longer ago")
    purge.set_defaults(dlq=_purge)
    for action in (listing, requeue, purge):
        add_server_options(action)


def run(args: argparse.Namespace, container: Container) -> int:
    """Run the chosen action; exit status 0, or 1 when the broker or store cannot be reached."""
    try:
        return asyncio.run(_with_connections(container, args.dlq(args, container)))
    except InferenceError as exc:
        print(f"inference dlq: {exc}", file=sys.stderr)
        return 1


async def _with_connections(container: Container, action: Awaitable[int]) -> int:
    from entrypoints.container import stop_adapters

    connections = container.store_connections()
    if inspect.isawaitable(connections):
        await connections
    try:
        return await action
    finally:
        await stop_adapters(container)


async def _list(args: argparse.Namespace, container: Container) -> int:
    listed = await container.list_dead_letters()()
    if args.json:
        print(json.dumps([_as_json(item) for item in listed], indent=2))
    elif not listed:
        print("no parked dead letters")
    else:
        print(f"{'REQUEST ID':36}  {'REASON':28}  {'ATTEMPTS':>8}  {'AGE (s)':>9}")
        for item in listed:
            attempts = "?" if item.attempts is None else str(item.attempts)
            request_id = str(item.letter.request_id or "(none: unreadable message)")
            print(f"{request_id:36}  {item.letter.failure.code:28}  {attempts:>8}  {item.age:9.0f}")
    return 0


def _as_json(item: ListedLetter) -> dict[str, object]:
    letter = item.letter
    return {
        "request_id": None if letter.request_id is None else str(letter.request_id),
        "reason": letter.failure.code,
        "message": letter.failure.message,
        "attempts": item.attempts,
        "age_seconds": round(item.age, 3),
        "parked_at": letter.parked_at.isoformat(),
    }


async def _requeue(args: argparse.Namespace, container: Container) -> int:
    ids = None if args.all else [RequestId.parse(text) for text in args.ids]
    report = await container.requeue_dead_letters()(ids)
    for request_id in report.requeued:
        print(f"requeued {request_id}")
    for request_id, reason in report.skipped.items():
        print(f"left {request_id} parked: {reason}", file=sys.stderr)
    print(f"{len(report.requeued)} requeued, {len(report.skipped)} left parked")
    return 0 if not report.skipped else 3


async def _purge(args: argparse.Namespace, container: Container) -> int:
    purged = await container.purge_dead_letters()(args.older_than)
    print(f"{purged} parked dead letter(s) purged")
    return 0
