"""Distillation from the unpruned base model while a pruned model fine-tunes (``--distill``).

The teacher is the run's own base model (``weights/base.pt``): the student was cut from it, sees the same images
at the same size and predicts on the same anchor grid, so every anchor's outputs can be matched one to one, with no
projection layer to learn. The loss added to Ultralytics' detection loss is ``weight * (cls + box)``:

- ``cls``: the binary KL divergence of each anchor's class scores from the teacher's sigmoid scores (BCE to the
  teacher's scores minus the teacher's own entropy, so it is 0 when they agree), summed over anchors and classes and
  divided by the sum of the teacher's best score per anchor, as Ultralytics divides its class loss by the summed
  target scores;
- ``box``: for heads with box distributions (``reg_max`` 16: YOLOv8, YOLO11) the KL divergence of each side's
  distribution from the teacher's (localization distillation), for YOLO26's direct box regression (``reg_max`` 1)
  the L1 distance of the four sides in grid cells; each anchor weighted by the teacher's best class score, so that
  background anchors, whose boxes mean nothing, hardly count.

End-to-end heads (YOLO26) distill both branches, one-to-many and one-to-one, each from the teacher's same branch.
The weight ramps linearly from 0 over the first ``warmup`` epochs (counted in training batches).

The loss is installed as the student's ``criterion`` once Ultralytics has built the trainer's EMA, so the EMA, and
every checkpoint saved from it, is the stock student without teacher; the teacher lives only in the trainer. Each
fine-tuning folder gets a ``distill.yaml`` (teacher, weight, warm-up) and a ``kd_loss`` column in ``results.csv``.

Usage:
    from yolo_prune.distill import DistillTrainer
    from yolo_prune.training import finetune

    model = finetune(model, "data.yaml", {"epochs": 10}, run / "finetune/step_01", trainer_cls=DistillTrainer,
                     distill={"teacher": str(run / "weights/base.pt"), "weight": 1.0, "warmup": 1.0})

CLI:
    yolo-prune --model best.pt --data data.yaml --distill
    yolo-prune --method finetune --model final.pt --data data.yaml --distill --teacher best.pt
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from yolo_prune.errors import RunError, UserError
from yolo_prune.rundir import write_yaml
from yolo_prune.structure import require_task
from yolo_prune.structure.tasks import DEFAULT_TASK, TASKS, Task
from yolo_prune.training import PrunedTraining, trainer_class


def head_signature(model: nn.Module) -> dict[str, Any]:
    """What two models must share for their head outputs to match anchor by anchor: their task says."""
    return require_task(model, "the model").head_signature(model)


def check_teacher(teacher: str | Path | None, student: nn.Module) -> None:
    """Refuse, before any work, a ``--teacher`` whose head does not match the student's: another class count,
    other detection levels (strides), another box encoding (``reg_max``) or end-to-end branches on one side only.
    ``None`` is the run's own base model, which matches by construction. A model of a task whose outputs
    distillation does not know (all but detection, for now) is refused too."""
    task = require_task(student, "the model")
    if not task.distills:
        known = ", ".join(t.label for t in TASKS.values() if t.distills)
        raise UserError(f"--distill is for {known} models only for now; this is a {task.label} model (its "
                        "distillation loss matches box and class outputs only): prune it without --distill")
    if teacher is None:
        return
    from yolo_prune.checkpoint import load_detector

    theirs, ours = head_signature(load_detector(teacher)), head_signature(student)
    differ = [f"{k} {theirs[k]} against the model's {ours[k]}" for k in ours if theirs[k] != ours[k]]
    if differ:
        raise UserError(f"teacher {teacher} cannot teach this model anchor by anchor: {'; '.join(differ)}")


def distill_kwargs(settings: dict[str, Any], base: Path, task: Task) -> dict[str, Any]:
    """``finetune`` keyword arguments that distill from the run's teacher (``teacher``, else its ``base`` model),
    or none when the run does not distill."""
    if not settings["distill"]:
        return {}
    teacher = Path(settings.get("teacher") or base).absolute()
    if not teacher.is_file():
        raise UserError(f"the teacher of this run is gone: {teacher}")
    return {"trainer_cls": trainer_class(task, DistillTraining), "distill": {"teacher": str(teacher), "weight": settings["distill_weight"],
                                                       "warmup": settings["distill_warmup"]}}  # fmt: skip


def _branches(preds: Any) -> dict[str, dict[str, torch.Tensor]]:
    """A head's raw outputs by branch: ``{"": ...}`` for a one-branch head, one2many/one2one for end-to-end heads."""
    preds = preds[1] if isinstance(preds, tuple) else preds
    return {k: preds[k] for k in ("one2many", "one2one")} if "one2many" in preds else {"": preds}


