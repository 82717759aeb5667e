"""Fine-tuning and sparse training of a pruned model through Ultralytics' own trainer for its task.

``YOLO(...).train()`` rebuilds the model from its yaml and copies only the tensors whose shapes match, so a pruned
model silently grows back to full width. ``PrunedModelTrainer`` keeps the structure instead: the model reaches it
as a checkpoint path (``model=...pt``), and ``get_model`` returns the loaded module itself. A path rather than an
in-memory module because Ultralytics' multi-GPU mode rebuilds the trainer from its arguments in worker processes.

Usage:
    from yolo_prune.training import SparseTrainer, finetune

    model = finetune(model, data="data.yaml", train_args={"epochs": 10, "imgsz": 640}, save_dir=run / "finetune/step_01")
    # sparse training: an L1 penalty on the named BatchNorms' scales, and the last epoch's weights back
    model = finetune(model, "data.yaml", {"epochs": 50}, run / "sparse", trainer_cls=SparseTrainer, weights="last",
                     sparse={"sr": 0.01, "anneal": True, "bns": ["model.0.bn", "model.1.bn"]})

CLI:
    yolo-prune --model best.pt --data data.yaml --epochs 10   # fine-tunes after every pruning step
    yolo-prune --method slim --model best.pt --data data.yaml --sr 0.01 --sparse-epochs 50   # sparse training first
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

import sys

import torch
import torch.nn as nn

from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.errors import RunError
from yolo_prune.structure import TASKS, Task, require_task
from yolo_prune.structure.tasks import DEFAULT_TASK

# Settings we decide for fine-tuning, whatever the user's cfg says.
_FIXED = {"pretrained": True, "resume": False, "exist_ok": True, "val": True}


def trainer_class(task: Task, role: type) -> type:
    """``role`` (a mixin: ``PrunedTraining``, ``SparseTraining``, ``DistillTraining``) over ``task``'s Ultralytics
    trainer, as Ultralytics subclasses one task's trainer for another. One class per pair, made once and importable
    by its name from the role's module, where Ultralytics' multi-GPU workers look for it: ``<Role><Task>Trainer``,
    and for the default task the names yolo-prune has always had (``role.class_name``: ``PrunedModelTrainer``...), which
    the messages in pruned checkpoints name."""
    module = sys.modules[role.__module__]
    name = role.class_name if task is DEFAULT_TASK else f"{role.__name__.removesuffix('Training')}{task.name.title()}Trainer"
    cls = getattr(module, name, None)
    if cls is None:
        cls = type(name, (role, task.trainer_cls()), {"__module__": role.__module__, "__qualname__": name,
                                                     "__doc__": role.__doc__})  # fmt: skip
        setattr(module, name, cls)
    return cls


class PrunedTraining:
    """A task's Ultralytics trainer that trains the checkpoint's own module instead of a model rebuilt from its yaml.
    Its class for the default task, ``PrunedModelTrainer``, is named in the message a pruned checkpoint's yaml stops
    stock training with."""

    class_name = "PrunedModelTrainer"

    def get_model(self, cfg=None, weights: nn.Module | None = None, verbose: bool = True) -> nn.Module:
        if not isinstance(weights, nn.Module):
            raise RunError(f"{type(self).__name__} needs model=<checkpoint .pt>, got {self.args.model!r}")
        for p in weights.parameters():
            p.requires_grad_(True)  # checkpoints derived from EMA come with gradients off
        return weights


def annealed_sr(sr: float, epoch: int, epochs: int) -> float:
    """``sr`` of epoch ``epoch`` (0-based) of ``epochs`` when annealing: ``sr`` in the first epoch, falling linearly to
    exactly 10% of it in the last (the public slimming forks' schedule); a single epoch keeps the whole ``sr``."""
    if epochs <= 1:
        return sr
    return sr * (1 - 0.9 * min(epoch, epochs - 1) / (epochs - 1))


class SparseTraining(PrunedTraining):
    """Network slimming's sparse training: an L1 penalty ``sr * sum(|gamma|)`` on the scales of the BatchNorms named in
    the checkpoint, applied as a proximal (soft-threshold) step right after each optimizer step::

        gamma <- sign(gamma) * max(|gamma| - lr * sr, 0)

    where ``lr`` is the learning rate of gamma's parameter group at that step. This is the step plain SGD takes on the
    penalty, but outside the optimizer: gradient clipping (Ultralytics clips the total norm to 10), AMP's loss scale,
    gradient accumulation and Adam's per-parameter scaling do not touch it. Each optimizer step therefore pulls every
    penalised |gamma| exactly ``lr * sr`` toward zero, never past it (``shrink`` sums that over the run). Added to the
    gradients as ``sr * sign(gamma)`` instead, the penalty was clipped 5-45x down in our measurements, and AdamW
    turned it into a step of about ``lr`` whatever ``sr`` was.

    ``sr`` falls linearly to 10% by the last epoch when annealing is on (``annealed_sr``). The settings and the names
    of the BatchNorms to penalise travel in the checkpoint's ``yolo_prune.sparse`` entry, so that multi-GPU workers
    rebuilt from the arguments get them too.
    """

    class_name = "SparseTrainer"

    def setup_model(self):
        ckpt = super().setup_model()
        sparse = ckpt["yolo_prune"]["sparse"]
        self.sr, self.sr_anneal = float(sparse["sr"]), bool(sparse["anneal"])
        self.bn_names = list(sparse["bns"])
        modules = dict(self.model.named_modules())
        missing = [n for n in self.bn_names if not isinstance(modules.get(n), nn.BatchNorm2d)]
        if missing:
            raise RunError(f"sparse training: the model has no BatchNorm named {', '.join(missing[:3])}")
        self.bns = [modules[n] for n in self.bn_names]
        self.shrink = 0.0
        return ckpt

    def current_sr(self) -> float:
        return annealed_sr(self.sr, self.epoch, self.epochs) if self.sr_anneal else self.sr

    def build_optimizer(self, *args: Any, **kwargs: Any) -> torch.optim.Optimizer:
        """Ultralytics' optimizer, with the proximal step hooked to run after each of its steps."""
        optimizer = super().build_optimizer(*args, **kwargs)
        optimizer.register_step_post_hook(self.proximal_step)
        return optimizer

    @torch.no_grad()
    def proximal_step(self, optimizer: torch.optim.Optimizer, args: Any = (), kwargs: Any = None) -> None:
        """Soft-threshold the penalised scales by ``lr * sr``, with the step's ``lr`` of each one's parameter group.

        Runs only when the optimizer really stepped: AMP's scaler skips ``step()`` on overflow, except for fused
        optimizers, which it hands ``found_inf`` to skip inside the kernel; the shrink is zeroed with it then.
        """
        sr, weights = self.current_sr(), {id(bn.weight): bn.weight for bn in self.bns}
        if not weights:
            return
        skipped = getattr(optimizer, "found_inf", None)
        mean_shrink = 0.0
        for group in optimizer.param_groups:
            params = [weights[id(p)] for p in group["params"] if id(p) in weights]
            if not params:
                continue
            shrink = group["lr"] * sr if skipped is None else group["lr"] * sr * (1 - skipped)
            for w in params:
                w.copy_(w.sign() * (w.abs() - shrink).clamp_(min=0))
            mean_shrink = mean_shrink + shrink * sum(w.numel() for w in params)
        self.shrink = self.shrink + mean_shrink / sum(w.numel() for w in weights.values())

    def optimizer_step(self) -> None:
        """Ultralytics' step (unscale, clip, step and with it the proximal step, EMA), after a check that the loss is
        finite, so that a diverged run stops with one clear line instead of saving NaN weights."""
        if self.loss is not None and not torch.isfinite(self.loss).all():
            raise RunError(
                f"sparse training diverged: the loss became {self.loss.item()} in epoch {self.epoch + 1}; lower the "
                "learning rate (lr0, with an optimizer set in --cfg: optimizer auto picks its own)"
            )
        super().optimizer_step()


def finetune(
    model: nn.Module,
    data: str,
    train_args: dict[str, Any],
    save_dir: Path,
    trainer_cls: type | None = None,
    callbacks: dict[str, Callable] | None = None,
    weights: Literal["best", "last"] = "best",
    **meta: Any,
) -> nn.Module:
    """Train ``model`` for ``train_args['epochs']`` epochs and return, as fp32, the EMA weights Ultralytics saved in
    ``weights/best.pt`` (the epoch with the best fitness) or ``weights/last.pt`` (the last epoch).

    The returned module is exactly what the caller will evaluate and save; ``epochs=0`` returns ``model``. The
    trainer is ``PrunedTraining`` over the Ultralytics trainer of ``model``'s task unless ``trainer_cls`` says.
    """
    if int(train_args.get("epochs", 0)) == 0:
        return model
    save_dir = Path(save_dir)
    handoff = save_checkpoint(save_dir.parent / f"{save_dir.name}_input.pt", model, train_args, **meta)
    # An absolute project: Ultralytics puts a relative one under its own runs/ folder.
    overrides = {**train_args, **_FIXED, "model": str(handoff), "data": data,
                 "project": str(save_dir.parent.absolute()), "name": save_dir.name}  # fmt: skip
    trainer_cls = trainer_cls or trainer_class(require_task(model, "the model"), PrunedTraining)
    trainer = trainer_cls(overrides=overrides)
    for event, fn in (callbacks or {}).items():
        trainer.add_callback(event, fn)
    try:
        trainer.train()
    finally:
        handoff.unlink(missing_ok=True)
    chosen = trainer.best if weights == "best" and trainer.best.exists() else trainer.last
    return load_detector(chosen)


for _task in TASKS.values():
    for _role in (PrunedTraining, SparseTraining):
        trainer_class(_task, _role)
PrunedModelTrainer = trainer_class(DEFAULT_TASK, PrunedTraining)
SparseTrainer = trainer_class(DEFAULT_TASK, SparseTraining)
