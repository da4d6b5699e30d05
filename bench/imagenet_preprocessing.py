"""Which preprocessing fits the ImageNet weights: measured on real photos, not guessed.

The weights' package says nothing of the normalisation they were trained with. For each
candidate (every mean/std, interpolation and crop) this runs the served pipeline — the service's own
decoder, the manifest's model — on scikit-image's sample photos whose subject ImageNet names,
and on their mirror images, and reports how much probability the model puts on the photo's
classes (mean log-probability, higher is better) and how often the top-1 is one of them. The
manifest keeps the winner; rerun this after changing weights:

    uv run python -m bench.imagenet_preprocessing
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image, ImageOps

from adapters.model.manifest import load_manifest
from adapters.model.timm_model import build_model
from entrypoints.container import make_decoder
from tests.images import LIMITS

MANIFEST = Path(__file__).resolve().parents[1] / "models" / "efficientnet-lite0" / "model.yaml"
# Photo → the ImageNet classes a person would accept for its subject (indices into the labels).
SUBJECTS = {
    "chelsea.png": {281, 282, 283, 284, 285},  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee.png": {967, 968, 504},  # espresso, cup, coffee mug
    "rocket.jpg": {657, 744, 812},  # missile, projectile, space shuttle
    "motorcycle_left.png": {665, 670},  # moped, motor scooter
    "clock_motion.png": {409, 892},  # analog clock, wall clock
}
MEANS = {"imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), "0.5": ((0.5,) * 3, (0.5,) * 3)}
INTERPOLATIONS = ("bilinear", "bicubic")
CROPS = (0.875, 1.0)


def photos() -> list[tuple[str, bytes]]:
    """Each photo and its mirror image, PNG-encoded."""
    found = []
    for name in SUBJECTS:
        image = Image.open(Path(skimage.data.__file__).parent / name).convert("RGB")
        for variant, flipped in (("", image), (" (mirrored)", ImageOps.mirror(image))):
            out = io.BytesIO()
            flipped.save(out, "PNG")
            found.append((name + variant, out.getvalue()))
    return found


def main() -> None:
    base = load_manifest(MANIFEST)
    model = build_model(base)
    images = photos()
    print(f"{'mean/std':9} {'resample':9} {'crop':>5}  {'mean log p':>10}  top-1 right")
    for (mean_name, (mean, std)), interpolation, crop in itertools.product(
        MEANS.items(), INTERPOLATIONS, CROPS
    ):
        manifest = dataclasses.replace(base, mean=mean, std=std, interpolation=interpolation, crop_pct=crop)
        with make_decoder(manifest, LIMITS, threads=2) as decoder:
            pixels, errors = decoder.decode([data for _, data in images])
        assert not any(errors)
        with torch.inference_mode():
            probabilities = model(torch.from_numpy(pixels)).softmax(dim=1).numpy()
        log_p, right = [], 0
        for (name, _), row in zip(images, probabilities, strict=True):
            wanted = SUBJECTS[name.split(" ")[0]]
            log_p.append(math.log(float(sum(row[i] for i in wanted))))
            right += int(np.argmax(row)) in wanted
        print(f"{mean_name:9} {interpolation:9} {crop:5}  {np.mean(log_p):10.3f}  {right}/{len(images)}")


if __name__ == "__main__":
    main()
