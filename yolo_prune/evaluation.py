"""What a model costs and how well it detects: MACs, params, per-layer widths and mAP, measured the same way each step.

Usage:
    from yolo_prune.evaluation import count_macs_params, evaluate_map, layer_widths

    macs, params = count_macs_params(model, imgsz=640)  # Torch-Pruning's counter, batch 1
    metrics = evaluate_map(model, data="data.yaml", imgsz=640, batch=16, device="cpu", save_dir=run / "val")
    as_yolo_val = evaluate_map(model, "data.yaml", 640, 16, "cpu", run / "val_rect", rect=True)  # = YOLO(...).val()
    print(metrics["map50_95"], metrics["map50"])

All functions work on a copy: Ultralytics' validator fuses Conv+BN in place and freezes parameters, which would
break the next pruning step if it touched the model being pruned.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn as nn
import torch_pruning as tp


def count_macs_params(model: nn.Module, imgsz: int) -> tuple[int, int]:
    """MACs and parameters at ``imgsz`` (batch 1), counted by Torch-Pruning on an eval-mode copy."""
    m = copy.deepcopy(model).float().cpu().eval()
    with torch.no_grad():
        macs, params = tp.utils.count_ops_and_params(m, torch.zeros(1, 3, imgsz, imgsz))
    return int(macs), int(params)


def layer_widths(model: nn.Module) -> dict[str, int]:
    """Output channels of every conv (transposed ones too), by module name: where the model was cut shows up here."""
    from yolo_prune.structure.parts import CONVS

    return {name: m.out_channels for name, m in model.named_modules() if isinstance(m, CONVS)}


def evaluate_map(
    model: nn.Module, data: str, imgsz: int, batch: int, device: str | None, save_dir: Path, verbose: bool = False,
    rect: bool = False,
) -> dict[str, float]:  # fmt: skip
    """The task's metrics (detection: mAP50-95 and mAP50) on the data set's val split with Ultralytics' own
    validator for the model's task.

    ``rect=False`` (the default) letterboxes every image to ``imgsz`` x ``imgsz``: the input of the exported ONNX
    model, so PyTorch and ONNX Runtime see the same pixels. ``rect=True`` is what ``yolo val`` / ``YOLO.val()`` use
    (``Model.val`` sets it): rectangular batches, each letterboxed to its images' aspect ratio plus half a stride of
    padding (160 x 160 for square images at imgsz 128), which gives a different number.
    """
    from yolo_prune.structure import require_task

    task = require_task(model, "the model")
    args = dict(data=data, imgsz=imgsz, batch=batch, device=device or "", plots=False, rect=rect, verbose=verbose)
    validator = task.validator_cls()(args=args, save_dir=Path(save_dir))
    m = copy.deepcopy(model).float().eval()
    return task.scores(validator(model=m))
