"""SubmitRequest holds every image to the limits by its header, before anything is stored or queued."""

from __future__ import annotations

import asyncio

import pytest

from inference.errors import ImageTooLarge, InvalidImage, TooManyFrames
from inference.media import ImageHeader, ImageLimits
from tests.images import png_bytes
from tests.stubs import FailingQueue, FailingResultStore, StubImageInspector
from tests.unit.test_services import receive_all, submit_request

LIMITS = ImageLimits(max_pixels=1_000_000, max_frames=10, max_side=10_000)


def _refused(inspector: StubImageInspector, error: type[InvalidImage]) -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(), FailingResultStore()
        with pytest.raises(error) as raised:
            await submit_request(queue, store, inspector, LIMITS)(png_bytes(), top_k=1)
        assert type(raised.value) is error
        assert queue.depth == 0
        assert store.added_ids == []

    asyncio.run(scenario())


def test_an_image_over_the_pixel_limit_is_refused_before_anything_is_stored_or_published() -> None:
    _refused(StubImageInspector(width=1001, height=1000), ImageTooLarge)


def test_an_animation_over_the_frame_limit_is_refused_before_anything_is_stored_or_published() -> None:
    _refused(StubImageInspector(frames=11), TooManyFrames)


def test_a_header_the_inspector_cannot_read_is_refused_before_anything_is_stored_or_published() -> None:
    _refused(StubImageInspector(error=InvalidImage("cannot read the PNG image")), InvalidImage)


def test_an_image_exactly_at_both_limits_is_accepted_with_the_media_type_its_header_gave() -> None:
    async def scenario() -> None:
        queue, store = FailingQueue(), FailingResultStore()
        inspector = StubImageInspector(width=1000, height=1000, frames=10)
        record = await submit_request(queue, store, inspector, LIMITS)(png_bytes(), top_k=1)
        [delivery] = await receive_all(queue)
        assert delivery.request.id == record.request_id
        assert delivery.request.media_type == "image/png"

    asyncio.run(scenario())


def test_the_inspector_is_asked_to_count_frames_no_further_than_the_limit_needs() -> None:
    async def scenario() -> None:
        inspector = StubImageInspector()
        await submit_request(FailingQueue(), FailingResultStore(), inspector, LIMITS)(png_bytes(), top_k=1)
        assert inspector.max_frames_seen == [LIMITS.max_frames]

    asyncio.run(scenario())


def test_the_limits_name_the_size_and_the_limit_in_their_refusal() -> None:
    with pytest.raises(ImageTooLarge, match=r"2,000×1,000 = 2,000,000 pixels; the limit is 1,000,000"):
        LIMITS.check(ImageHeader("image/png", 2000, 1000))
    with pytest.raises(TooManyFrames, match="more than 10 frames"):
        LIMITS.check(ImageHeader("image/gif", 1, 1, frames=11))


@pytest.mark.parametrize(("width", "height", "frames"), [(0, 10, 1), (10, 0, 1), (10, 10, 0), (-1, 5, 1)])
def test_a_header_without_pixels_or_frames_is_an_invalid_image(width: int, height: int, frames: int) -> None:
    with pytest.raises(InvalidImage):
        ImageHeader("image/gif", width, height, frames)
