"""RequestRecord.apply as a state machine, explored by hypothesis."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from inference.domain import RequestRecord, RequestStatus
from inference.errors import InvalidTransition
from inference.outcomes import Failure, LabelScore, Prediction
from inference.transitions import Cancel, Fail, Requeue, Start, Succeed, Transition
from inference.webhook_delivery import Webhook, WebhookStatus
from tests.stubs import a_record

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

# Any time at all, earlier ones included: the record must not assume clocks are monotonic.
times = st.integers(min_value=-10_000, max_value=10_000).map(lambda s: EPOCH + timedelta(seconds=s))
predictions = st.builds(
    Prediction,
    scores=st.lists(
        st.builds(LabelScore, label=st.sampled_from(["cat", "dog"]), score=st.floats(0, 1)),
        min_size=1,
        max_size=2,
    ).map(tuple),
    model_name=st.just("net"),
    model_version=st.just("1"),
)
URL = "https://hooks.example.com/"
webhooks = st.builds(
    Webhook,
    url=st.just(URL),
    status=st.sampled_from(WebhookStatus),
    attempts=st.integers(0, 50),
    last_error=st.none() | st.just("HTTP 503"),
)
failures = st.builds(Failure, code=st.sampled_from(["invalid_image", "model_error"]), message=st.just("x"))


class RequestLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.record = replace(a_record(top_k=2, submitted_at=EPOCH), webhook=Webhook(URL))
        self.starts = 0
        self.last_applied_at = EPOCH
        self.outcome: Prediction | Failure | None = None
        self.canceled = False
        self.first_terminal: RequestRecord | None = None
        self.requeues = 0

    def _apply(self, transition: Transition) -> bool:
        before = self.record
        if before.status.is_terminal:
            with pytest.raises(InvalidTransition) as refused:
                before.apply(transition)
            assert refused.value.current is before
            return False
        self.record = before.apply(transition)
        self.last_applied_at = transition.at
        if self.record.status.is_terminal:
            self.first_terminal = self.record
        return True

    @rule(at=times)
    def start(self, at: datetime) -> None:
        if self._apply(Start(at)):
            self.starts += 1

    @rule(prediction=predictions, at=times)
    def succeed(self, prediction: Prediction, at: datetime) -> None:
        if self._apply(Succeed(prediction, at)):
            self.outcome = prediction

    @rule(failure=failures, at=times)
    def fail(self, failure: Failure, at: datetime) -> None:
        if self._apply(Fail(failure, at)):
            self.outcome = failure

    @rule(at=times)
    def fail_past_its_deadline(self, at: datetime) -> None:
        # What a worker stores for a request whose deadline passed before it ran.
        if self._apply(Fail(Failure("deadline_exceeded", "x"), at)):
            self.outcome = self.record.failure

    @rule(at=times)
    def cancel(self, at: datetime) -> None:
        if self._apply(Cancel(at)):
            self.canceled = True

    @rule(webhook=webhooks, at=times)
    def record_a_webhook_delivery(self, webhook: Webhook, at: datetime) -> None:
        # A delivery's state is no transition: recorded at any time, it changes nothing else,
        # and the record it gives obeys the state machine as the record itself does.
        delivered = self.record.with_webhook(webhook)
        assert delivered.webhook == webhook
        assert replace(delivered, webhook=self.record.webhook) == self.record
        if self.record.status.is_terminal:
            with pytest.raises(InvalidTransition):
                delivered.apply(Start(at))

    @invariant()
    def a_terminal_record_never_changes_whatever_comes_after(self) -> None:
        if self.first_terminal is not None:
            assert self.record is self.first_terminal

    @invariant()
    def canceled_exactly_when_a_cancel_landed_before_any_outcome(self) -> None:
        assert (self.record.status is RequestStatus.CANCELED) == self.canceled
        if self.canceled:
            assert self.record.prediction is None
            assert self.record.failure is None

    @rule(at=times)
    def requeue(self, at: datetime) -> None:
        """The operator's action: allowed from failed only (never from canceled or succeeded),
        whatever came before; the one thing that changes a terminal record."""
        before = self.record
        if before.status is not RequestStatus.FAILED:
            with pytest.raises(InvalidTransition) as refused:
                before.apply(Requeue(at))
            assert refused.value.current is before
            return
        self.record = before.apply(Requeue(at))
        self.last_applied_at, self.starts, self.outcome = at, 0, None
        self.first_terminal = None  # live again: the next outcome is its first terminal one
        self.requeues += 1

    @invariant()
    def requeued_counts_the_requeues_that_were_applied(self) -> None:
        assert self.record.requeued == self.requeues

    @invariant()
    def attempts_count_the_starts_that_were_applied(self) -> None:
        assert self.record.attempts == self.starts

    @invariant()
    def completed_at_is_set_exactly_when_terminal(self) -> None:
        assert (self.record.completed_at is not None) == self.record.status.is_terminal
        if self.record.completed_at is not None:
            assert self.record.completed_at == self.record.updated_at

    @invariant()
    def a_prediction_only_on_success_and_a_failure_only_on_failure(self) -> None:
        succeeded = self.record.status is RequestStatus.SUCCEEDED
        failed = self.record.status is RequestStatus.FAILED
        assert (self.record.prediction is not None) == succeeded
        assert (self.record.failure is not None) == failed
        if succeeded:
            assert self.record.prediction == self.outcome
        if failed:
            assert self.record.failure == self.outcome

    @invariant()
    def updated_at_is_the_last_applied_transitions_time(self) -> None:
        assert self.record.updated_at == self.last_applied_at

    @invariant()
    def processing_only_after_a_start(self) -> None:
        if self.record.status is RequestStatus.PROCESSING:
            assert self.starts >= 1

    @invariant()
    def identity_and_creation_never_change(self) -> None:
        assert self.record.created_at == EPOCH
        assert self.record.top_k == 2


RequestLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
test_a_request_record_obeys_its_state_machine = RequestLifecycle.TestCase


def test_a_request_may_fail_straight_from_queued() -> None:
    failed = a_record(submitted_at=EPOCH).apply(Fail(Failure("delivery_limit_exceeded", "x"), EPOCH))
    assert failed.status is RequestStatus.FAILED
    assert failed.attempts == 0


def test_a_redelivered_request_starts_processing_again() -> None:
    record = a_record(submitted_at=EPOCH).apply(Start(EPOCH)).apply(Start(EPOCH + timedelta(seconds=1)))
    assert record.status is RequestStatus.PROCESSING
    assert record.attempts == 2


def test_a_terminal_record_keeps_its_first_result() -> None:
    prediction = Prediction((LabelScore("cat", 0.9),), "net", "1")
    done = a_record(submitted_at=EPOCH).apply(Start(EPOCH)).apply(Succeed(prediction, EPOCH))
    for late in (Start(EPOCH), Succeed(prediction, EPOCH), Fail(Failure("model_error", "x"), EPOCH)):
        with pytest.raises(InvalidTransition) as refused:
            done.apply(late)
        assert refused.value.current == done
        assert refused.value.current.prediction == prediction


def test_a_requeued_request_is_queued_again_with_its_attempts_and_failure_cleared() -> None:
    failed = a_record(submitted_at=EPOCH).apply(Start(EPOCH)).apply(Fail(Failure("model_error", "x"), EPOCH))
    later = EPOCH + timedelta(minutes=5)

    requeued = failed.apply(Requeue(later))

    assert requeued.status is RequestStatus.QUEUED
    assert (requeued.attempts, requeued.requeued, requeued.failure) == (0, 1, None)
    assert requeued.completed_at is None and requeued.updated_at == later


@pytest.mark.parametrize("status", ["queued", "processing", "succeeded"])
def test_only_a_failed_request_may_be_requeued(status: str) -> None:
    record = a_record(submitted_at=EPOCH)
    if status != "queued":
        record = record.apply(Start(EPOCH))
    if status == "succeeded":
        record = record.apply(Succeed(Prediction((LabelScore("cat", 1.0),), "net", "1"), EPOCH))
    with pytest.raises(InvalidTransition):
        record.apply(Requeue(EPOCH))


def test_a_queued_request_is_canceled_at_once() -> None:
    canceled = a_record(submitted_at=EPOCH).apply(Cancel(EPOCH + timedelta(seconds=1)))
    assert canceled.status is RequestStatus.CANCELED
    assert canceled.status.is_terminal
    assert canceled.completed_at == EPOCH + timedelta(seconds=1)


def test_a_result_arriving_after_a_cancel_is_refused() -> None:
    prediction = Prediction((LabelScore("cat", 0.9),), "net", "1")
    canceled = a_record(submitted_at=EPOCH).apply(Start(EPOCH)).apply(Cancel(EPOCH))
    for late in (
        Start(EPOCH),
        Succeed(prediction, EPOCH),
        Fail(Failure("model_error", "x"), EPOCH),
        Cancel(EPOCH),
    ):
        with pytest.raises(InvalidTransition) as refused:
            canceled.apply(late)
        assert refused.value.current.status is RequestStatus.CANCELED


def test_only_a_record_with_that_webhook_records_its_delivery() -> None:
    with pytest.raises(ValueError, match="no webhook"):
        a_record(submitted_at=EPOCH).with_webhook(Webhook(URL))
    record = replace(a_record(submitted_at=EPOCH), webhook=Webhook(URL))
    with pytest.raises(ValueError, match="no webhook"):
        record.with_webhook(Webhook("https://elsewhere.example.com/"))
