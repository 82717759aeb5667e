"""The model families yolo-prune prunes, as data: the Ultralytics layer types they are built from.

A model is supported when yolo-prune knows every one of its layer types: how pruning reaches it (C2f-style blocks
are split for the cut by ``yolo_prune.surgery``, attention is kept as one fixed-width unit by
``yolo_prune.attention``), how its widths are written back into a model yaml (``yolo_prune.model_yaml.ROWS``), and,
for the head, which outputs stay fixed (``yolo_prune.methods.base.ignored_layers``). A new family made of known
layers is one entry in ``FAMILIES``; a new layer type needs its handling beside the others first.

Usage:
    from yolo_prune.families import unsupported_layers

    missing = unsupported_layers(model)  # e.g. ["A2C2f"] for YOLO12: refuse the model, naming FAMILIES
"""

from __future__ import annotations

import torch.nn as nn
from ultralytics.nn.modules import C2PSA, SPPF, C2f, C3k2, Concat, Conv, Detect

# Family name -> the bundled yaml users know it by (for messages and docs).
FAMILIES = {"YOLOv8": "yolov8n.yaml", "YOLO11": "yolo11n.yaml", "YOLO26": "yolo26n.yaml"}

# Every top-level layer type those families use; Detect exactly (its subclasses are other tasks or heads).
LAYERS: frozenset[type] = frozenset({Conv, C2f, C3k2, SPPF, C2PSA, nn.Upsample, Concat, Detect})


def unsupported_layers(model: nn.Module) -> list[str]:
    """Names of the top-level layer types of ``model`` (a DetectionModel) that yolo-prune cannot prune."""
    return sorted({type(m).__name__ for m in model.model if type(m) not in LAYERS})


def supported_families() -> str:
    """'YOLOv8, YOLO11 and YOLO26', for messages."""
    names = list(FAMILIES)
    return f"{', '.join(names[:-1])} and {names[-1]}"
