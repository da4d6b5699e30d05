"""`inference quantize`: the manifest's model in INT8, checked against fp32 before it is kept."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from entrypoints.invalid_settings import load_settings

DEFAULT_THRESHOLD = 0.99
DEFAULT_SAMPLES = 300  # NNCF's own default subset size


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser], cache_dir: Path) -> None:
    quantize = commands.add_parser(
        "quantize",
        help="quantize the model to INT8 (for precision int8 on backend openvino); print its folder",
        description="Post-training INT8 quantization with NNCF. The new model's top-1 is compared with "
        "the fp32 model's on a held-out set; under --threshold, nothing is written and the exit status is 1.",
    )
    quantize.add_argument(
        "--manifest", help="a bundled model (imagenet, demo) or a model manifest (YAML); default: imagenet"
    )
    quantize.add_argument(
        "--calibration", type=Path, required=True, metavar="DIR", help="images like those served (every file)"
    )
    quantize.add_argument(
        "--held-out",
        type=Path,
        metavar="DIR",
        help="images to compare INT8 with fp32 on; default: crops and mirror images of the calibration set",
    )
    quantize.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help="least top-1 agreement with fp32 to keep the model (default: %(default)s)",
    )
    quantize.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help="calibration images used at most (default: %(default)s)",
    )
    quantize.add_argument("--cache-dir", type=Path, help=f"where it is written (default: {cache_dir})")
    quantize.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from entrypoints.container import create_container

    model = {"manifest": args.manifest, "cache_dir": args.cache_dir}
    settings = load_settings({"model": {key: value for key, value in model.items() if value}})
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if not 0 <= args.threshold <= 1 or args.samples < 1:
            raise ValueError("--threshold must lie in [0, 1] and --samples be at least 1")
        calibration = _images(args.calibration)
        held_out = [data for _, data in _images(args.held_out)] if args.held_out else None
        done = create_container(settings).int8_quantization(
            calibration=calibration, held_out=held_out, threshold=args.threshold, samples=args.samples
        )
    except (ValueError, OSError) as exc:  # a bad manifest or image folder, a cache it cannot write
        print(f"inference: {exc}", file=sys.stderr)
        return 2
    agreement = f"top-1 agreement with fp32: {done.agreement:.2%} of {done.held_out} held-out images"
    if done.folder is None:
        outcome = "the cached model is removed" if done.cached else "nothing written"
        print(
            f"inference: INT8 model refused ({outcome}): {agreement}, under {args.threshold:.2%}",
            file=sys.stderr,
        )
        return 1
    origin = (
        "found in the cache, checked again" if done.cached else f"calibrated on {done.calibration} images"
    )
    print(f"{agreement} (threshold {args.threshold:.2%}); {origin}", file=sys.stderr)
    print(done.folder)
    return 0


def _images(folder: Path) -> list[tuple[str, bytes]]:
    """Every file of `folder` (not hidden, not recursive) by name; the decoder says which are no image."""
    files = sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    if not files:
        raise ValueError(f"{folder} holds no files")
    return [(path.name, path.read_bytes()) for path in files]
