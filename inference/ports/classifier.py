"""What a worker classifies with, and what the API reads of an image before accepting it."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Protocol

from inference.domain import InferenceRequest
from inference.media import ImageHeader
from inference.outcomes import Failure, ModelInfo, Prediction
from inference.timings import BatchTimings


class Classifier(Protocol):
    @property
    @abstractmethod
    def model(self) -> ModelInfo:
        """Name, version, labels and input size of the loaded model."""

    @abstractmethod
    def classify(self, batch: Sequence[InferenceRequest]) -> list[Prediction | Failure]:
        """One outcome per request, in order, computed as one batch.

        A request whose image cannot be decoded yields a Failure with code "invalid_image" (or
        "image_too_large" past the classifier's pixel limit), quickly; the rest of the batch is
        unaffected. Only the first frame of an animation is decoded. Each Prediction's scores
        hold min(top_k, number of labels) labels sorted by probability, best first. Blocking
        and CPU-bound: callers run it off their event loop.
        """

    def classify_timed(
        self, batch: Sequence[InferenceRequest]
    ) -> tuple[list[Prediction | Failure], BatchTimings | None]:
        """`classify`, and how long the batch took to preprocess and to run through the model;
        None from a classifier that cannot tell (this default)."""
        return self.classify(batch), None


class ImageInspector(Protocol):
    @abstractmethod
    def inspect(self, image: bytes, max_frames: int) -> ImageHeader:
        """The image's header: media type, width, height and frames, without decoding a pixel.

        The media type is the one `sniff_media_type` gives, and the bytes are read as that format
        and no other. Width, height and frames are at least 1; frames are counted no further
        than `max_frames + 1`, which stands for any more, so the work stays bounded whatever the
        file holds. The caller applies the limits.

        Raises EmptyImage or UnsupportedImage as `sniff_media_type` does, ImageTooLarge for a
        size the reader itself refuses to handle, and InvalidImage for a header it cannot read or
        a file that would ask a decoder for far more work than its size (an adapter's own bounds,
        such as the scans of a progressive JPEG); never another exception. CPU-bound but bounded
        whatever the bytes: callers run it off their event loop.
        """

    @abstractmethod
    def inspect_quickly(self, image: bytes, max_frames: int) -> ImageHeader | None:
        """`inspect` within a small fixed amount of work whatever the bytes, so that an event
        loop may call it; None when the image needs more work than that (a file of countless
        segments, frames that must be walked, anything to decompress): the caller then runs
        `inspect` off its loop. Raises as `inspect` does for what it finds within its budget,
        and returns what `inspect` would.
        """
