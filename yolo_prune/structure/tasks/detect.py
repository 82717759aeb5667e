"""Detection (``Detect`` heads of YOLOv8, YOLO11 and YOLO26): the task every other is shaped after.

The head's prediction convs (class scores, box distribution) and DFL keep their width; the rest of the head is
pruned with the neck (``prune_head``). YOLO26's end-to-end head has one-to-one copies of both branches reading the
same inputs: their last convs are kept too, so both branches stay consistent.

Usage:
    from yolo_prune.structure.tasks import TASKS

    detect = TASKS["detect"]
    detect.fixed_outputs(model, prune_head=True)  # the last conv of each cv2/cv3 branch, and the DFL
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn
from ultralytics.nn.modules import Detect

from yolo_prune.structure.parts import CONVS
from yolo_prune.structure.tasks import Task

BRANCHES = ("cv2", "cv3", "one2one_cv2", "one2one_cv3")  # box and class branches; one2one_*: YOLO26's end-to-end copy


class DetectTask(Task):
    name = "detect"
    label = "detection"
    label_line = "class x_center y_center width height"
    heads = (Detect,)
    distills = True
    branches = BRANCHES  # the head's branches whose last conv is a prediction (fixed width)
    metrics = {"map50_95": ("metrics/mAP50-95(B)", "mAP50-95"), "map50": ("metrics/mAP50(B)", "mAP50")}
    box_rows = 4  # output0 is (batch, 4 + nc, anchors): xywh boxes in input pixels, then class probabilities

    model_path = "ultralytics.nn.tasks:DetectionModel"
    trainer_path = "ultralytics.models.yolo.detect:DetectionTrainer"
    validator_path = "ultralytics.models.yolo.detect:DetectionValidator"

    def check_dataset(self, path: str | Path) -> dict[str, Any]:
        from ultralytics.data.utils import check_det_dataset

        return check_det_dataset(str(path), autodownload=False)

    def fixed_outputs(self, model: nn.Module, prune_head: bool) -> list[nn.Module]:
        """The head's prediction convs and DFL (class count and box encoding), or, when ``prune_head`` is off, every
        conv of the head except the depthwise convs that open the class branches of YOLO11/YOLO26 heads (their
        output width is their input width, the neck's: keeping them would freeze the P3-P5 widths too)."""
        head = self.head(model)
        if not prune_head:
            convs = [m for m in head.modules() if isinstance(m, CONVS) and not _depthwise(m)]
            return convs + self.fixed_extras(head)
        branches = [getattr(head, n) for n in self.branches if getattr(head, n, None)]
        return [seq[-1] for branch in branches for seq in branch] + [head.dfl] + self.fixed_extras(head)

    def fixed_extras(self, head: nn.Module) -> list[nn.Module]:
        """Modules of the head besides its branches' last convs whose output width is the task's (none for boxes)."""
        return []

    def head_signature(self, model: nn.Module) -> dict[str, Any]:
        head = self.head(model)
        return {"classes": int(head.nc), "strides": [int(s) for s in head.stride.tolist()], "reg_max": int(head.reg_max),
                "end-to-end branches": getattr(head, "one2one_cv2", None) is not None}  # fmt: skip


def _depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups == conv.in_channels == conv.out_channels > 1
