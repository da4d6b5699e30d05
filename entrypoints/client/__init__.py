"""A Python client for the service, blocking (`Client`) or asyncio (`AsyncClient`), on httpx.

    from entrypoints.client import Client

    with Client("http://127.0.0.1:8000") as service:
        result = service.classify("cat.jpg", top_k=3)  # submit, then wait (long-poll)
        print(result.label, f"{result.score:.0%}")
        job = service.submit(open("cup.png", "rb"))  # a path, bytes or a binary file
        print(job.request_id, job.wait(timeout=30).scores)
        for outcome in service.classify_many(["a.jpg", "b.jpg"], concurrency=8):
            print(outcome.source, outcome.result or outcome.error)

A submission may name a webhook (`submit(image, webhook="https://…")`): the service POSTs the
finished request there, signed; `verify_webhook(secret, headers, body)` checks a call and reads
it. `Client.events(request_id)` follows a request's status as it changes (Server-Sent Events).

Waiting uses the server's long-poll (`?wait=`), never a tight loop. Answers 429 and 503 are
retried after the server's Retry-After, with backoff. Every failure is a ClientError whose `code`
is the server's own (`unsupported_media_type`, `payload_too_large`, `invalid_api_key`, …).
"""

from __future__ import annotations

from entrypoints.client.asynchronous import AsyncClient, AsyncJob
from entrypoints.client.health import check_health
from entrypoints.client.results import (
    ClientError,
    Label,
    Outcome,
    RequestFailed,
    Result,
    ServiceError,
    Status,
    Unreachable,
    WaitTimeout,
)
from entrypoints.client.sync import Client, Job
from entrypoints.client.webhooks import InvalidSignature, verify_webhook

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "Client",
    "ClientError",
    "InvalidSignature",
    "Job",
    "Label",
    "Outcome",
    "RequestFailed",
    "Result",
    "ServiceError",
    "Status",
    "Unreachable",
    "WaitTimeout",
    "check_health",
    "verify_webhook",
]
