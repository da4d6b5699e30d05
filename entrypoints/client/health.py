"""`inference health`: the check a container runtime runs (a URL that answers, a fresh heartbeat)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx


def check_health(url: str | None, heartbeat: Path | None, max_age: float) -> int:
    """0 when the URL answers 2xx, or the heartbeat file was touched within `max_age` seconds."""
    if url is not None:
        try:
            response = httpx.get(url, timeout=5.0)
        except httpx.HTTPError as exc:
            print(f"unhealthy: {exc}", file=sys.stderr)
            return 1
        if not response.is_success:
            print(f"unhealthy: {response.status_code} {response.text[:200]}", file=sys.stderr)
        return 0 if response.is_success else 1
    assert heartbeat is not None
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except OSError as exc:
        print(f"unhealthy: no heartbeat ({exc})", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"unhealthy: the last heartbeat is {age:.0f} s old", file=sys.stderr)
        return 1
    return 0
