"""Untrusted image bytes, with Pillow: header inspection (the API) and bounded decoding (workers).

The decoder is imported on first use: it needs numpy, which the API never loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.images.inspector import PillowImageInspector
from adapters.images.variants import crops_and_mirrors

if TYPE_CHECKING:
    from adapters.images.decoding import BatchDecoder, DecodeLimits, Preprocessing

__all__ = ["BatchDecoder", "DecodeLimits", "PillowImageInspector", "Preprocessing", "crops_and_mirrors"]


def __getattr__(name: str) -> Any:
    if name in ("BatchDecoder", "DecodeLimits", "Preprocessing"):
        from adapters.images import decoding

        return getattr(decoding, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
