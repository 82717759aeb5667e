"""Fine-tuning only: no channel is removed. It runs a pruned model (or any detector) through the same loop, so
further training gets the same structure-keeping trainer, step log, exports and report as a pruning run.

Usage:
    from yolo_prune import prune

    prune(model="runs/prune/exp/weights/final.pt", data="data.yaml", method="finetune", iterative_steps=1, epochs=20)

CLI:
    yolo-prune --method finetune --model runs/prune/exp/weights/final.pt --data data.yaml --iterative-steps 1 --epochs 20
"""

from __future__ import annotations

import torch.nn as nn

from yolo_prune.methods.base import PruningMethod


class FinetuneMethod(PruningMethod):
    name = "finetune"
    step_phase = "finetune"

    def remaining_fraction(self, step: int, steps: int) -> float:
        return 1.0

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> float:
        """Nothing to cut: each step is fine-tuning alone."""
        return 0.0
