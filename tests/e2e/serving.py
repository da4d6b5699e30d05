"""`inference serve` in its own process, with a chosen model and environment; and real photos.

Its readiness wait is written out here rather than imported: the client no longer offers one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFERENCE = str(Path(sys.executable).parent / "inference")
START_TIMEOUT = 300.0  # imports torch, loads the model, may export it to ONNX on a slow machine

# The bundled demo model on torch, one thread: the cheapest real model a process can serve.
DEMO_MODEL_ENV = {
    "INFERENCE_MODEL__MANIFEST": "demo",
    "INFERENCE_MODEL__BACKEND": "torch",
    "INFERENCE_MODEL__THREADS": "1",
}

# Photos (scikit-image's bundled samples, see `photo`) and the ImageNet labels acceptable for each:
# chosen from the fp32 PyTorch reference's own top-5 (`python -m bench.imagenet_preprocessing`
# shows them), so the tests hold the service to the reference, not to a hope.
ACCEPTABLE = {
    "chelsea.png": {"tabby, tabby cat", "tiger cat", "Egyptian cat"},
    "coffee.png": {"espresso", "cup", "coffee mug"},
    "rocket.jpg": {"missile", "projectile, missile", "space shuttle"},
    "motorcycle_left.png": {"moped", "motor scooter, scooter"},
    "camera.png": {"tripod"},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def photo(name: str) -> Path:
    """One of scikit-image's bundled sample photos (installed with it: nothing is downloaded)."""
    import skimage.data

    return Path(skimage.data.__file__).parent / name


@contextlib.contextmanager
def inference_serve(*args: str, env: Mapping[str, str | None] | None = None) -> Iterator[str]:
    """`inference serve ARGS` on a free port until the block ends; its URL. `env`: None unsets."""
    url = f"http://127.0.0.1:{free_port()}"
    environment = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    command = [INFERENCE, "serve", "--port", url.rsplit(":", 1)[1], *args]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _ready(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"{' '.join(command)} did not become ready:\n{log.read()[-3000:]!r}")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
