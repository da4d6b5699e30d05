"""A bad setting stops a command with one line naming it as the user wrote it, and exit status 2.

In-process through `main()`: every case here fails before anything is built or connected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from entrypoints.cli import main
from entrypoints.settings import Settings


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()


@pytest.mark.parametrize("command", [["serve"], ["api"], ["worker"], ["export-onnx"]])
def test_a_non_numeric_batch_size_stops_every_command_with_one_line_naming_the_variable(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_WORKER__MAX_BATCH_SIZE", "abc")

    status = main(command)

    assert status == 2
    assert _error_lines(capsys) == [
        "inference: INFERENCE_WORKER__MAX_BATCH_SIZE='abc': should be a whole number ≥ 1"
    ]


def test_the_variable_is_named_as_the_user_spelt_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("inference_api__port", "70000")

    assert main(["api"]) == 2
    assert _error_lines(capsys) == [
        "inference: inference_api__port='70000': should be a whole number ≥ 1 and ≤ 65535"
    ]


def test_every_bad_setting_gets_its_own_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_STORE__TTL_SECONDS", "a day")
    monkeypatch.setenv("INFERENCE_MODEL__BACKEND", "tensorflow")

    assert main(["serve"]) == 2
    assert sorted(_error_lines(capsys)) == [
        "inference: INFERENCE_MODEL__BACKEND='tensorflow': should be 'torch', 'onnxruntime' or 'openvino'",
        "inference: INFERENCE_STORE__TTL_SECONDS='a day': should be a number > 0",
    ]


def test_an_unknown_log_level_is_refused_with_the_levels_allowed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_LOG_LEVEL", "loud")

    assert main(["worker"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("inference: INFERENCE_LOG_LEVEL=")
    assert line.endswith("should be 'CRITICAL', 'ERROR', 'WARNING', 'INFO' or 'DEBUG'")


def test_a_log_level_in_any_case_is_accepted() -> None:
    assert Settings(log_level="debug").log_level == "DEBUG"


def test_a_redis_url_of_another_scheme_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_REDIS_URL", "http://127.0.0.1:6379/0")

    assert main(["api"]) == 2
    assert _error_lines(capsys) == [
        "inference: INFERENCE_REDIS_URL='http://127.0.0.1:6379/0': should start with redis://, rediss:// or unix://"
    ]


def test_a_malformed_broker_url_is_refused_at_start_without_showing_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_RABBITMQ_URL", "amqp://guest:s3cret@127.0.0.1:56a72/")

    assert main(["worker"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("inference: INFERENCE_RABBITMQ_URL=")
    assert line.endswith("has a port that is not a number from 0 to 65535")
    assert "s3cret" not in line


def test_a_bad_url_given_as_an_option_is_named_as_the_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_RABBITMQ_URL", "amqp://127.0.0.1/")  # valid: the option is the culprit

    assert main(["worker", "--rabbitmq-url", "https://broker.example/"]) == 2
    assert _error_lines(capsys) == [
        "inference: --rabbitmq-url='https://broker.example/': should start with amqp:// or amqps://"
    ]


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("redis_url", "redis://127.0.0.1:6379/0"),
        ("redis_url", "rediss://user:pass@redis.example:6380/1"),
        ("redis_url", "unix:///run/redis/redis.sock?db=2"),
        ("rabbitmq_url", "amqp://guest:guest@127.0.0.1:5672/"),
        ("rabbitmq_url", "amqps://user:pass@broker.example/vhost?heartbeat=30"),
    ],
)
def test_the_server_urls_of_each_documented_scheme_are_accepted(field: str, url: str) -> None:
    settings: dict[str, Any] = {field: url}

    assert getattr(Settings(**settings), field) == url


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("redis_url", "http://127.0.0.1:6379/0"),
        ("redis_url", "127.0.0.1:6379"),
        ("redis_url", "unix://"),
        ("redis_url", "redis://127.0.0.1:99999/0"),
        ("rabbitmq_url", "amqp:/127.0.0.1/"),
        ("rabbitmq_url", "redis://127.0.0.1:6379/0"),
    ],
)
def test_server_urls_of_other_schemes_or_with_a_broken_port_are_refused(field: str, url: str) -> None:
    settings: dict[str, Any] = {field: url}

    with pytest.raises(ValidationError):
        Settings(**settings)


def test_a_section_given_as_json_that_does_not_parse_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_WORKER", "{max_batch_size: 8")

    assert main(["serve"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("inference: INFERENCE_WORKER: should be a JSON object")


def test_compile_with_another_backend_names_the_compile_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_MODEL__COMPILE", "true")
    monkeypatch.setenv("INFERENCE_MODEL__BACKEND", "onnxruntime")

    assert main(["worker"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("inference: INFERENCE_MODEL__COMPILE=")
    assert "backend torch only, not onnxruntime" in line


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_int8_with_a_backend_other_than_openvino_names_the_precision_variable(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_MODEL__PRECISION", "int8")
    monkeypatch.setenv("INFERENCE_MODEL__BACKEND", backend)

    assert main(["worker"]) == 2
    [line] = _error_lines(capsys)
    assert line.startswith("inference: INFERENCE_MODEL__PRECISION=")
    assert f"int8 runs on backend openvino only, not {backend}" in line


@pytest.mark.parametrize("command", [[], ["worker"], ["serve"], ["health"]])
def test_help_works_whatever_the_environment_holds(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_WORKER__MAX_BATCH_SIZE", "abc")
    monkeypatch.setenv("INFERENCE_REDIS_URL", "http://nowhere/")

    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: inference")


def test_the_worker_help_documents_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "2 a bad setting" in help_text
    assert "3 the model could not be loaded" in help_text


def test_the_container_health_check_works_whatever_the_environment_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERENCE_WORKER__MAX_BATCH_SIZE", "abc")
    heartbeat = tmp_path / "worker.heartbeat"
    heartbeat.touch()

    assert main(["health", "--heartbeat", str(heartbeat)]) == 0


def test_a_bad_webhook_secret_or_network_gets_one_line_each_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INFERENCE_WEBHOOK__SECRET", "whsec_c2hvcnQ=")  # "short": 5 bytes
    monkeypatch.setenv("INFERENCE_WEBHOOK__ALLOWED_NETWORKS", "127.0.0.0/8, the office")

    assert main(["serve"]) == 2
    lines = sorted(_error_lines(capsys))
    assert len(lines) == 2, lines
    assert lines[0].startswith("inference: INFERENCE_WEBHOOK__ALLOWED_NETWORKS=")
    assert "'the office' is not a network in CIDR form" in lines[0]
    assert lines[1].startswith("inference: INFERENCE_WEBHOOK__SECRET")
    assert "at least 24 bytes" in lines[1]
    assert "c2hvcnQ" not in lines[1]
