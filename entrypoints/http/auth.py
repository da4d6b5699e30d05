"""Optional API keys: when any are configured, every route but health needs `Bearer <key>`.

Keys come from `INFERENCE_API_KEYS` (comma-separated) and `INFERENCE_API_KEYS_FILE` (one per line,
blank lines and `#` comment lines ignored), read once when the app is built. They are held only as
SHA-256 digests and never logged. A presented key is checked against every configured one with
`hmac.compare_digest`, without stopping at a match: the time taken says neither whether nor which
key matched, nor how long the keys are.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, params
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from entrypoints.http.errors import HttpError
from entrypoints.http.schemas import ErrorBody

SCHEME_NAME = "ApiKey"

RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No `Authorization: Bearer <key>` header (`missing_api_key`)."},
    403: {"model": ErrorBody, "description": "The key is not a configured one (`invalid_api_key`)."},
}


# Module-level, so that the route dependency's (postponed) annotation names it in the globals.
_BEARER = HTTPBearer(
    auto_error=False,  # our own 401 and 403, with a JSON body and a code
    scheme_name=SCHEME_NAME,
    description="One of the service's API keys, sent as `Authorization: Bearer <key>`.",
)


class ApiKeysError(ValueError):
    """The configured keys file cannot be used; the service must not start (and never start open)."""


class ApiKeys:
    """The accepted keys, as digests. False when there are none: the API is then open."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple({_digest(key.strip().encode()) for key in keys if key.strip()})

    def __len__(self) -> int:
        return len(self._digests)

    def accepts(self, presented: str) -> bool:
        # Starlette decodes header values as latin-1: encoding back gives the bytes that were sent.
        digest = _digest(presented.encode("latin-1", errors="replace"))
        matched = False
        for known in self._digests:  # every key, always: no early exit
            matched |= hmac.compare_digest(digest, known)
        return matched


def load_api_keys(keys: Iterable[str], keys_file: Path | str | None) -> ApiKeys:
    """The keys given directly plus those in `keys_file`; ApiKeysError if the file is unusable."""
    found = list(keys)
    if keys_file is not None:
        found += _read_keys_file(Path(keys_file))
    return ApiKeys(found)


def _read_keys_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ApiKeysError(f"the API keys file {path} is not UTF-8 text") from exc
    except OSError as exc:
        raise ApiKeysError(f"cannot read the API keys file {path}: {exc.strerror or exc}") from exc
    lines = (line.strip() for line in text.splitlines())
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:  # configured but empty would silently leave the API open
        raise ApiKeysError(f"the API keys file {path} lists no key")
    return keys


def api_key_dependencies(keys: ApiKeys) -> list[params.Depends]:
    """The route dependencies that enforce `keys`; none when there are no keys (the API is open).

    `HTTPBearer` makes the OpenAPI document declare the scheme, so Swagger UI offers "Authorize".
    """
    if not keys:
        return []

    async def require_api_key(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if credentials is None:  # no header, another scheme, or no key after "Bearer"
            raise HttpError(
                401,
                "missing_api_key",
                "this endpoint needs an API key: send `Authorization: Bearer <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not keys.accepts(credentials.credentials):
            raise HttpError(403, "invalid_api_key", "the API key is not valid")

    return [Depends(require_api_key)]


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()
