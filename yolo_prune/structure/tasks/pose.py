"""Pose (``Pose`` heads of YOLOv8 and YOLO11, ``Pose26`` of YOLO26), shaped after detection as Ultralytics shapes
``PoseTrainer(DetectionTrainer)``.

Kept: detection's prediction convs and the keypoint convs: the last conv of each keypoint branch (``cv4[i][-1]``),
and, in ``Pose26``, the keypoint and sigma convs (``cv4_kpts``, ``cv4_sigma``) that read it (the sigma convs run
in training only), and YOLO26's one-to-one copies. Pruned: the rest of the head with the neck.

The exported ``output0`` is (batch, 4 + nc + nk, anchors): boxes in input pixels, class probabilities, then each
keypoint's x and y in input pixels (and its visibility where ``kpt_shape`` has 3 dims).

Usage:
    from yolo_prune.structure.tasks import TASKS

    TASKS["pose"].fixed_outputs(model, prune_head=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn as nn
from ultralytics.nn.modules import Pose
from ultralytics.nn.modules.head import Pose26

from yolo_prune.errors import UserError
from yolo_prune.structure.tasks.detect import BRANCHES, DetectTask

POSE26_OUTPUTS = ("cv4_kpts", "cv4_sigma", "one2one_cv4_kpts", "one2one_cv4_sigma")  # convs, not branches


class PoseTask(DetectTask):
    name = "pose"
    label = "pose"
    label_line = "class x_center y_center width height, then x y [visible] per keypoint of kpt_shape"
    heads = (Pose, Pose26)
    distills = False  # its distillation loss would also need the task's own outputs
    branches = (*BRANCHES, "cv4", "one2one_cv4")  # cv4: keypoints (in Pose26, features for POSE26_OUTPUTS)
    metrics = {  # pose (keypoint) mAP decides; the boxes' is logged beside it, as Ultralytics prints both
        "pose_map50_95": ("metrics/mAP50-95(P)", "pose mAP50-95"), "pose_map50": ("metrics/mAP50(P)", "pose mAP50"),
        "box_map50_95": ("metrics/mAP50-95(B)", "box mAP50-95"), "box_map50": ("metrics/mAP50(B)", "box mAP50"),
    }  # fmt: skip

    model_path = "ultralytics.nn.tasks:PoseModel"
    trainer_path = "ultralytics.models.yolo.pose:PoseTrainer"
    validator_path = "ultralytics.models.yolo.pose:PoseValidator"

    def check_dataset(self, path: str | Path) -> dict[str, Any]:
        data = super().check_dataset(path)
        if "kpt_shape" not in data:
            raise UserError("it has no kpt_shape: a pose data set states its keypoints, e.g. 'kpt_shape: [17, 3]'")
        return data

    def model_args(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"data_kpt_shape": tuple(data["kpt_shape"])}

    def data_mismatch(self, model: nn.Module, data: dict[str, Any]) -> str | None:
        ours, theirs = list(self.head(model).kpt_shape), list(data["kpt_shape"])
        if ours == theirs:
            return None
        return f"predicts keypoints of kpt_shape {ours} but {data.get('yaml_file', 'the data set')} has {theirs}"

    def fixed_extras(self, head: nn.Module) -> list[nn.Module]:
        """Pose26's keypoint and sigma convs (the sigma convs run in training only: an eval trace does not see them,
        so the branch convs they read, ``cv4[i][-1]``, keep their width too)."""
        return [conv for n in POSE26_OUTPUTS for conv in getattr(head, n, None) or ()]

    def pixel_rows(self, model: nn.Module, rows: int) -> list[int]:
        """Box rows, and each keypoint's x and y: the keypoints are the last ``nk`` rows, ``ndim`` per keypoint."""
        head = self.head(model)
        start = rows - head.nk
        return [*super().pixel_rows(model, rows), *(start + i for i in range(head.nk) if i % head.kpt_shape[1] < 2)]

    def head_signature(self, model: nn.Module) -> dict[str, Any]:
        return {**super().head_signature(model), "kpt_shape": list(self.head(model).kpt_shape)}
