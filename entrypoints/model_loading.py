"""Loading the model at start-up, where a failure must read as one line, not a traceback.

Both the worker and the embedded mode load it this way, in a thread (loading, an ONNX export and
the warm-up are seconds of CPU work, and must not hold the event loop or a request's thread).
"""

from __future__ import annotations

import logging

from entrypoints.container import Container
from entrypoints.startup_errors import ModelLoadError
from inference.ports import Classifier

log = logging.getLogger(__name__)


def load_model(container: Container) -> Classifier:
    """The container's classifier, loaded and warmed up once (later calls return it at once)."""
    try:
        classifier: Classifier = container.classifier()
    except Exception as exc:
        # The traceback is for whoever debugs a backend (INFERENCE_LOG_LEVEL=DEBUG shows it).
        log.debug("loading the model failed", exc_info=True)
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise ModelLoadError(f"the model could not be loaded: {reason}") from exc
    return classifier
