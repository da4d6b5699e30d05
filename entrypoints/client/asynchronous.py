"""`AsyncClient`: the same as `Client`, for asyncio programs (httpx.AsyncClient)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from entrypoints.client.events import EventData
from entrypoints.client.results import (
    LONG_POLL_SECONDS,
    ClientError,
    Image,
    Outcome,
    Result,
    ServiceError,
    Status,
    Unreachable,
    WaitTimeout,
    backoff,
    check,
    finished,
    status_of,
    submit_options,
    worth_retrying,
)
from entrypoints.client.sync import SUBMIT


class AsyncJob:
    """A submitted image: its request id, and a way to wait for its result."""

    def __init__(self, client: AsyncClient, request_id: str) -> None:
        self._client, self.request_id = client, request_id

    async def status(self, wait: float = 0.0) -> Status:
        return await self._client.status(self.request_id, wait)

    async def wait(self, timeout: float = 60.0) -> Result:
        """The result, held by the server's long-poll; RequestFailed, WaitTimeout, ServiceError."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            current = await self.status(min(LONG_POLL_SECONDS, remaining))
            if current.is_terminal:
                return finished(current)
        raise WaitTimeout(f"request {self.request_id} not finished within {timeout:g} s")

    async def cancel(self) -> Status:
        """Cancel the request if it has not finished (see `Job.cancel`)."""
        return await self._client.cancel(self.request_id)

    def __repr__(self) -> str:
        return f"AsyncJob({self.request_id!r})"


class AsyncClient:
    """The service at `url`, for asyncio; `async with` it. Same options as `Client`."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeouts = httpx.Timeout(timeout, read=timeout + LONG_POLL_SECONDS)
        # A transport only when given: httpx's own default is then kept (and can be patched in tests).
        extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self._http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeouts, **extra)
        self._retries = retries

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(
        self,
        image: Image,
        top_k: int | None = None,
        *,
        deadline: float | None = None,
        idempotency_key: str | None = None,
        webhook: str | None = None,
    ) -> AsyncJob:
        """See `Client.submit`."""
        options = submit_options(image, top_k, deadline, idempotency_key, webhook)
        body = await self._call("POST", SUBMIT, **options)
        return AsyncJob(self, str(body["request_id"]))

    def job(self, request_id: str) -> AsyncJob:
        return AsyncJob(self, request_id)

    async def status(self, request_id: str, wait: float = 0.0) -> Status:
        params = {"wait": round(wait, 3)} if wait > 0 else {}
        return status_of(await self._call("GET", f"{SUBMIT}/{request_id}/results", params=params))

    async def cancel(self, request_id: str) -> Status:
        return status_of(await self._call("POST", f"{SUBMIT}/{request_id}/cancel"))

    async def events(self, request_id: str, timeout: float = 300.0) -> AsyncIterator[Status]:
        """As Client.events."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                async with self._http.stream("GET", f"{SUBMIT}/{request_id}/events") as response:
                    if not response.is_success:
                        await response.aread()
                        check(response)
                    parser = EventData()
                    async for line in response.aiter_lines():
                        if (data := parser.feed(line)) is None:
                            continue
                        current = status_of(json.loads(data))
                        if current != last:  # a reconnection replays the state last seen
                            yield current
                            last = current
                        if current.is_terminal:
                            return
            except httpx.TransportError as error:
                raise Unreachable(f"{self._http.base_url}: {error}") from error
        raise WaitTimeout(f"request {request_id} not finished within {timeout:g} s")

    async def classify(self, image: Image, top_k: int | None = None, timeout: float = 60.0) -> Result:
        """As Client.classify."""
        deadline = time.monotonic() + timeout
        options = submit_options(image, top_k, None, None, wait=timeout)
        current = status_of(await self._call("POST", SUBMIT, **options))
        if current.is_terminal:
            return finished(current)
        return await AsyncJob(self, current.request_id).wait(deadline - time.monotonic())

    async def classify_many(
        self, images: Iterable[Image], concurrency: int = 8, top_k: int | None = None, timeout: float = 60.0
    ) -> AsyncIterator[Outcome]:
        """Every image's Outcome as it completes, `concurrency` at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one(source: str, image: Image) -> Outcome:
            async with gate:
                try:
                    return Outcome(source, result=await self.classify(image, top_k, timeout))
                except ClientError as error:
                    return Outcome(source, error=error)
                except OSError as error:
                    return Outcome(source, error=ClientError(f"cannot read {source}: {error}"))

        tasks = [asyncio.ensure_future(one(_source(image, i), image)) for i, image in enumerate(images)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def models(self) -> dict[str, Any]:
        return await self._call("GET", "/api/models")

    async def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        for attempt in range(self._retries + 1):
            try:
                return check(await self._http.request(method, path, **options))
            except ServiceError as error:
                if not worth_retrying(error) or attempt == self._retries:
                    raise
                await asyncio.sleep(backoff(attempt, error.retry_after))
            except httpx.TransportError as error:
                raise Unreachable(f"{self._http.base_url}: {error}") from error
        raise AssertionError("unreachable")


def _source(image: Image, index: int) -> str:
    return str(image) if isinstance(image, str | Path) else str(getattr(image, "name", f"#{index}"))
