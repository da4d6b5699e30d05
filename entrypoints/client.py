"""A small client: submit files, wait for their results, print one line per file."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

# Past this many files a progress bar shows how far along the results are.
PROGRESS_BAR_FROM = 5


def classify_files(
    files: list[Path], url: str, top_k: int, timeout: float, *, api_key: str | None = None
) -> int:
    """Exit status 0 when every file was classified, 1 otherwise. `api_key` is sent as a bearer token."""
    failures = 0
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=url, timeout=35.0, headers=headers) as client:
        pending: dict[Path, str] = {}
        for path in files:
            try:
                response = client.post(
                    "/api/inference/requests",
                    params={"top_k": top_k},
                    files={"image": (path.name, path.read_bytes())},
                )
            except (OSError, httpx.HTTPError) as exc:
                print(f"{path}\terror\t{exc}")
                failures += 1
                continue
            if response.status_code != 202:
                print(f"{path}\terror\t{_detail(response)}")
                failures += 1
                continue
            pending[path] = response.json()["results_url"]
        deadline = time.monotonic() + timeout
        bar = tqdm(total=len(pending), disable=len(files) < PROGRESS_BAR_FROM, file=sys.stderr, unit="image")
        for path, results_url in pending.items():
            body = _wait(client, results_url, deadline)
            bar.update()
            if body is None or body["status"] != "succeeded":
                reason = "timed out" if body is None else body["status"]
                if body and body.get("error"):
                    reason = f"{body['error']['code']}: {body['error']['message']}"
                tqdm.write(f"{path}\terror\t{reason}", file=sys.stdout)
                failures += 1
                continue
            result = body["result"]
            scores = ", ".join(f"{item['label']} {item['score']:.3f}" for item in result["top_k"])
            tqdm.write(f"{path}\t{scores}", file=sys.stdout)
        bar.close()
    return 1 if failures else 0


def _wait(client: httpx.Client, results_url: str, deadline: float) -> dict[str, Any] | None:
    while (remaining := deadline - time.monotonic()) > 0:
        response = client.get(results_url, params={"wait": min(30.0, remaining)})
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        if body["status"] in ("succeeded", "failed"):
            return body
    return None


def _detail(response: httpx.Response) -> str:
    try:
        return f"{response.status_code} {response.json()['detail']}"
    except (ValueError, KeyError):
        return f"{response.status_code} {response.text[:200]}"


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
