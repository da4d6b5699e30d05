"""The real `inference` command meeting an operator's mistakes: one line, a distinct exit status.

Exit statuses: 2 for a bad setting, 3 for a model that cannot be loaded (see the README's
"Start-up errors and exit statuses").
"""

from __future__ import annotations

import os
import subprocess
import uuid
from contextlib import closing
from pathlib import Path

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from tests.harness import free_port
from tests.harness.cluster import INFERENCE, ROOT
from tests.servers import RABBITMQ_URL, require_server

# A process that imports the model libraries and gives up; slow CI machines take their time.
EXIT_TIMEOUT = 300.0


def _run(*args: str, timeout: float = EXIT_TIMEOUT, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.upper().startswith("INFERENCE_")}
    return subprocess.run(
        [INFERENCE, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=timeout
    )


def _manifest_without_weights(tmp_path: Path) -> Path:
    manifest = (ROOT / "demo" / "model" / "model.yaml").read_text()
    path = tmp_path / "model.yaml"
    path.write_text(manifest.replace("weights: weights.safetensors", "weights: missing.safetensors"))
    return path


def test_a_bad_setting_stops_the_real_command_with_one_line_and_no_traceback() -> None:
    done = _run("worker", INFERENCE_WORKER__MAX_BATCH_SIZE="abc", timeout=60)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "inference: INFERENCE_WORKER__MAX_BATCH_SIZE='abc': should be a whole number ≥ 1"
    ]


def test_help_and_the_health_check_work_with_a_bad_setting_in_the_environment(tmp_path: Path) -> None:
    heartbeat = tmp_path / "worker.heartbeat"
    heartbeat.touch()
    bad = {"INFERENCE_LOG_LEVEL": "loud", "INFERENCE_REDIS_URL": "http://127.0.0.1:6379/"}

    helped = _run("--help", timeout=60, **bad)
    checked = _run("health", "--heartbeat", str(heartbeat), timeout=60, **bad)

    assert (helped.returncode, helped.stderr) == (0, "")
    assert (checked.returncode, checked.stderr) == (0, "")


@pytest.mark.slow
def test_inference_serve_whose_model_cannot_load_stops_with_one_line_and_status_3() -> None:
    """The issue's case: fp16 needs CUDA with backend torch; no backend runs it on this CPU."""
    done = _run("serve", "--port", str(free_port()), INFERENCE_MODEL__PRECISION="fp16")

    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.splitlines()[-1].startswith("inference: the model could not be loaded: precision fp16")
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.server
def test_a_worker_whose_weights_cannot_load_exits_3_without_declaring_its_queue(tmp_path: Path) -> None:
    require_server("RabbitMQ", RABBITMQ_URL)
    queue = f"test.startup.{uuid.uuid4().hex[:8]}"

    done = _run(
        "worker",
        "--model",
        str(_manifest_without_weights(tmp_path)),
        INFERENCE_RABBITMQ_URL=RABBITMQ_URL,
        INFERENCE_QUEUE__NAME=queue,
        INFERENCE_MODEL__CACHE_DIR=str(tmp_path / "cache"),
    )

    assert done.returncode == 3, done.stderr[-3000:]
    [line] = done.stderr.splitlines()  # nothing logged at INFO before it: no connection attempt
    assert line.startswith("inference: the model could not be loaded: ")
    assert "missing.safetensors" in line
    with (
        closing(pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))) as connection,
        pytest.raises(ChannelClosedByBroker) as declared,
    ):
        connection.channel().queue_declare(queue, passive=True)
    assert declared.value.reply_code == 404  # the worker never declared it
