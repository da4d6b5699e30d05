"""The `inference` command's own behaviour, in-process (serving itself is in tests/e2e)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.cli import main
from tests.harness import free_port
from tests.images import png_bytes
from tests.service import memory_client, transport_to

API_KEY = "the-clients-key-0123456789"


def test_serve_refuses_a_broken_manifest_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "model.yaml"
    manifest.write_text("name: half a manifest\n")

    status = main(["serve", "--model", str(manifest)])

    assert status == 2
    assert "missing keys" in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])

    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["api", "worker"])
def test_the_distributed_commands_refuse_a_broken_manifest_before_they_connect(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "model.yaml"
    manifest.write_text("name: half a manifest\n")

    status = main([command, "--model", str(manifest), "--rabbitmq-url", "amqp://nobody@127.0.0.1:1/"])

    assert status == 2
    assert "missing keys" in capsys.readouterr().err


def test_health_accepts_a_fresh_heartbeat(tmp_path: Path) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    heartbeat.touch()

    assert main(["health", "--heartbeat", str(heartbeat), "--max-age", "60"]) == 0


def test_health_refuses_a_stale_or_missing_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    heartbeat.touch()
    an_hour_ago = time.time() - 3600
    os.utime(heartbeat, (an_hour_ago, an_hour_ago))

    assert main(["health", "--heartbeat", str(heartbeat), "--max-age", "60"]) == 1
    assert main(["health", "--heartbeat", str(tmp_path / "never-written")]) == 1
    assert "unhealthy" in capsys.readouterr().err


def test_health_refuses_a_url_that_does_not_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--url", f"http://127.0.0.1:{free_port()}/api/health/ready"]) == 1
    assert "unhealthy" in capsys.readouterr().err


def test_serve_refuses_an_api_keys_file_it_cannot_read_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_API_KEYS_FILE", str(tmp_path / "no-such-file"))

    status = main(["serve", "--port", str(free_port())])

    assert status == 2
    assert "cannot read the API keys file" in capsys.readouterr().err


@pytest.fixture
def keyed_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A service that needs API_KEY, in this process: every httpx.Client the command opens reaches it."""
    with memory_client(api_keys=[API_KEY]) as service:
        transport = transport_to(service)
        monkeypatch.setattr(httpx, "Client", functools.partial(httpx.Client, transport=transport))
        yield


def _image_file(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(png_bytes())
    return path


@pytest.mark.usefixtures("keyed_service")
def test_classify_sends_the_api_key_given_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = _image_file(tmp_path)

    status = main(["classify", "--url", "http://service.test", "--api-key", API_KEY, str(image)])

    assert status == 0
    assert capsys.readouterr().out.startswith(f"{image}\tcat ")


@pytest.mark.usefixtures("keyed_service")
def test_classify_takes_the_api_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_API_KEY", API_KEY)
    image = _image_file(tmp_path)

    status = main(["classify", "--url", "http://service.test", str(image)])

    assert status == 0
    assert capsys.readouterr().out.startswith(f"{image}\tcat ")


@pytest.mark.usefixtures("keyed_service")
def test_classify_without_the_key_reports_the_refusal_and_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("INFERENCE_API_KEY", raising=False)
    image = _image_file(tmp_path)

    without = main(["classify", "--url", "http://service.test", str(image)])
    wrong = main(["classify", "--url", "http://service.test", "--api-key", "not-the-key", str(image)])

    assert (without, wrong) == (1, 1)
    out = capsys.readouterr().out
    assert f"{image}\terror\t401 " in out and f"{image}\terror\t403 " in out
    assert "not-the-key" not in out


@pytest.fixture
def idle_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The in-memory service with no worker (what is submitted stays queued), behind httpx.Client."""
    with memory_client(started=False) as service:
        transport = transport_to(service)
        monkeypatch.setattr(httpx, "Client", functools.partial(httpx.Client, transport=transport))
        yield


@pytest.mark.usefixtures("idle_service")
def test_cancel_cancels_what_submit_queued_and_fails_for_what_is_already_canceled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--url", "http://service.test"]
    assert main(["submit", *url, "--deadline", "60", str(_image_file(tmp_path))]) == 0
    request_id = capsys.readouterr().out.strip()

    first = main(["cancel", *url, request_id])
    printed = capsys.readouterr().out
    again = main(["cancel", *url, request_id])

    assert (first, again) == (0, 1)
    assert '"status": "canceled"' in printed
    assert "already_terminal" in capsys.readouterr().err
