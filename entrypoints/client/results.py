"""What the client hands back: typed results and errors, and how it reads the server's answers.

Shared by the sync and async clients, so that the two read a response the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

Image = str | Path | bytes | IO[bytes]
"""What `submit` takes: a file's path, the image's bytes, or a file opened in binary mode."""

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
# The server's answers that mean "not now, later": the client waits (Retry-After) and tries again.
RETRY_LATER = frozenset({429, 503})
# The longest wait the server's long-poll accepts per request.
LONG_POLL_SECONDS = 30.0


class ClientError(Exception):
    """Anything that kept an image from being classified. `code` is a stable name."""

    code = "client_error"


class ServiceError(ClientError):
    """The service refused a request: its HTTP status and its own `code` and `detail`."""

    def __init__(self, status: int, code: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail, self.retry_after = status, code, detail, retry_after


class RequestFailed(ClientError):
    """The service accepted the image but could not classify it (the request's status is `failed`)."""

    def __init__(self, request_id: str, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.request_id, self.code, self.message = request_id, code, message


class WaitTimeout(ClientError, TimeoutError):
    """The request was not finished within the time given; it may still finish (ask again)."""

    code = "timeout"


class Unreachable(ClientError):
    """No answer from the service at all (connection refused, reset, timed out)."""

    code = "unreachable"


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class Result:
    """A finished classification: the best label first, then the rest of the top-k."""

    request_id: str
    label: str
    score: float
    scores: tuple[Label, ...]
    model_name: str
    model_version: str
    created_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class Status:
    """A request as the server last described it; `result` once it succeeded."""

    request_id: str
    status: str
    attempts: int
    result: Result | None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class Outcome:
    """One image of `classify_many`: its source (a path, or its index) and a result or an error."""

    source: str
    result: Result | None = None
    error: ClientError | None = None


def submit_options(
    image: Image,
    top_k: int | None,
    deadline: float | None,
    idempotency_key: str | None,
    webhook: str | None = None,
    wait: float = 0.0,
) -> dict[str, Any]:
    """The upload, query parameters and headers of a submission, for httpx's `request`. `wait`:
    ask for the result in the answer if it is ready within that many seconds (`Prefer: wait`).
    Reading a path blocks (in the async client too): images are small enough that a thread hop
    is not worth it."""
    params: dict[str, Any] = {"top_k": top_k} if top_k else {}
    if deadline is not None:
        params["deadline"] = deadline
    if webhook is not None:
        params["webhook"] = webhook
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    if wait >= 1:  # RFC 7240 counts whole seconds; the server holds no longer than a long-poll
        headers["Prefer"] = f"wait={int(min(wait, LONG_POLL_SECONDS))}"
    return {"files": {"image": image_part(image)}, "params": params, "headers": headers}


def worth_retrying(error: ServiceError) -> bool:
    """Busy (429, 503), or the same idempotent submission still being accepted by the server."""
    return error.status in RETRY_LATER or error.code == "idempotency_key_in_progress"


def image_part(image: Image) -> tuple[str, bytes]:
    """(file name, bytes) for the multipart upload."""
    if isinstance(image, str | Path):
        path = Path(image)
        return path.name, path.read_bytes()
    if isinstance(image, bytes | bytearray):
        return "image", bytes(image)
    return Path(str(getattr(image, "name", "image"))).name, image.read()


def check(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx answer; ServiceError (with the server's code) for any other."""
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    try:
        body = response.json()
        code, detail = str(body["code"]), str(body["detail"])
    except (ValueError, KeyError, TypeError):
        code, detail = f"http_{response.status_code}", response.text[:200]
    raise ServiceError(response.status_code, code, detail, retry_after(response))


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # absent, or an HTTP date (this server sends seconds)


def backoff(attempt: int, hint: float | None) -> float:
    """Seconds before retry `attempt` (0, 1, …): the server's Retry-After, growing on repeats.

    Jittered, so that clients turned away together do not all come back at the same instant.
    """
    base = max(0.1, hint if hint is not None else 0.5)
    return min(30.0, base * (1 << min(attempt, 6))) * random.uniform(1.0, 1.25)  # noqa: S311


def status_of(body: dict[str, Any]) -> Status:
    error = body.get("error") or {}
    result = body.get("result")
    return Status(
        request_id=str(body["request_id"]),
        status=str(body["status"]),
        attempts=int(body.get("attempts", 0)),
        result=None if result is None else _result(body, result),
        error_code=error.get("code"),
        error_message=error.get("message"),
    )


def finished(status: Status) -> Result:
    """The result of a terminal request; RequestFailed when it did not succeed."""
    if status.result is None:
        raise RequestFailed(
            status.request_id, status.error_code or status.status, status.error_message or status.status
        )
    return status.result


def _result(body: dict[str, Any], result: dict[str, Any]) -> Result:
    completed = body.get("completed_at")
    return Result(
        request_id=str(body["request_id"]),
        label=str(result["label"]),
        score=float(result["score"]),
        scores=tuple(Label(str(item["label"]), float(item["score"])) for item in result["top_k"]),
        model_name=str(result["model"]["name"]),
        model_version=str(result["model"]["version"]),
        created_at=datetime.fromisoformat(body["created_at"]),
        completed_at=datetime.fromisoformat(completed) if completed else None,
    )
