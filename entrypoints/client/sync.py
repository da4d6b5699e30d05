"""`Client`: the service from a program, blocking (httpx). See the package's docstring."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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

SUBMIT = "/api/inference/requests"


class Job:
    """A submitted image: its request id, and a way to wait for its result."""

    def __init__(self, client: Client, request_id: str) -> None:
        self._client, self.request_id = client, request_id

    def status(self, wait: float = 0.0) -> Status:
        """The request as it is now, or once terminal if that comes within `wait` seconds."""
        return self._client.status(self.request_id, wait)

    def wait(self, timeout: float = 60.0) -> Result:
        """The result, held by the server's long-poll; RequestFailed, WaitTimeout, ServiceError."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            current = self.status(min(LONG_POLL_SECONDS, remaining))
            if current.is_terminal:
                return finished(current)
        raise WaitTimeout(f"request {self.request_id} not finished within {timeout:g} s")

    def cancel(self) -> Status:
        """Cancel the request if it has not finished: its status, now `canceled`. ServiceError
        with code `already_terminal` (409) if it finished first."""
        return self._client.cancel(self.request_id)

    def __repr__(self) -> str:
        return f"Job({self.request_id!r})"


class Client:
    """The service at `url`. A context manager; thread-safe, so `classify_many` shares it.

    `api_key` is sent as `Authorization: Bearer <key>`. Answers 429 and 503 are retried after
    the server's Retry-After, growing, until `retries` are spent (then ServiceError).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # The read timeout leaves room for the longest long-poll the server holds.
        timeouts = httpx.Timeout(timeout, read=timeout + LONG_POLL_SECONDS)
        # A transport only when given: httpx's own default is then kept (and can be patched in tests).
        extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeouts, **extra)
        self._retries = retries

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(
        self,
        image: Image,
        top_k: int | None = None,
        *,
        deadline: float | None = None,
        idempotency_key: str | None = None,
        webhook: str | None = None,
    ) -> Job:
        """Upload one image; the Job comes back as soon as the service has queued it.

        `deadline`: seconds after which the service gives up on it if no worker ran it yet.
        `idempotency_key`: submitting again with the same key (and the same image and
        parameters) answers the same Job instead of classifying twice, so a retry is safe.
        `webhook`: a URL the service POSTs the finished request to, signed (see `verify_webhook`).
        """
        options = submit_options(image, top_k, deadline, idempotency_key, webhook)
        body = self._call("POST", SUBMIT, **options)
        return Job(self, str(body["request_id"]))

    def job(self, request_id: str) -> Job:
        """A Job for a request submitted earlier (by this process or another)."""
        return Job(self, request_id)

    def status(self, request_id: str, wait: float = 0.0) -> Status:
        params = {"wait": round(wait, 3)} if wait > 0 else {}
        return status_of(self._call("GET", f"{SUBMIT}/{request_id}/results", params=params))

    def cancel(self, request_id: str) -> Status:
        """See `Job.cancel`."""
        return status_of(self._call("POST", f"{SUBMIT}/{request_id}/cancel"))

    def events(self, request_id: str, timeout: float = 300.0) -> Iterator[Status]:
        """The request as it is, then each time it changes, until it is terminal: the server's
        status stream (Server-Sent Events), reconnected if the server ends it first, until
        `timeout` seconds have passed (then WaitTimeout); ServiceError (404 unknown_request, …)
        as `status` raises it."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                with self._http.stream("GET", f"{SUBMIT}/{request_id}/events") as response:
                    if not response.is_success:
                        response.read()
                        check(response)
                    parser = EventData()
                    for line in response.iter_lines():
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

    def classify(self, image: Image, top_k: int | None = None, timeout: float = 60.0) -> Result:
        """Submit and wait: the image's result, or the ClientError that stopped it. The upload's
        own answer carries a result ready within a long-poll (`Prefer: wait`): one request."""
        deadline = time.monotonic() + timeout
        options = submit_options(image, top_k, None, None, wait=timeout)
        current = status_of(self._call("POST", SUBMIT, **options))
        if current.is_terminal:
            return finished(current)
        return Job(self, current.request_id).wait(deadline - time.monotonic())

    def classify_many(
        self, images: Iterable[Image], concurrency: int = 8, top_k: int | None = None, timeout: float = 60.0
    ) -> Iterator[Outcome]:
        """Classify every image, `concurrency` at a time, yielding each Outcome as it completes.

        One image's error is its Outcome's; the others go on. `timeout` applies to each image.
        """
        pending: dict[Future[Result], str] = {}
        sources = iter(enumerate(images))
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="classify") as pool:
            while True:
                for index, image in sources:
                    future = pool.submit(self.classify, image, top_k, timeout)
                    pending[future] = _source(image, index)
                    if len(pending) >= concurrency:
                        break
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield _outcome(pending.pop(future), future)

    def models(self) -> dict[str, Any]:
        """The served model: name, version, labels, input size."""
        return self._call("GET", "/api/models")

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        for attempt in range(self._retries + 1):
            try:
                return check(self._http.request(method, path, **options))
            except ServiceError as error:
                if not worth_retrying(error) or attempt == self._retries:
                    raise
                time.sleep(backoff(attempt, error.retry_after))
            except httpx.TransportError as error:
                raise Unreachable(f"{self._http.base_url}: {error}") from error
        raise AssertionError("unreachable")  # the loop returns or raises


def _source(image: Image, index: int) -> str:
    return str(image) if isinstance(image, str | Path) else str(getattr(image, "name", f"#{index}"))


def _outcome(source: str, future: Future[Result]) -> Outcome:
    try:
        return Outcome(source, result=future.result())
    except ClientError as error:
        return Outcome(source, error=error)
    except OSError as error:  # a file that cannot be read
        return Outcome(source, error=ClientError(f"cannot read {source}: {error.strerror or error}"))
