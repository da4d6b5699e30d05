"""The `inference` command: serve (embedded), api, worker, health; export-onnx and quantize (see
`entrypoints.export_command`, `entrypoints.quantize_command`); the client commands (classify,
submit, result, cancel: see `entrypoints.client_commands`) and the dead-letter ones (dlq)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from entrypoints.client_commands import add_commands as add_client_commands
from entrypoints.dlq_commands import add_commands as add_dlq_commands
from entrypoints.export_command import add_command as add_export_command
from entrypoints.invalid_settings import load_settings, settings_or_defaults
from entrypoints.logs import configure_logging
from entrypoints.quantize_command import add_command as add_quantize_command
from entrypoints.settings import Settings
from entrypoints.startup_errors import EXIT_STATUSES, ModelLoadError, StartupError
from entrypoints.tracing import configure_tracing

log = logging.getLogger("entrypoints.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except StartupError as exc:
        print("\n".join(f"inference: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        return exc.exit_status


def build_parser() -> argparse.ArgumentParser:
    defaults = settings_or_defaults()  # so that --help works whatever the environment holds
    parser = argparse.ArgumentParser(prog="inference", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the API and a worker in one process (no servers needed)", epilog=EXIT_STATUSES
    )
    _add_http_options(serve, defaults)
    _add_model_option(serve)
    serve.set_defaults(run=_serve, role="serve")

    api = commands.add_parser("api", help="run the HTTP API (distributed mode: RabbitMQ + Redis)")
    _add_http_options(api, defaults)
    _add_server_options(api, defaults)
    _add_model_option(api)
    api.set_defaults(run=_api, role="api")

    worker = commands.add_parser(
        "worker",
        help="run a worker (distributed mode: RabbitMQ + Redis)",
        description="Load the model, then connect and process requests until SIGTERM or Ctrl-C.",
        epilog=EXIT_STATUSES,
    )
    _add_server_options(worker, defaults)
    _add_model_option(worker)
    worker.add_argument("--device", help=f"torch device (default: {defaults.model.device})")
    worker.set_defaults(run=_worker, role="worker")

    health = commands.add_parser("health", help="exit 0 if a service is healthy (for container checks)")
    target = health.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="healthy if this URL answers 2xx")
    target.add_argument("--heartbeat", type=Path, metavar="FILE", help="healthy if FILE is fresh")
    health.add_argument("--max-age", type=float, default=60.0, help="seconds a heartbeat stays fresh")
    health.set_defaults(run=_health)

    url = f"http://{defaults.api.host}:{defaults.api.port}"
    add_client_commands(commands, url, api_key=os.environ.get("INFERENCE_API_KEY") or None)

    add_dlq_commands(commands, lambda command: _add_server_options(command, defaults))
    commands.choices["dlq"].set_defaults(run=_dlq)

    add_export_command(commands, defaults.model.cache_dir)
    add_quantize_command(commands, defaults.model.cache_dir)
    return parser


def _add_http_options(command: argparse.ArgumentParser, defaults: Settings) -> None:
    command.add_argument("--host", default=defaults.api.host)
    command.add_argument("--port", type=int, default=defaults.api.port)


def _add_server_options(command: argparse.ArgumentParser, defaults: Settings) -> None:
    command.add_argument("--rabbitmq-url", help=f"the broker (default: {_redacted(defaults.rabbitmq_url)})")
    command.add_argument("--redis-url", help=f"the result store (default: {defaults.redis_url})")


def _add_model_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--model",
        metavar="NAME|MANIFEST",
        help="a bundled model (imagenet, demo) or a model manifest (YAML); default: imagenet",
    )


_OPTIONS: dict[tuple[str, ...], str] = {  # those that override a setting, by the setting's path
    ("rabbitmq_url",): "--rabbitmq-url", ("redis_url",): "--redis-url",
    ("model", "manifest"): "--model", ("model", "device"): "--device",
}  # fmt: skip


def _settings(args: argparse.Namespace, mode: str) -> Settings:
    """Settings from the environment, with the command line's options on top (InvalidSettings)."""
    overrides: dict[str, Any] = {"mode": mode}
    if getattr(args, "rabbitmq_url", None):
        overrides["rabbitmq_url"] = args.rabbitmq_url
    if getattr(args, "redis_url", None):
        overrides["redis_url"] = args.redis_url
    model = {"manifest": args.model, "device": getattr(args, "device", None)}
    if model := {key: value for key, value in model.items() if value}:
        overrides["model"] = model
    settings = load_settings(overrides, names=_OPTIONS)
    configure_logging(settings.log_level, settings.log_format)
    if role := getattr(args, "role", None):  # the services (not an operator's one-off command)
        configure_tracing(f"inference-{role}")
    return settings


def _serve(args: argparse.Namespace) -> int:
    import functools
    import signal

    from entrypoints.embedded import create_embedded_app

    settings, failed = _settings(args, "embedded"), list[ModelLoadError]()

    def stop(error: ModelLoadError) -> None:  # nothing would process a request: stop as on Ctrl-C
        failed.append(error)
        signal.raise_signal(signal.SIGINT)

    try:
        status = _run_http(args, settings, functools.partial(create_embedded_app, on_model_failure=stop))
    except KeyboardInterrupt:  # uvicorn raises the SIGINT again once stopped: some runners let it through
        if not failed:
            raise
    if failed:
        raise failed[0]
    return status


def _api(args: argparse.Namespace) -> int:
    from entrypoints.http.app import create_app

    return _run_http(args, _settings(args, "distributed"), create_app)


def _run_http(args: argparse.Namespace, settings: Settings, make_app: Any) -> int:
    from entrypoints.container import create_container
    from entrypoints.heap import settle_heap
    from entrypoints.http.server import build_server

    container = create_container(settings)
    try:
        container.manifest()  # fail now on a bad manifest, not after the server looks healthy
        app = make_app(container)  # reads the API keys file, if any (ApiKeysError is a ValueError)
    except ValueError as exc:
        print(f"inference: {exc}", file=sys.stderr)
        return 2
    # A log line, not a print: a JSON log stays one object per line.
    log.info("serving on http://%s:%s (Swagger UI: /api/docs)", args.host, args.port)
    server = build_server(app, settings.api, args.host, args.port, settings.log_level.lower())
    settle_heap()  # the app and its imports are built, and live as long as the process
    server.run()
    return 0


def _worker(args: argparse.Namespace) -> int:
    from entrypoints.container import create_container
    from entrypoints.worker import run_worker

    container = create_container(_settings(args, "distributed"))
    try:
        container.manifest()
    except ValueError as exc:
        print(f"inference: {exc}", file=sys.stderr)
        return 2
    run_worker(container)  # ModelLoadError: before it touched the broker
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from entrypoints import dlq_commands
    from entrypoints.container import create_container

    args.model = None  # the dead letters need no model
    return dlq_commands.run(args, create_container(_settings(args, "distributed")))


def _health(args: argparse.Namespace) -> int:
    from entrypoints.client import check_health

    return check_health(url=args.url, heartbeat=args.heartbeat, max_age=args.max_age)


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://…@{rest.rpartition('@')[2]}" if "@" in rest else url


if __name__ == "__main__":
    sys.exit(main())
