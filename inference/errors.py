"""Domain errors. Entry points map each one to a status code and keep `code` as a stable machine name."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from inference.domain import RequestRecord


class InferenceError(Exception):
    """Base of every error the core raises on purpose."""

    code: ClassVar[str] = "inference_error"


class InvalidRequestId(InferenceError, ValueError):
    code = "invalid_request_id"


class UnknownRequest(InferenceError, LookupError):
    code = "unknown_request"


class InvalidImage(InferenceError, ValueError):
    """The upload cannot be classified: empty, or not an image we accept."""

    code = "invalid_image"


class EmptyImage(InvalidImage):
    code = "empty_image"


class UnsupportedImage(InvalidImage):
    code = "unsupported_media_type"


class ImageTooLarge(InvalidImage):
    """More pixels than the service decodes: a decompression bomb, or merely absurd dimensions."""

    code = "image_too_large"


class TooManyFrames(InvalidImage):
    """An animation with more frames than the service accepts (only the first is classified)."""

    code = "too_many_frames"


class InvalidTopK(InferenceError, ValueError):
    code = "invalid_top_k"


class InvalidWebhookUrl(InferenceError, ValueError):
    """A webhook that is not an http(s) URL with a host, or whose host does not resolve."""

    code = "invalid_webhook_url"


class WebhooksNotConfigured(InferenceError):
    """A webhook asked of a service that has no signing secret: the operator's to fix, not the
    client's, hence a code of its own."""

    code = "webhooks_not_configured"


class WebhookUrlForbidden(InvalidWebhookUrl):
    """A webhook whose host resolves to an address the service must not call (loopback, private,
    link-local, multicast, reserved, a cloud metadata service) and no allowed network names."""

    code = "webhook_url_forbidden"


class WebhookUnreachable(InferenceError):
    """A webhook call that got no HTTP answer: refused, reset, or timed out (worth retrying)."""

    code = "webhook_unreachable"


class QueueUnavailable(InferenceError):
    code = "queue_unavailable"


class StoreUnavailable(InferenceError):
    code = "store_unavailable"


class Overloaded(InferenceError):
    """The queue is full: the client should retry later rather than pile on."""

    code = "queue_full"


class ModelError(InferenceError):
    """The model raised on this image (a bug or a resource limit), even when run on its own."""

    code = "model_error"


class AttemptsExhausted(InferenceError):
    """Processing started as often as `max_attempts` allows without finishing: a worker
    crashed or timed out on the request each time."""

    # The code predates the word "attempt"; clients match on it, so it stays.
    code = "delivery_limit_exceeded"

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"processing was attempted {attempts} times without finishing (a worker crashed or timed out)"
        )


class MalformedMessage(InferenceError):
    """A queued message that cannot be read as a request; it is never run."""

    code = "malformed_message"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the queued message could not be read as a request: {reason}")
        self.reason = reason


class Rejected(InferenceError):
    """A worker refused the request (rejected its message without asking for a retry)."""

    code = "rejected"

    def __init__(self) -> None:
        super().__init__("a worker refused this request")


class DeadlineExceeded(InferenceError):
    """The request's deadline passed before a worker ran it: it never reached the model."""

    code = "deadline_exceeded"


class InvalidDeadline(InferenceError, ValueError):
    code = "invalid_deadline"


class InvalidIdempotencyKey(InferenceError, ValueError):
    code = "invalid_idempotency_key"


class IdempotencyKeyReused(InferenceError):
    """The key was used before for another image or other parameters."""

    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(InferenceError):
    """Another submission with the key is still being accepted: retry shortly."""

    code = "idempotency_key_in_progress"


class InvalidTransition(InferenceError):
    """A status move the state machine forbids, e.g. anything out of a terminal status.

    `current` is the record as it stands, so a caller can tell a redelivery of finished work
    (leave it alone) from a real bug.
    """

    code = "invalid_transition"

    def __init__(self, message: str, current: RequestRecord) -> None:
        super().__init__(message)
        self.current = current


class AlreadyTerminal(InvalidTransition):
    """A cancel of a request that already finished: `current` says how."""

    code = "already_terminal"