def head_distillation_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor],
                           reg_max: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(cls, box)`` distillation losses of one head branch (raw outputs: ``scores`` (B, nc, A) logits, ``boxes``
    (B, 4 * reg_max, A)); see the module docstring."""
    s_scores, t_scores = student["scores"].float(), teacher["scores"].float()
    target = t_scores.sigmoid()
    cls = F.binary_cross_entropy_with_logits(s_scores, target, reduction="none")
    cls = cls - F.binary_cross_entropy_with_logits(t_scores, target, reduction="none")
    weight = target.amax(1)  # (B, A): how sure the teacher is that an object is there
    norm = weight.sum().clamp(min=1)
    b, _, a = student["boxes"].shape
    if reg_max > 1:
        s_log = F.log_softmax(student["boxes"].float().view(b, 4, reg_max, a), 2)
        t_log = F.log_softmax(teacher["boxes"].float().view(b, 4, reg_max, a), 2)
        box = F.kl_div(s_log, t_log, reduction="none", log_target=True).sum(2).mean(1)
    else:
        box = (student["boxes"].float() - teacher["boxes"].float()).abs().mean(1)
    return cls.sum() / norm, (box * weight).sum() / norm


class HeadDistillationLoss:
    """The student's own Ultralytics criterion plus ``weight * (cls + box)`` distillation from ``teacher``.

    Called as Ultralytics calls a criterion, ``(preds, batch) -> (loss, items)``; the loss gains a fourth entry
    (times the batch size, as Ultralytics scales its own) and the items a ``kd_loss``, which Ultralytics logs."""

    def __init__(self, criterion: Any, teacher: nn.Module, weight: float, warmup: int) -> None:
        self.criterion, self.teacher, self.weight, self.warmup = criterion, teacher, float(weight), int(warmup)
        self.reg_max = int(head_signature(teacher)["reg_max"])
        self.batches = 0

    def update(self) -> None:
        """Ultralytics' end-of-epoch hook of criteria (E2ELoss shifts its branch weights there)."""
        if hasattr(self.criterion, "update"):
            self.criterion.update()

    def current_weight(self) -> float:
        return self.weight * min(1.0, self.batches / self.warmup) if self.warmup > 0 else self.weight

    def __call__(self, preds: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss, items = self.criterion(preds, batch)
        kd = torch.zeros(1, device=loss.device)
        if not isinstance(preds, tuple):  # a training forward (an eval forward returns a tuple): distill
            with torch.no_grad():
                teacher = _branches(self.teacher(batch["img"]))
            for name, student in _branches(preds).items():
                cls, box = head_distillation_loss(student, teacher[name], self.reg_max)
                kd = kd + (cls + box) / len(teacher)
            kd = kd * self.current_weight()
            self.batches += 1
        items = {**items, "kd_loss": kd.detach()[0]}
        return torch.cat([loss, kd * batch["img"].shape[0]]), items


class DistillTraining(PrunedTraining):
    """``PrunedTraining`` whose student also learns from a frozen teacher (``HeadDistillationLoss``).

    The teacher's path, the weight and the warm-up travel in the hand-off checkpoint's ``yolo_prune.distill`` entry,
    as ``SparseTrainer``'s settings do, so that multi-GPU workers rebuilt from the arguments distill too."""

    class_name = "DistillTrainer"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_callback("on_pretrain_routine_end", lambda trainer: trainer.install_distillation())

    def setup_model(self):
        ckpt = super().setup_model()
        self.distill = dict(ckpt["yolo_prune"]["distill"])
        return ckpt

    def load_teacher(self) -> nn.Module:
        from yolo_prune.checkpoint import load_detector

        teacher = load_detector(Path(self.distill["teacher"])).to(self.device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def install_distillation(self) -> None:
        """Set the student's criterion to the distillation loss, after the EMA copy was made (so no checkpoint
        carries the teacher)."""
        from ultralytics.utils.torch_utils import unwrap_model

        student = unwrap_model(self.model)
        self.teacher = self.load_teacher()
        if head_signature(self.teacher) != head_signature(student):
            raise RunError(f"the teacher {self.distill['teacher']} cannot teach this model anchor by anchor: its head "
                           f"has {head_signature(self.teacher)}, the model's {head_signature(student)}")
        warmup = round(float(self.distill["warmup"]) * len(self.train_loader))  # epochs -> batches
        student.criterion = HeadDistillationLoss(student.init_criterion(), self.teacher, self.distill["weight"], warmup)
        write_yaml(self.save_dir / "distill.yaml", {**self.distill, "warmup_batches": warmup})


for _task in TASKS.values():
    trainer_class(_task, DistillTraining)
DistillTrainer = trainer_class(DEFAULT_TASK, DistillTraining)
