"""Checkpoints saved under another project's tensor names, mapped onto timm's.

`positional`: the checkpoint holds the same tensors as timm's model in the same order (true of
the `efficientnet_pytorch` layout against timm's EfficientNets), only named differently. Pairing
them by position is safe only if every pair agrees, so every shape is checked and the first
disagreement stops the load with both names. BatchNorm's `num_batches_tracked` counters are left
out on both sides: some projects save them and some do not, and inference never reads them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from adapters.model.manifest import ManifestError

_COUNTERS = "num_batches_tracked"


def map_positionally(
    checkpoint: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    """`checkpoint`'s tensors under `target`'s names; ManifestError on any count or shape mismatch.

    `target` is the model's own state dict; its counters are kept as they are.
    """
    theirs = [(k, v) for k, v in checkpoint.items() if not k.endswith(_COUNTERS)]
    ours = [(k, v) for k, v in target.items() if not k.endswith(_COUNTERS)]
    if len(theirs) != len(ours):
        raise ManifestError(
            f"{source}: cannot map tensors by position: the checkpoint has {len(theirs)} tensors "
            f"and the model {len(ours)} (besides {_COUNTERS})"
        )
    mapped = {k: v for k, v in target.items() if k.endswith(_COUNTERS)}
    for index, ((their_name, tensor), (our_name, expected)) in enumerate(zip(theirs, ours, strict=True)):
        if tensor.shape != expected.shape:
            raise ManifestError(
                f"{source}: tensor #{index} {their_name!r} has shape {tuple(tensor.shape)} but the "
                f"model's #{index} {our_name!r} needs {tuple(expected.shape)}: the checkpoint is not "
                "this architecture in the same order"
            )
        mapped[our_name] = tensor
    return mapped
