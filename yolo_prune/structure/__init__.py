"""The model's structure, in one place: parts per layer type, tasks per head, and the adapter that asks them.

- ``parts``: a ``Part`` per Ultralytics layer type, registered by type (as Torch-Pruning registers pruners): how it
  enters and leaves the prunable form, which channels it keeps, its model-yaml row, its ONNX split. ``layers``,
  ``c2f`` and ``attention`` hold the parts of the YOLOv8, YOLO11 and YOLO26 bodies.
- ``tasks``: a ``Task`` per head (as Ultralytics' ``task_map``): its model, trainer and validator classes, metric,
  fixed outputs, output layout, data set check and what distillation reads. ``tasks.detect`` is detection;
  ``tasks.segment``, ``tasks.pose`` and ``tasks.obb`` are shaped after it.
- ``adapter``: ``ModelAdapter``, built once per run (the one task gate) and handed to everything that meets the
  model's structure; ``prunable_form`` is the one prunable form, ``stock_name`` the one renamer.
- ``model_yaml``: pruned widths written as an Ultralytics model yaml, rows taken from the parts.

Usage:
    from yolo_prune.structure import CUSTOMIZED_PRUNERS, ModelAdapter

    adapter = ModelAdapter.of(model, "best.pt")
    with adapter.prunable_form(model):
        ignored = adapter.fixed(model, prune_head=True)  # pass with CUSTOMIZED_PRUNERS to a Torch-Pruning pruner
"""

from yolo_prune.structure import layers as _layers  # noqa: F401  (registers the plain layers' parts)
from yolo_prune.structure.adapter import ModelAdapter
from yolo_prune.structure.attention import CUSTOMIZED_PRUNERS, OpaqueBlock
from yolo_prune.structure.c2f import C2f_v2, split_widths
from yolo_prune.structure.parts import (
    FAMILIES, PARTS, Part, Row, part_of, register, stock_name, supported_families, unsupported_layers,
)
from yolo_prune.structure.tasks import TASKS, Task, require_task, task_of

__all__ = [
    "CUSTOMIZED_PRUNERS", "C2f_v2", "FAMILIES", "ModelAdapter", "OpaqueBlock", "PARTS", "Part", "Row", "TASKS", "Task",
    "part_of", "register", "require_task", "split_widths", "stock_name", "supported_families", "task_of",
    "unsupported_layers",
]  # fmt: skip
