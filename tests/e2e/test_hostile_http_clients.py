"""Clients that send too much or too slowly, against the real server (uvicorn on httptools) on a port.

The server is the one `inference serve` runs (`build_server`), in this process on a spare port,
over the memory container and a stub classifier: raw sockets reach it as any client would.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from dependency_injector import providers
from PIL import Image

from entrypoints.container import create_container
from entrypoints.embedded import create_embedded_app
from entrypoints.http.server import build_server
from entrypoints.settings import ApiSettings, Settings
from tests.harness import free_port
from tests.images import png_bytes
from tests.stubs import StubClassifier

SUBMIT = "/api/inference/requests"
SECRET = "s3cret-key-value"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.ERROR or r.exc_info]


@contextmanager
def serving(classifier: StubClassifier | None = None, **api: object) -> Iterator[tuple[str, int, Records]]:
    """(url, port, log records) of a real server with these API settings."""
    settings = Settings(mode="embedded", api=ApiSettings(**api), api_keys=[SECRET])
    container = create_container(settings)
    port = free_port()
    with container.classifier.override(providers.Object(classifier or StubClassifier())):
        server = build_server(create_embedded_app(container), settings.api, "127.0.0.1", port, "info")
        records = Records()
        # uvicorn's loggers do not propagate to the root: listen to both.
        watched = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.access")]
        for logger in watched:
            logger.addHandler(records)
        ours = logging.getLogger("entrypoints")
        level = ours.level
        ours.setLevel(logging.INFO)  # as `inference serve` logs
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while not server.started:
                assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.02)
            yield f"http://127.0.0.1:{port}", port, records
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            ours.setLevel(level)
            for logger in watched:
                logger.removeHandler(records)


def answer(sock: socket.socket, timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body the server sent before closing (or a full response)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def healthy(url: str) -> bool:
    return httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_headers_past_the_limit_get_431_before_they_end_and_the_server_stays_healthy() -> None:
    with serving(max_header_bytes=64 * 1024) as (url, port, records):
        sock = socket.create_connection(("127.0.0.1", port))

        def pad() -> None:  # 32 MiB of one header that never ends: only a cap can answer this
            try:
                sock.sendall(f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nX-Pad: ".encode())
                for _ in range(512):
                    sock.sendall(b"a" * 65536)
            except OSError:
                pass  # the server answered and closed, as it should

        sender = threading.Thread(target=pad)
        sender.start()
        status, headers, body = answer(sock)
        sender.join(timeout=60)
        sock.close()

        assert status == 431
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["code"] == "headers_too_large"
        assert healthy(url)
        assert records.errors() == []


def test_headers_within_the_limit_are_served() -> None:
    with serving(max_header_bytes=64 * 1024) as (url, _, _):
        response = httpx.get(f"{url}/api/health", headers={"X-Pad": "a" * 60_000})

    assert response.status_code == 200


def test_headers_that_stop_arriving_get_408_after_the_header_timeout() -> None:
    with serving(header_timeout_seconds=0.5) as (url, port, _):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            status, _, body = answer(sock)

        assert (status, json.loads(body)["code"]) == (408, "request_timeout")
        assert healthy(url)


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout() -> None:
    with (
        serving(header_timeout_seconds=0.5) as (_, port, _),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        status, _, _ = answer(sock)

    assert status == 408


def test_a_body_that_stops_arriving_gets_408_and_one_quiet_log_line() -> None:
    with serving(body_timeout_seconds=0.5) as (url, port, records):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
            sock.sendall(f"{head}Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n".encode())
            sock.sendall(png_bytes()[:16])  # then nothing, for ever
            status, _, body = answer(sock)

        assert (status, json.loads(body)["code"]) == (408, "request_timeout")
        assert healthy(url)
        assert records.errors() == []


def test_a_slow_but_steady_upload_is_not_cut_by_the_body_timeout() -> None:
    image = png_bytes(64, 64)
    with (
        serving(body_timeout_seconds=1.0) as (_, port, _),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
        sock.sendall(f"{head}Content-Type: image/png\r\nContent-Length: {len(image)}\r\n\r\n".encode())
        for start in range(0, len(image), len(image) // 4 + 1):
            time.sleep(0.3)  # each pause shorter than the timeout, their sum longer
            sock.sendall(image[start : start + len(image) // 4 + 1])
        status, _, _ = answer(sock)

    assert status == 202


def test_a_long_poll_is_not_cut_by_the_header_timeout() -> None:
    release = threading.Event()

    def slow_scores(_: bytes) -> list[float]:
        release.wait(30)
        return [0.5, 0.3, 0.2]

    with serving(StubClassifier(scores=slow_scores), header_timeout_seconds=0.5) as (url, _, _):
        auth = {"Authorization": f"Bearer {SECRET}"}
        with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
            accepted = client.post(SUBMIT, files={"image": ("a.png", png_bytes())})
            waited = client.get(f"{accepted.json()['results_url']}?wait=1.5")
            release.set()

    assert waited.status_code == 200
    assert waited.json()["status"] in ("queued", "processing")


def test_an_aborted_upload_logs_one_info_line_and_no_traceback() -> None:
    with serving() as (url, port, records):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
            sock.sendall(f"{head}Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n".encode())
            sock.sendall(png_bytes()[:16])
            time.sleep(0.2)  # let the API start reading before the client vanishes
        deadline = time.monotonic() + 10
        while not any("disconnected" in r.getMessage() for r in records.records):
            assert time.monotonic() < deadline, "the disconnect was never logged"
            time.sleep(0.05)
        assert healthy(url)

    lines = [r for r in records.records if "disconnected" in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert records.errors() == []


def test_an_api_key_in_the_query_string_is_redacted_in_the_access_log() -> None:
    with serving() as (url, _, records):
        refused = httpx.get(f"{url}/api/models?api_key={SECRET}&wait=1")

    access = [r.getMessage() for r in records.records if r.name == "uvicorn.access"]
    assert refused.status_code == 401
    assert any("/api/models?api_key=[redacted]&wait=1" in line for line in access)
    assert not any(SECRET in r.getMessage() for r in records.records)


def noise_png(side: int) -> bytes:
    """A PNG about 3 * side**2 bytes long: noise does not compress."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_uploads_past_the_bytes_in_flight_get_503_too_many_uploads_and_the_rest_succeed() -> None:
    image = noise_png(360)  # ~390 KB: two fit in the budget, the third does not
    budget = 1024 * 1024
    with serving(max_upload_bytes_in_flight=budget) as (_, port, _):
        head = (
            f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
            f"Content-Type: image/png\r\nContent-Length: {len(image)}\r\n\r\n"
        ).encode()
        holding = []
        for _ in range(2):  # two uploads under way, their bytes half sent
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(head + image[:1000])
            holding.append(sock)
            time.sleep(0.2)  # the order of arrival, not a measurement
        with socket.create_connection(("127.0.0.1", port)) as third:
            third.sendall(head + image[:1000])
            refused = answer(third)
        finished = []
        for sock in holding:
            sock.sendall(image[1000:])
            finished.append(answer(sock)[0])
            sock.close()
        with socket.create_connection(("127.0.0.1", port)) as later:
            later.sendall(head + image)
            after = answer(later)[0]

    assert 2 * len(image) <= budget < 3 * len(image)
    status, headers, body = refused
    assert (status, json.loads(body)["code"]) == (503, "too_many_uploads")
    assert int(headers["retry-after"]) >= 1
    assert finished == [202, 202]
    assert after == 202


def test_a_body_trickled_after_an_early_refusal_does_not_keep_the_connection() -> None:
    with (
        serving(body_timeout_seconds=0.5, max_upload_bytes=1024) as (_, port, _),
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        head = f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\n"
        sock.sendall(f"{head}Content-Type: image/png\r\nContent-Length: 1000000\r\n\r\n".encode())
        status, _, _ = answer(sock)  # refused from the declared length alone
        closed = False
        for _ in range(100):  # one byte each 0.1 s: steady, but for a body no one reads
            try:
                sock.sendall(b"x")
            except OSError:
                closed = True
                break
            time.sleep(0.1)

    assert status == 413
    assert closed
