"""uvicorn's access log, without the credentials a client may put in a URL.

A key sent as `?api_key=…` is refused (keys travel in `Authorization`), but the access log would
still write it down, for anyone who reads the logs to use.
"""

from __future__ import annotations

import logging
import re

# Query parameters named like credentials.
_SECRET_PARAMETER = re.compile(r"([?&][^=&#]*(?:key|token|secret|password|auth)[^=&#]*=)[^&#\s]*", re.I)


class RedactSecrets(logging.Filter):
    """Blanks credential-like query values in uvicorn's access lines ('%s - "%s %s HTTP/%s" %d')."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(path := args[2], str):
            record.args = (*args[:2], redact(path), *args[3:])
        return True


def redact(path: str) -> str:
    return _SECRET_PARAMETER.sub(r"\1[redacted]", path)


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactSecrets) for existing in access.filters):
        access.addFilter(RedactSecrets())
