"""Which answers end a webhook's delivery, which are retried, and how long retries wait."""

from __future__ import annotations

import pytest

from inference.webhook_retry import Verdict, retry_delay, verdict_of


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_answer_delivers(status: int) -> None:
    assert verdict_of(status) is Verdict.DELIVERED


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_a_busy_or_broken_receiver_is_retried(status: int) -> None:
    assert verdict_of(status) is Verdict.RETRY


@pytest.mark.parametrize("status", [301, 302, 307, 400, 401, 403, 404, 410, 413, 422])
def test_a_redirect_or_a_refusal_is_final(status: int) -> None:
    assert verdict_of(status) is Verdict.GIVE_UP


def test_retry_waits_double_up_to_the_maximum_with_full_jitter() -> None:
    bounds = [retry_delay(calls, first=1.0, maximum=10.0, draw=lambda: 0.999999) for calls in range(1, 7)]
    assert [round(bound) for bound in bounds] == [1, 2, 4, 8, 10, 10]
    assert retry_delay(5, first=1.0, maximum=10.0, draw=lambda: 0.0) == 0.0
    assert retry_delay(3, first=1.0, maximum=10.0, draw=lambda: 0.5) == 2.0


def test_a_huge_number_of_calls_does_not_overflow_the_wait() -> None:
    assert retry_delay(10_000, first=1.0, maximum=3600.0, draw=lambda: 0.5) == 1800.0
