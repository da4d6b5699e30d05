"""The `inference` command's own behaviour, in-process (serving itself is in tests/e2e)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from entrypoints.cli import main
from tests.servers import free_port


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
