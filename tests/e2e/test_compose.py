"""compose.yaml, the Dockerfile and .dockerignore, checked without Docker.

The file is read as Docker Compose reads it (YAML anchors and merge keys resolved, `${VAR:-default}`
read as its default, the Dockerfile's ARGs as theirs); every
`inference ...` command line in it and in the Dockerfile goes through the real CLI parser, so a
renamed option breaks this test rather than a deployment.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from entrypoints.cli import build_parser
from tests.servers.rabbitmq import NO_BUSY_WAIT

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SERVERS = ("rabbitmq", "redis")
APPLICATION = ("api", "worker")
MODEL_LIBRARIES = ("torch", "timm", "openvino", "onnxruntime")
VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def defaults(text: str, values: dict[str, str] | None = None) -> str:
    """`${VAR:-default}` and `${VAR}` as Compose and Docker read them with VAR unset (or `values`)."""
    values = values or {}
    for _ in range(3):  # a default may itself name a variable
        text = VARIABLE.sub(lambda m: values.get(m[1], m[2] or ""), text)
    return text


def load_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(defaults(COMPOSE.read_text()))["services"]
    return services


def argv(command: str | list[str]) -> list[str]:
    """A compose command (string or list) or healthcheck test (`CMD` ...) as an argument vector."""
    words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
    if words and words[0] == "CMD":
        return words[1:]
    return words


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, whether written as a mapping or as a list of KEY=VALUE."""
    raw = service.get("environment", {})
    if isinstance(raw, list):
        return dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped, ARGs at their defaults."""
    instructions: list[tuple[str, str]] = []
    arguments: dict[str, str] = {}
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        if keyword.upper() == "ARG" and "=" in rest:
            name, _, value = rest.strip().partition("=")
            arguments[name] = value
        instructions.append((keyword.upper(), defaults(rest.strip(), arguments)))
        pending = ""
    return instructions


def inference_command_lines() -> list[tuple[str, list[str]]]:
    """Every `inference ...` command in compose.yaml (commands and health checks) and the Dockerfile."""
    found = []
    for name, service in load_services().items():
        if "command" in service:
            found.append((f"{name}.command", argv(service["command"])))
        if "test" in service.get("healthcheck", {}):
            found.append((f"{name}.healthcheck", argv(service["healthcheck"]["test"])))
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"CMD", "ENTRYPOINT"} or (keyword == "RUN" and arguments.startswith("[")):
            found.append((f"Dockerfile {keyword}", json.loads(arguments)))
    return [(where, words) for where, words in found if words and words[0] == "inference"]


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return load_services()


def test_the_four_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"rabbitmq", "redis", "api", "worker"}


def test_the_api_publishes_port_8000(services: dict[str, dict[str, Any]]) -> None:
    published = []
    for port in services["api"].get("ports", []):
        if isinstance(port, dict):
            published.append((str(port.get("published")), int(port["target"])))
        else:
            *_, host, container = str(port).split(":")
            published.append((host, int(container)))

    assert ("8000", 8000) in published


def test_every_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        healthcheck = service.get("healthcheck", {})
        assert not healthcheck.get("disable", False), name
        assert argv(healthcheck.get("test", [])), f"{name} has no health check"


@pytest.mark.parametrize("name", APPLICATION)
def test_the_api_and_the_worker_wait_for_healthy_servers(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    depends_on = services[name]["depends_on"]

    for server in SERVERS:
        assert depends_on[server]["condition"] == "service_healthy", (name, server)


@pytest.mark.parametrize("name", APPLICATION)
def test_the_health_checks_run_the_inference_cli_without_a_shell(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    test = services[name]["healthcheck"]["test"]

    assert isinstance(test, list)
    assert test[0] == "CMD"  # exec form: the image has no curl, and needs no shell
    assert test[1:3] == ["inference", "health"]


def test_the_api_is_healthy_only_when_ready(services: dict[str, dict[str, Any]]) -> None:
    words = argv(services["api"]["healthcheck"]["test"])

    assert urlsplit(words[words.index("--url") + 1]).path == "/api/health/ready"


def test_the_worker_health_check_reads_the_heartbeat_the_worker_writes(
    services: dict[str, dict[str, Any]],
) -> None:
    words = argv(services["worker"]["healthcheck"]["test"])

    heartbeat = words[words.index("--heartbeat") + 1]
    assert heartbeat == environment(services["worker"])["INFERENCE_WORKER__HEARTBEAT_FILE"]
    assert "--max-age" in words


def test_redis_keeps_an_append_only_file_and_never_evicts(services: dict[str, dict[str, Any]]) -> None:
    command = " ".join(argv(services["redis"]["command"]))

    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert "--maxmemory " in command  # noeviction needs a bound to refuse at, not the OOM killer


def test_the_broker_does_not_busy_wait_as_the_benchmarks_private_node(
    services: dict[str, dict[str, Any]],
) -> None:
    environment = services["rabbitmq"]["environment"]
    assert environment["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] == NO_BUSY_WAIT


def test_the_servers_keep_their_data_in_named_volumes(services: dict[str, dict[str, Any]]) -> None:
    mounts = {name: [str(volume) for volume in services[name].get("volumes", [])] for name in SERVERS}

    assert any(volume.endswith(":/var/lib/rabbitmq") for volume in mounts["rabbitmq"])
    assert any(volume.endswith(":/data") for volume in mounts["redis"])
    # RabbitMQ keeps its data under its node name, derived from the host name: it must not change.
    assert services["rabbitmq"].get("hostname")


def test_the_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]

    assert "container_name" not in worker
    assert not worker.get("ports")
    assert argv(worker["command"]) == ["inference", "worker"]
    assert "stop_grace_period" in worker  # time to finish and acknowledge the batch in hand


@pytest.mark.parametrize("name", APPLICATION)
def test_the_api_and_the_worker_run_distributed_against_the_compose_servers(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    env = environment(services[name])
    rabbitmq, redis = urlsplit(env["INFERENCE_RABBITMQ_URL"]), urlsplit(env["INFERENCE_REDIS_URL"])

    assert env["INFERENCE_MODE"] == "distributed"
    assert (rabbitmq.scheme, rabbitmq.hostname) == ("amqp", "rabbitmq")
    assert (redis.scheme, redis.hostname) == ("redis", "redis")
    # guest may only log in from localhost: another container needs a user of its own.
    assert rabbitmq.username and rabbitmq.username != "guest"


@pytest.mark.parametrize(
    "words", [words for _, words in inference_command_lines()], ids=[w for w, _ in inference_command_lines()]
)
def test_every_inference_command_line_is_accepted_by_the_cli(words: list[str]) -> None:
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as exc:  # argparse's way of refusing
        pytest.fail(f"`{shlex.join(words)}` is refused by the CLI (exit status {exc.code})")


def test_the_image_is_python_slim_installed_from_the_lock_with_uv() -> None:
    instructions = dockerfile_instructions()
    stages = set(dockerfile_stages())
    bases = [
        arguments.split()[0]
        for keyword, arguments in instructions
        if keyword == "FROM" and arguments.split()[0] not in stages | {"scratch"}
    ]
    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")

    assert bases
    assert all(base.startswith("python:3.11-slim") for base in bases)
    assert "uv sync --locked --no-dev" in runs
    assert "--mount=type=cache" in runs


def test_the_image_runs_as_an_unprivileged_user_and_exposes_8000() -> None:
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    exposed = [arguments for keyword, arguments in instructions if keyword == "EXPOSE"]
    env = " ".join(arguments for keyword, arguments in instructions if keyword == "ENV")

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert "8000" in " ".join(exposed).split()
    assert "PYTHONUNBUFFERED=1" in env


def test_the_build_context_leaves_out_the_virtual_environment_but_not_what_the_image_needs() -> None:
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    copied = [
        source
        for keyword, arguments in dockerfile_instructions()
        if keyword == "COPY" and "--from=" not in arguments
        for source in arguments.split()[:-1]
    ]

    assert {".venv", ".git"} <= ignored
    assert copied
    assert not ignored.intersection(source.rstrip("/") for source in copied)


def dockerfile_stages() -> list[str]:
    return [
        arguments.split()[-1]
        for keyword, arguments in dockerfile_instructions()
        if keyword == "FROM" and len(arguments.split()) == 3 and arguments.split()[1].upper() == "AS"
    ]


def test_each_role_builds_its_own_target_of_the_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    targets = {name: services[name]["build"]["target"] for name in APPLICATION}

    assert targets == {"api": "api", "worker": "worker"}
    assert {"api", "worker", "worker-torch"} <= set(dockerfile_stages())
    assert services["api"]["image"] != services["worker"]["image"]


def test_the_base_images_are_parameters_with_the_official_images_as_defaults(
    services: dict[str, dict[str, Any]],
) -> None:
    raw = COMPOSE.read_text() + DOCKERFILE.read_text()
    copied_from = [
        word.removeprefix("--from=")
        for keyword, arguments in dockerfile_instructions()
        if keyword == "COPY"
        for word in arguments.split()
        if word.startswith("--from=")
    ]

    assert "${RABBITMQ_IMAGE:-rabbitmq:3.13-management}" in raw
    assert "${REDIS_IMAGE:-redis:7}" in raw
    assert "FROM ${PYTHON_IMAGE}" in raw and "ARG PYTHON_IMAGE=python:3.11-slim" in raw
    for name in APPLICATION:
        assert services[name]["build"]["args"]["PYTHON_IMAGE"] == "python:3.11-slim"
    # Every COPY --from names a stage of this file, never an image from a registry.
    assert set(copied_from) <= set(dockerfile_stages())


def test_only_the_api_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    publishing = {name for name, service in services.items() if service.get("ports")}

    # The machine (or a developer's) may run its own RabbitMQ and Redis on their standard ports.
    assert publishing == {"api"}
    assert "${INFERENCE_API_PORT:-8000}:8000" in COMPOSE.read_text()


def test_the_worker_image_ships_the_export_made_by_a_stage_with_torch() -> None:
    stage, copies = "", dict[str, set[str]]()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            stage = arguments.split()[-1]
        elif keyword == "COPY" and "--from=" in arguments:
            copies.setdefault(stage, set()).add(arguments.split("--from=")[1].split()[0])
    runs = {arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"}

    assert copies["worker"] == {"worker-build", "export"}
    assert copies["api"] == {"api-build"}
    assert any("inference export-onnx" in run for run in runs)
    assert any("--extra worker" in run and "--extra torch" not in run for run in runs)


def test_the_build_context_keeps_every_package_the_bundled_models_and_the_lock() -> None:
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {*project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"], "demo"}
    needed |= {"pyproject.toml", "uv.lock", "README.md"}

    assert all((ROOT / path).exists() for path in needed)
    assert not ignored & needed
    assert {"tests", "bench", "deploy"} <= ignored  # none of them runs in a container
