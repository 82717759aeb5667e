"""Fine-tuning and sparse training of a pruned model through Ultralytics' own ``DetectionTrainer``.

``YOLO(...).train()`` rebuilds the model from its yaml and copies only the tensors whose shapes match, so a pruned
model silently grows back to full width. ``PrunedModelTrainer`` keeps the structure instead: the model reaches it
as a checkpoint path (``model=...pt``), and ``get_model`` returns the loaded module itself. A path rather than an
in-memory module because Ultralytics' multi-GPU mode rebuilds the trainer from its arguments in worker processes.

Usage:
    from yolo_prune.training import finetune

    model = finetune(model, data="data.yaml", train_args={"epochs": 10, "imgsz": 640}, save_dir=run / "finetune/step_01")

CLI:
    yolo-prune --model best.pt --data data.yaml --epochs 10   # fine-tunes after every pruning step
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from ultralytics.models.yolo.detect import DetectionTrainer

from yolo_prune.checkpoint import load_detector, save_checkpoint
from yolo_prune.errors import RunError

# Settings we decide for fine-tuning, whatever the user's cfg says.
_FIXED = {"pretrained": True, "resume": False, "exist_ok": True, "val": True}


class PrunedModelTrainer(DetectionTrainer):
    """A ``DetectionTrainer`` that trains the checkpoint's own module instead of a model rebuilt from its yaml."""

    def get_model(self, cfg=None, weights: nn.Module | None = None, verbose: bool = True) -> nn.Module:
        if not isinstance(weights, nn.Module):
            raise RunError(f"{type(self).__name__} needs model=<checkpoint .pt>, got {self.args.model!r}")
        for p in weights.parameters():
            p.requires_grad_(True)  # checkpoints derived from EMA come with gradients off
        return weights


class SparseTrainer(PrunedModelTrainer):
    """Network slimming's sparse training: adds ``sr * sign(gamma)`` to BatchNorm scale gradients each optimizer step.

    The penalty goes in after the AMP scaler has unscaled the gradients and once per optimizer step, so neither
    the loss scale nor gradient accumulation changes its strength. ``sr`` decays linearly to 10% by the last epoch
    when annealing is on. The settings and the names of the BatchNorms to penalise (those that pruning can touch)
    travel in the checkpoint's ``yolo_prune.sparse`` entry, so that multi-GPU workers rebuilt from the arguments
    get them too.
    """

    def setup_model(self):
        ckpt = super().setup_model()
        sparse = ckpt["yolo_prune"]["sparse"]
        self.sr, self.sr_anneal = float(sparse["sr"]), bool(sparse["anneal"])
        modules = dict(self.model.named_modules())
        self.bns = [modules[name] for name in sparse["bns"]]
        return ckpt

    def current_sr(self) -> float:
        return self.sr * (1 - 0.9 * self.epoch / max(self.epochs, 1)) if self.sr_anneal else self.sr

    def apply_penalty(self) -> None:
        """The subgradient of ``sr * sum|gamma|``, added to the already unscaled gradients."""
        sr = self.current_sr()
        for bn in self.bns:
            if bn.weight.grad is not None:
                bn.weight.grad.add_(sr * torch.sign(bn.weight.detach()))

    def optimizer_step(self) -> None:
        if self.loss is not None and not torch.isfinite(self.loss).all():
            raise RunError(
                f"sparse training diverged: the loss became {self.loss.item()} in epoch {self.epoch + 1}; "
                "lower --sr or --lr0"
            )
        self.scaler.unscale_(self.optimizer)
        self.apply_penalty()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=10.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad()
        if self.ema:
            self.ema.update(self.model)


def finetune(
    model: nn.Module,
    data: str,
    train_args: dict[str, Any],
    save_dir: Path,
    trainer_cls: type[PrunedModelTrainer] = PrunedModelTrainer,
    callbacks: dict[str, Callable] | None = None,
    **meta: Any,
) -> nn.Module:
    """Train ``model`` for ``train_args['epochs']`` epochs and return the best EMA weights as fp32.

    The returned module is exactly what was validated and what the caller will save; ``epochs=0`` returns ``model``.
    """
    if int(train_args.get("epochs", 0)) == 0:
        return model
    save_dir = Path(save_dir)
    handoff = save_checkpoint(save_dir.parent / f"{save_dir.name}_input.pt", model, train_args, **meta)
    # An absolute project: Ultralytics puts a relative one under its own runs/ folder.
    overrides = {**train_args, **_FIXED, "model": str(handoff), "data": data,
                 "project": str(save_dir.parent.absolute()), "name": save_dir.name}  # fmt: skip
    trainer = trainer_cls(overrides=overrides)
    for event, fn in (callbacks or {}).items():
        trainer.add_callback(event, fn)
    try:
        trainer.train()
    finally:
        handoff.unlink(missing_ok=True)
    best = trainer.best if trainer.best.exists() else trainer.last
    return load_detector(best)
