"""Why a request failed: each code is stable (clients match on it), each message is for people."""

from __future__ import annotations

from inference.domain import Failure


def model_error(exc: BaseException) -> Failure:
    return Failure("model_error", f"the model failed on this image: {type(exc).__name__}")


def delivery_limit_exceeded(attempts: int) -> Failure:
    return Failure(
        "delivery_limit_exceeded",
        f"processing was attempted {attempts} times without finishing (a worker crashed or timed out)",
    )


def malformed_message(reason: str) -> Failure:
    return Failure("malformed_message", f"the queued message could not be read as a request: {reason}")


def rejected() -> Failure:
    return Failure("rejected", "a worker refused this request")
