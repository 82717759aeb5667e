"""Oriented boxes (``OBB`` heads of YOLOv8 and YOLO11, ``OBB26`` of YOLO26), shaped after detection as Ultralytics
shapes ``OBBTrainer(DetectionTrainer)``.

Kept: detection's prediction convs and the last conv of each angle branch (``cv4[i][-1]``, and YOLO26's one-to-one
copy). Pruned: the rest of the head with the neck. The run is judged by box mAP50-95 of the rotated boxes.

The exported ``output0`` is (batch, 4 + nc + 1, anchors): xywh in input pixels, class probabilities, then the angle
in radians.

Usage:
    from yolo_prune.structure.tasks import TASKS

    TASKS["obb"].fixed_outputs(model, prune_head=True)  # detection's and each cv4[i][-1]
"""

from __future__ import annotations

from ultralytics.nn.modules import OBB
from ultralytics.nn.modules.head import OBB26

from yolo_prune.structure.tasks.detect import BRANCHES, DetectTask


class OBBTask(DetectTask):
    name = "obb"
    label = "oriented-box"
    label_line = "class x1 y1 x2 y2 x3 y3 x4 y4 (the four corners)"
    heads = (OBB, OBB26)
    distills = False  # its distillation loss would also need the task's own outputs
    branches = (*BRANCHES, "cv4", "one2one_cv4")  # cv4: angles
    metrics = DetectTask.metrics  # the rotated boxes' mAP (OBBMetrics keeps the box keys)

    model_path = "ultralytics.nn.tasks:OBBModel"
    trainer_path = "ultralytics.models.yolo.obb:OBBTrainer"
    validator_path = "ultralytics.models.yolo.obb:OBBValidator"
