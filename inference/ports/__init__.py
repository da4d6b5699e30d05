"""The ports: what the core needs from the outside world, and the semantics every adapter keeps.

Only domain types cross these boundaries. Each docstring states what the contract tests check.
One module per role, so a reader finds a port by what it is for; every name is re-exported here
because callers ask for a port, not for the module that happens to hold it.
"""

from inference.ports.classifier import Classifier, ImageInspector
from inference.ports.dead_letter_admin import DeadLetterAdmin, ParkedLetter
from inference.ports.idempotency import IdempotencyKeys, KeyClaim
from inference.ports.queue import (
    Consumer,
    DeadLetter,
    DeadLetters,
    Delivery,
    Publisher,
    last_attempt,
)
from inference.ports.result_store import ResultStore, TerminalWatch
from inference.ports.webhooks import WebhookOutbox, WebhookSender
from inference.ports.workers import WorkerRegistry

__all__ = [
    "Classifier",
    "Consumer",
    "DeadLetter",
    "DeadLetterAdmin",
    "DeadLetters",
    "Delivery",
    "IdempotencyKeys",
    "ImageInspector",
    "KeyClaim",
    "ParkedLetter",
    "Publisher",
    "ResultStore",
    "TerminalWatch",
    "WebhookOutbox",
    "WebhookSender",
    "WorkerRegistry",
    "last_attempt",
]
