"""Tasks: what yolo-prune knows about each kind of YOLO head, as a table of small classes (as Ultralytics maps tasks
to model, trainer and validator classes in ``YOLO.task_map``).

A ``Task`` says, for one head: its Ultralytics model, trainer and validator classes, the metric its runs are judged
by, the outputs whose width is fixed (class count, box encoding), how its exported output is laid out (for the ONNX
check and the speed target), how its data set is checked, and what distillation reads from it. The pipeline asks the
task instead of naming detection; a new task is one small class in its own module, added to ``TASKS``.

Usage:
    from yolo_prune.structure.tasks import TASKS, require_task, task_of

    task = task_of(model)  # DetectTask for a model whose last layer is a Detect head, else None
    task = require_task(model, "best.pt")  # the same, or a UserError naming what the model is
    validator = task.validator_cls()(args=dict(data="data.yaml", imgsz=640), save_dir=Path("val"))
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch.nn as nn

from yolo_prune.errors import UserError
from yolo_prune.structure.parts import supported_families


class Task:
    """One kind of head. Class attributes are data; the methods read a model of this task."""

    label = ""  # what users call it, for messages ("detection")
    name = ""  # Ultralytics' task name (``model.task``, ``task=`` of its trainers and validators)
    heads: tuple[type, ...] = ()  # the head classes (exact types) that make a model of this task
    # Our metric name -> (the validator's key, its label for people). The first one decides (``--max-map-drop``, the
    # early stop, a fine-tuning kept or not); the run logs every one, after pruning and after fine-tuning.
    metrics: dict[str, tuple[str, str]] = {}
    label_line = ""  # what one line of its YOLO label files holds, for messages
    distills = False  # whether distillation (``--distill``) knows this head's outputs
    folder_data = False  # whether its data set is a folder of class folders (else a data set yaml with labels)
    box_rows = 0  # leading rows of the exported output that are pixel coordinates (the rest are scores)
    val_rect = True  # whether ``yolo val`` (Model.val sets rect=True) validates on rectangular letterboxed batches

    # Ultralytics' classes for the task, as ``YOLO.task_map`` names them: imported when first asked for.
    model_path = trainer_path = validator_path = ""  # "module:Class"

    def model_cls(self) -> type:
        return _imported(self.model_path)

    def trainer_cls(self) -> type:
        return _imported(self.trainer_path)

    def validator_cls(self) -> type:
        return _imported(self.validator_path)

    def check_dataset(self, path: str | Path) -> dict[str, Any]:
        """Ultralytics' own parse of the data set yaml for this task (raises what Ultralytics raises)."""
        raise NotImplementedError

    def check_folders(self, data: str | Path) -> dict[str, Any]:
        """The info of a data set that is a folder (a task with ``folder_data``), after checking it: what
        ``check_dataset`` gives for a yaml."""
        raise NotImplementedError

    def model_args(self, data: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of ``model_cls`` that a data set's info (``check_dataset``) gives besides ``nc``."""
        return {}

    def data_mismatch(self, model: nn.Module, data: dict[str, Any]) -> str | None:
        """How ``model``'s head disagrees with a data set's info besides the class count ("predicts ... but ..."),
        or None."""
        return None

    def head(self, model: nn.Module) -> nn.Module:
        return head_of(model)

    def classes(self, model: nn.Module) -> int:
        """The class count that decides the head's output shape."""
        return int(self.head(model).nc)

    def fixed_outputs(self, model: nn.Module, prune_head: bool) -> list[nn.Module]:
        """Head modules whose output width must stay (in the prunable form)."""
        raise NotImplementedError

    @property
    def yardstick(self) -> str:
        """The metric that decides."""
        return next(iter(self.metrics))

    @property
    def metric_labels(self) -> dict[str, str]:
        """Our metric names -> their labels, the deciding one first: what a run records for its report."""
        return {ours: label for ours, (_, label) in self.metrics.items()}

    def scores(self, results: dict[str, Any]) -> dict[str, float]:
        """Our metrics from a validator's results."""
        return {ours: float(results[theirs]) for ours, (theirs, _) in self.metrics.items()}

    def eval_outputs(self, out: Any) -> list[Any]:
        """An eval-mode forward's result as the exported model's outputs, in order (``output0``, ``output1``...)."""
        return [out[0] if isinstance(out, (tuple, list)) else out]

    def pixel_rows(self, model: nn.Module, rows: int) -> list[int]:
        """Indices of the rows (axis 1) of ``model``'s exported first output, ``rows`` long, in input pixels."""
        return list(range(self.box_rows))

    def split_output(self, output: np.ndarray, model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
        """``model``'s exported first output as (pixel coordinates, class probabilities), along axis 1; the rows of
        other kinds (mask coefficients, angles, keypoint visibility) are in neither."""
        scores = output[:, self.box_rows : self.box_rows + self.classes(model)]
        return output[:, self.pixel_rows(model, output.shape[1])], scores

    def other_change(self, reference: list[np.ndarray], outputs: list[np.ndarray], weight: np.ndarray,
                     model: nn.Module) -> float:  # fmt: skip
        """How far a cut moves what the task predicts besides boxes and class scores, as a share (0: unchanged), from
        one image's exported ``outputs`` against the uncut model's ``reference``; ``weight`` is the reference's
        confidence per anchor. The speed target adds it to the change it ranks layers by. None besides, by default."""
        return 0.0

    def head_signature(self, model: nn.Module) -> dict[str, Any]:
        """What two models must share for one to teach the other output by output (distillation)."""
        raise NotImplementedError

    def yaml_head_args(self, model: nn.Module, args: list[Any], width: Callable[[str], int] | None = None,
                       ) -> list[Any]:  # fmt: skip
        """The head's yaml row arguments ``args`` restated for stock-form ``model``'s widths, or for the widths
        ``width(conv name)`` wants (where the head's row states a width, e.g. Segment's prototype width)."""
        return args


def _imported(path: str) -> type:
    """The class ``"module:Class"`` names."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _tasks() -> dict[str, Task]:
    from yolo_prune.structure.tasks.classify import ClassifyTask
    from yolo_prune.structure.tasks.detect import DetectTask
    from yolo_prune.structure.tasks.obb import OBBTask
    from yolo_prune.structure.tasks.pose import PoseTask
    from yolo_prune.structure.tasks.segment import SegmentTask

    return {t.name: t for t in (DetectTask(), SegmentTask(), PoseTask(), OBBTask(), ClassifyTask())}


TASKS: dict[str, Task] = _tasks()
DEFAULT_TASK: Task = TASKS["detect"]
"""The task whose yolo-prune trainers keep the names they had before there were other tasks (``PrunedModelTrainer``,
``SparseTrainer``, ``DistillTrainer``): pruned checkpoints' messages name them."""


def head_of(model: nn.Module) -> nn.Module | None:
    """The head of a YOLO model (its last layer), or None for a module that is no YOLO model."""
    layers = getattr(model, "model", None)
    return layers[-1] if isinstance(layers, nn.Sequential) and len(layers) else None


def task_of(model: nn.Module) -> Task | None:
    """The task of ``model``'s head (by exact type), or None for a head yolo-prune does not prune."""
    return next((t for t in TASKS.values() if type(head_of(model)) in t.heads), None)


def head_task(model: nn.Module) -> str:
    """Ultralytics' task name for ``model``'s head, read from the head's class as Ultralytics reads a yaml's last
    module (the saved train args may say 'detect' whatever the head is), for messages."""
    from ultralytics.nn.tasks import guess_model_task

    head = head_of(model)
    if head is None:
        return "non-YOLO"
    return guess_model_task({"head": [[-1, 1, type(head).__name__, []]]}) or f"{type(head).__name__}-headed"


def supported_tasks() -> str:
    """'detection, segmentation, pose, oriented-box and classification', for messages: the tasks yolo-prune
    prunes."""
    labels = [t.label for t in TASKS.values()]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"


UNSUPPORTED = {"semantic": "semantic-segmentation", "depth": "depth-estimation"}
"""Ultralytics tasks yolo-prune refuses (YOLO26's ``-sem`` and ``-depth`` models), as users call them."""


def refusal(source: Any, kind: str) -> UserError:
    """The one-line refusal of a model of ``kind`` (an Ultralytics task name or a head's description)."""
    return UserError(f"{source} is a {UNSUPPORTED.get(kind, kind)} model; yolo-prune supports {supported_tasks()} "
                     "models only")  # fmt: skip


def require_task(model: nn.Module, source: Any) -> Task:
    """The task of ``model``, or a UserError that names what ``source`` is instead: the one task gate."""
    task = task_of(model)
    if task is not None:
        return task
    name = head_task(model)
    if name in TASKS:  # a head of a task we prune, but of another family (e.g. YOLOv10's v10Detect)
        raise UserError(f"{source} has layers yolo-prune cannot prune ({type(head_of(model)).__name__}); it prunes "
                        f"{supported_families()} {TASKS[name].label} models")  # fmt: skip
    raise refusal(source, name)


def task_named(name: str | None, source: Any) -> Task:
    """The task Ultralytics names ``name`` (e.g. guessed from a model yaml), or the same refusal."""
    if name in TASKS:
        return TASKS[name]
    if not name:
        raise UserError(f"{source} describes no YOLO task yolo-prune knows; it supports {supported_tasks()} models only")
    raise refusal(source, name)
