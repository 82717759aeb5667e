"""Instance segmentation (``Segment`` heads of YOLOv8 and YOLO11, ``Segment26`` of YOLO26), shaped after detection
as Ultralytics shapes ``SegmentationTrainer(DetectionTrainer)``.

Kept: detection's prediction convs, the last conv of each mask-coefficient branch (``cv4``, and YOLO26's one-to-one
copy) and the prototype module's output conv (``proto.cv3``, one channel per mask). Pruned with the neck: the rest
of the head, and in YOLOv8/YOLO11 the prototype's inner width (``npr``): its first conv, its transposed-conv
upsample and its second conv keep one width (``ProtoPart``), the one the yaml row states, written back as built.
YOLO26's ``Proto26`` is kept whole: its training-only semantic branch (an eval-mode trace does not see it) is built
at ``npr`` and reads P3 through ``feat_refine``, so YOLO26-seg's P3 width stays too.

The exported model has two outputs: ``output0`` (batch, 4 + nc + nm, anchors), boxes in input pixels, class
probabilities, mask coefficients; ``output1`` the prototypes (batch, nm, h, w).

Usage:
    from yolo_prune.structure.tasks import TASKS

    segment = TASKS["segment"]
    segment.fixed_outputs(model, prune_head=True)  # detection's, each cv4[i][-1] and the prototype module
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch.nn as nn
from ultralytics.nn.modules import Proto, Segment
from ultralytics.nn.modules.head import Segment26

from yolo_prune.structure.parts import Part, register
from yolo_prune.structure.tasks.detect import BRANCHES, DetectTask


@register
class ProtoPart(Part):
    """YOLOv8/YOLO11's prototype module: its yaml row (the head's ``npr``) states one inner width for three layers."""

    types = (Proto,)  # exactly: Proto26 is kept whole

    def tied(self, module: nn.Module) -> list[tuple[nn.Module, ...]]:
        return [(module.cv1.conv, module.upsample, module.cv2.conv)]


class SegmentTask(DetectTask):
    name = "segment"
    label = "segmentation"
    label_line = "class x1 y1 x2 y2 x3 y3 ... (a polygon)"
    heads = (Segment, Segment26)
    distills = False  # its distillation loss would also need the task's own outputs
    branches = (*BRANCHES, "cv4", "one2one_cv4")  # cv4: mask coefficients
    metrics = {  # mask mAP decides; the boxes' is logged beside it, as Ultralytics prints both
        "mask_map50_95": ("metrics/mAP50-95(M)", "mask mAP50-95"), "mask_map50": ("metrics/mAP50(M)", "mask mAP50"),
        "box_map50_95": ("metrics/mAP50-95(B)", "box mAP50-95"), "box_map50": ("metrics/mAP50(B)", "box mAP50"),
    }  # fmt: skip

    model_path = "ultralytics.nn.tasks:SegmentationModel"
    trainer_path = "ultralytics.models.yolo.segment:SegmentationTrainer"
    validator_path = "ultralytics.models.yolo.segment:SegmentationValidator"

    def fixed_extras(self, head: nn.Module) -> list[nn.Module]:
        """The prototypes' output conv (one channel per mask); all of YOLO26's ``Proto26``."""
        return [head.proto] if isinstance(head, Segment26) else [head.proto.cv3]

    def eval_outputs(self, out: Any) -> list[Any]:
        """``((output0, prototypes), raw)``: both outputs."""
        return list(out[0])

    def other_change(self, reference: list[np.ndarray], outputs: list[np.ndarray], weight: np.ndarray,
                     model: nn.Module) -> float:  # fmt: skip
        """The masks: the mask coefficients' relative L1 change weighted by confidence, plus the prototypes'."""
        rows = slice(self.box_rows + self.classes(model), None)
        r, o = reference[0][0, rows], outputs[0][0, rows]
        w = weight[0]
        coefficients = (np.abs(o - r).sum(axis=0) * w).sum() / max((np.abs(r).sum(axis=0) * w).sum(), 1e-12)
        prototypes = np.abs(outputs[1] - reference[1]).sum() / max(np.abs(reference[1]).sum(), 1e-12)
        return float(coefficients + prototypes)

    def head_signature(self, model: nn.Module) -> dict[str, Any]:
        return {**super().head_signature(model), "masks": int(self.head(model).nm)}

    def yaml_head_args(self, model: nn.Module, args: list[Any], width: Callable[[str], int] | None = None,
                       ) -> list[Any]:  # fmt: skip
        """Segment's row is ``[nc, nm, npr]``: ``npr`` is the prototype's inner width (its first conv's) as built, or
        as ``width`` wants it."""
        name = f"model.{len(model.model) - 1}.proto.cv1.conv"
        npr = width(name) if width is not None else self.head(model).proto.cv1.conv.out_channels
        return [*args[:2], int(npr), *args[3:]]
