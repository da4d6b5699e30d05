"""The CLI's client commands, on `entrypoints.client`: classify, submit, result, cancel.

`classify` exits 0 only if every image succeeded, 1 if any did not, 2 when there is nothing to
classify. Results go to stdout (JSONL as each completes, for pipes); the progress bar goes to
stderr, and only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from entrypoints.client import Client, ClientError, Outcome, Status

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
FORMATS = ("table", "json", "jsonl", "csv")
EXIT_PENDING = 3  # `result`: the request is not finished (yet)


def add_commands(commands: Any, url: str, api_key: str | None) -> None:
    """The three client commands, on the subparsers of the `inference` parser."""
    classify = commands.add_parser("classify", help="classify images with a running service")
    classify.add_argument("images", nargs="+", metavar="IMG|DIR|GLOB")
    classify.add_argument("--concurrency", type=_positive, default=8, help="images in flight (default 8)")
    classify.add_argument("--top-k", type=_positive, default=1, help="labels per image (default 1)")
    classify.add_argument("--format", choices=FORMATS, default="table", help="output (default table)")
    classify.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each image")
    classify.set_defaults(run=run_classify)

    submit = commands.add_parser("submit", help="submit images, print their request ids (one a line)")
    submit.add_argument("files", nargs="+", type=Path, metavar="FILE")
    submit.add_argument("--top-k", type=_positive, default=None, help="labels to return")
    submit.add_argument(
        "--deadline", type=float, default=None, metavar="S", help="seconds after which not to run them"
    )
    submit.set_defaults(run=run_submit)

    cancel = commands.add_parser("cancel", help="cancel requests not yet finished, print their status")
    cancel.add_argument("request_ids", nargs="+", metavar="ID")
    cancel.set_defaults(run=run_cancel)

    result = commands.add_parser("result", help="print a request's status and result as JSON")
    result.add_argument("request_id", metavar="ID")
    result.add_argument("--wait", type=float, default=0.0, metavar="S", help="seconds to wait for it")
    result.set_defaults(run=run_result)

    for command in (classify, submit, result, cancel):
        command.add_argument("--url", default=url, help=f"the service (default {url})")
        command.add_argument(
            "--api-key",
            default=api_key,
            help="sent as `Authorization: Bearer KEY` (default: $INFERENCE_API_KEY, kept out of ps)",
        )


def run_classify(args: argparse.Namespace) -> int:
    images = expand(args.images)
    if not images:
        print("inference: no images found in " + " ".join(args.images), file=sys.stderr)
        return 2
    outcomes: dict[str, Outcome] = {}
    bar = tqdm(total=len(images), unit="image", file=sys.stderr, disable=not sys.stderr.isatty())
    with Client(args.url, api_key=args.api_key) as client:
        for outcome in client.classify_many(images, args.concurrency, args.top_k, args.timeout):
            outcomes[outcome.source] = outcome
            bar.update()
            if args.format == "jsonl":  # as each completes, for a pipe to read on the way
                print(json.dumps(_record(outcome)), flush=True)
    bar.close()
    ordered = [outcomes[str(path)] for path in images]
    if args.format == "table":
        for outcome in ordered:
            print(_table_row(outcome))
    elif args.format == "json":
        print(json.dumps([_record(outcome) for outcome in ordered], indent=2))
    elif args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["source", "request_id", "label", "score", "top_k", "error_code", "error"])
        for outcome in ordered:
            writer.writerow(_csv_row(outcome))
    return 0 if all(outcome.result for outcome in ordered) else 1


def run_submit(args: argparse.Namespace) -> int:
    failures = 0
    with Client(args.url, api_key=args.api_key) as client:
        for path in args.files:
            try:
                print(client.submit(path, args.top_k, deadline=args.deadline).request_id, flush=True)
            except (ClientError, OSError) as error:
                print(f"inference: {path}: {error}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


def run_cancel(args: argparse.Namespace) -> int:
    """Exit 1 if any could not be canceled (finished first: already_terminal, or unknown)."""
    failures = 0
    with Client(args.url, api_key=args.api_key) as client:
        for request_id in args.request_ids:
            try:
                print(json.dumps(_status_record(client.cancel(request_id))), flush=True)
            except ClientError as error:
                print(f"inference: {request_id}: {error}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


def run_result(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + max(0.0, args.wait)
    with Client(args.url, api_key=args.api_key) as client:
        try:
            status = client.status(args.request_id, min(30.0, args.wait))
            while not status.is_terminal and (remaining := deadline - time.monotonic()) > 0:
                status = client.status(args.request_id, min(30.0, remaining))
        except ClientError as error:
            print(f"inference: {error}", file=sys.stderr)
            return 1
    print(json.dumps(_status_record(status), indent=2))
    if not status.is_terminal:
        print(f"inference: request {status.request_id} is still {status.status}", file=sys.stderr)
        return EXIT_PENDING
    return 0 if status.status == "succeeded" else 1


def expand(arguments: list[str]) -> list[Path]:
    """Files as given, a directory's images (by suffix, sorted), a glob's matches; each once."""
    found: dict[Path, None] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists() or not glob.has_magic(argument):
            matches = [path]  # a missing file is reported as that file's error
        else:
            matches = sorted(Path(p) for p in glob.glob(argument, recursive=True) if Path(p).is_file())
        found.update(dict.fromkeys(matches))
    return list(found)


def _record(outcome: Outcome) -> dict[str, Any]:
    if outcome.result is None:
        error = {"code": getattr(outcome.error, "code", None), "message": str(outcome.error)}
        return {"source": outcome.source, "error": error}
    result = outcome.result
    return {
        "source": outcome.source,
        "request_id": result.request_id,
        "label": result.label,
        "score": result.score,
        "top_k": [{"label": item.label, "score": item.score} for item in result.scores],
        "model": {"name": result.model_name, "version": result.model_version},
    }


def _table_row(outcome: Outcome) -> str:
    if outcome.result is None:
        return f"{outcome.source}\terror\t{outcome.error}"
    return f"{outcome.source}\t" + ", ".join(f"{i.label} {i.score:.3f}" for i in outcome.result.scores)


def _csv_row(outcome: Outcome) -> list[str]:
    result, error = outcome.result, outcome.error
    if result is None:
        return [outcome.source, "", "", "", "", str(getattr(error, "code", "")), str(error)]
    scores = json.dumps([[i.label, round(i.score, 6)] for i in result.scores])
    return [outcome.source, result.request_id, result.label, f"{result.score:.6f}", scores, "", ""]


def _status_record(status: Status) -> dict[str, Any]:
    record: dict[str, Any] = {"request_id": status.request_id, "status": status.status}
    if status.result is not None:
        record |= _record(Outcome(status.request_id, result=status.result))
        del record["source"]
    if status.error_code:
        record["error"] = {"code": status.error_code, "message": status.error_message}
    return record


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number
