"""Instance segmentation (``Segment`` heads of YOLOv8 and YOLO11, ``Segment26`` of YOLO26), shaped after detection
as Ultralytics shapes ``SegmentationTrainer(DetectionTrainer)``.

Kept: detection's prediction convs, the last conv of each mask-coefficient branch (``cv4``, and YOLO26's one-to-one
copy), and the whole prototype module (``proto``): its convs, its transposed-conv upsample and, in YOLO26, the
``feat_refine`` convs added to P3 and the training-only semantic branch that reads P3 (an eval-mode trace does not
see it), so YOLO26-seg's P3 width stays too. The prototype width (``npr``, a yaml argument) is written into the
pruned model's yaml as built. Pruned: the rest of the head (mask-coefficient branches' inner convs) with the neck.

The exported model has two outputs: ``output0`` (batch, 4 + nc + nm, anchors), boxes in input pixels, class
probabilities, mask coefficients; ``output1`` the prototypes (batch, nm, h, w).

Usage:
    from yolo_prune.structure.tasks import TASKS

    segment = TASKS["segment"]
    segment.fixed_outputs(model, prune_head=True)  # detection's, each cv4[i][-1] and the prototype module
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn
from ultralytics.nn.modules import Segment
from ultralytics.nn.modules.head import Segment26

from yolo_prune.structure.tasks.detect import BRANCHES, DetectTask


class SegmentTask(DetectTask):
    name = "segment"
    label = "segmentation"
    label_line = "class x1 y1 x2 y2 x3 y3 ... (a polygon)"
    heads = (Segment, Segment26)
    distills = False  # its distillation loss would also need the task's own outputs
    branches = (*BRANCHES, "cv4", "one2one_cv4")  # cv4: mask coefficients
    metrics = {"map50_95": "metrics/mAP50-95(M)", "map50": "metrics/mAP50(M)"}  # mask mAP decides

    model_path = "ultralytics.nn.tasks:SegmentationModel"
    trainer_path = "ultralytics.models.yolo.segment:SegmentationTrainer"
    validator_path = "ultralytics.models.yolo.segment:SegmentationValidator"

    def fixed_extras(self, head: nn.Module) -> list[nn.Module]:
        return [head.proto]

    def eval_outputs(self, out: Any) -> list[Any]:
        """``((output0, prototypes), raw)``: both outputs."""
        return list(out[0])

    def head_signature(self, model: nn.Module) -> dict[str, Any]:
        return {**super().head_signature(model), "masks": int(self.head(model).nm)}

    def yaml_head_args(self, model: nn.Module, args: list[Any]) -> list[Any]:
        """Segment's row is ``[nc, nm, npr]``: ``npr`` is the prototype width as built (the base's, scaled)."""
        return [*args[:2], int(self.head(model).proto.cv1.conv.out_channels), *args[3:]]
