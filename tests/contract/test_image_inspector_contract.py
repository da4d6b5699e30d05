from __future__ import annotations

import pytest

from adapters.images.inspector import PillowImageInspector
from entrypoints.settings import ApiSettings
from inference.ports import ImageInspector
from tests.contract.image_inspector_contract import ImageInspectorContract, InspectorHarness
from tests.stubs import StubImageInspector


def pillow(width: int, height: int, frames: int) -> ImageInspector:
    return PillowImageInspector(max_jpeg_scans=ApiSettings().max_jpeg_scans)


class TestImageInspectorContract(ImageInspectorContract):
    @pytest.fixture(
        params=[
            pytest.param(InspectorHarness(StubImageInspector, reads_headers=False), id="stub"),
            pytest.param(InspectorHarness(pillow, reads_headers=True), id="pillow"),
        ]
    )
    def subject(self, request: pytest.FixtureRequest) -> InspectorHarness:
        harness: InspectorHarness = request.param
        return harness
