"""`inference export-onnx`: the manifest's model exported to ONNX ahead of time (the worker image
runs it at build time: it has no torch to export with at run time)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrypoints.invalid_settings import load_settings
from entrypoints.logs import configure_logging


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], cache_dir: Path) -> None:
    export = commands.add_parser(
        "export-onnx", help="export the model to ONNX for the onnxruntime/openvino backends; print its path"
    )
    export.add_argument(
        "--manifest", help="a bundled model (imagenet, demo) or a model manifest (YAML); default: imagenet"
    )
    export.add_argument("--cache-dir", type=Path, help=f"default: {cache_dir}")
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from entrypoints.container import create_container  # imports the model libraries: only here

    model = {"manifest": args.manifest, "cache_dir": args.cache_dir}
    settings = load_settings({"model": {key: value for key, value in model.items() if value}})
    configure_logging(settings.log_level, settings.log_format)
    try:
        path = create_container(settings).onnx_export()
    except (ValueError, OSError) as exc:  # a bad manifest or weights; a cache it cannot write
        print(f"inference: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
