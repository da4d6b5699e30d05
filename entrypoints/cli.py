"""The `inference` command: serve (embedded), api, worker, and a `classify` client."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from entrypoints.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings().api
    parser = argparse.ArgumentParser(prog="inference", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the API and a worker in one process (no servers needed)")
    serve.add_argument("--host", default=defaults.host)
    serve.add_argument("--port", type=int, default=defaults.port)
    serve.add_argument("--model", type=Path, help="model manifest (YAML); default: the bundled demo model")
    serve.set_defaults(run=_serve)

    for name, text in (("api", "run the HTTP API alone"), ("worker", "run a worker process")):
        command = commands.add_parser(name, help=f"{text} (distributed mode, RabbitMQ + Redis)")
        command.set_defaults(run=_distributed_only)

    classify = commands.add_parser("classify", help="submit images to a running service and print results")
    classify.add_argument("files", nargs="+", type=Path, metavar="FILE")
    classify.add_argument("--url", default=f"http://{defaults.host}:{defaults.port}")
    classify.add_argument("--top-k", type=int, default=1)
    classify.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for all results")
    classify.set_defaults(run=_classify)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from entrypoints.container import create_container
    from entrypoints.embedded import create_embedded_app

    overrides: dict[str, object] = {"mode": "embedded"}
    if args.model:
        overrides["model"] = {"manifest": args.model}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    container = create_container(settings)
    try:
        container.manifest()  # fail now on a bad manifest, not after the server looks healthy
    except ValueError as exc:
        print(f"inference: {exc}", file=sys.stderr)
        return 2
    app = create_embedded_app(container)
    print(f"Serving on http://{args.host}:{args.port}  (Swagger UI: /api/docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level=settings.log_level.lower())
    return 0


def _distributed_only(_: argparse.Namespace) -> int:
    print(
        "inference: the distributed mode (RabbitMQ + Redis) is not available yet; "
        "run `inference serve` for the embedded mode",
        file=sys.stderr,
    )
    return 2


def _classify(args: argparse.Namespace) -> int:
    from entrypoints.client import classify_files

    return classify_files(args.files, args.url, args.top_k, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
