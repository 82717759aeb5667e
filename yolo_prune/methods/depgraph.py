"""DepGraph pruning (the default): Torch-Pruning's GroupNormPruner with L2 group-magnitude importance.

Every prunable layer loses the same share of its channels at each step, ``(1 - rate) ** (step / steps)`` of its base
width remaining, and within a layer the channels whose coupled group has the smallest L2 norm go first.

Usage:
    from yolo_prune import prune

    prune(model="best.pt", data="data.yaml", method="depgraph", target_prune_rate=0.5, iterative_steps=16)

CLI:
    yolo-prune --model best.pt --data data.yaml --target-prune-rate 0.5 --iterative-steps 16
"""

from __future__ import annotations

import torch.nn as nn
import torch_pruning as tp

from yolo_prune.methods.base import PruningMethod, keep_count, module_names, out_convs


class DepGraphMethod(PruningMethod):
    name = "depgraph"
    pruner_cls = tp.pruner.GroupNormPruner

    def importance(self) -> tp.importance.Importance:
        return tp.importance.GroupMagnitudeImportance(p=2)

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """Every prunable conv keeps ``remaining_fraction`` of its base width (widths Ultralytics derives, such as
        the head's, follow their own rules when the run keeps yaml widths)."""
        fraction = self.remaining_fraction(step, steps)
        names = module_names(model)
        return rules.apply({
            conv: keep_count(base_widths[names[conv]], fraction, self.settings["round_to"])
            for group in groups
            for conv in out_convs(group)
        })  # fmt: skip
