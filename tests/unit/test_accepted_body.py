"""The 202's body is written by hand for speed: it must stay what the `Accepted` schema writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.schemas import Accepted, accepted_json

moments = st.datetimes(
    min_value=datetime(1970, 1, 2), timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])
)


@given(request_id=st.uuids(version=4), created_at=moments, results_url=st.text())
def test_the_hand_written_202_body_equals_the_schemas_own_serialisation(
    request_id: UUID, created_at: datetime, results_url: str
) -> None:
    expected = Accepted(request_id=request_id, created_at=created_at, results_url=results_url)
    assert accepted_json(request_id, created_at, results_url) == expected.model_dump_json().encode()
