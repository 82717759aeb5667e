"""Model surgery: make Ultralytics' C2f prunable without changing what the model computes.

Torch-Pruning cannot trace ``C2f.forward``'s ``chunk`` (the two halves of ``cv1`` must stay equal), so every ``C2f``
becomes a ``C2f_v2`` whose ``cv1`` is split into two parallel 1x1 convs, ``cv0`` and ``cv1``. The split copies the
trained weights, BatchNorm statistics, ``eps``/``momentum`` and train/eval mode, so outputs are identical.

Usage:
    from ultralytics import YOLO
    from yolo_prune.surgery import replace_c2f

    model = YOLO("yolov8n.yaml").model
    replace_c2f(model)  # in place; returns the number of blocks swapped

``C2f_v2`` lives here, at a stable import path, because Ultralytics checkpoints pickle whole modules: a pruned
``.pt`` loads wherever ``yolo_prune`` is importable.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
from ultralytics.nn.modules import C2f


class C2f_v2(nn.Module):  # noqa: N801 - the name users know from Torch-Pruning's YOLOv8 example
    """C2f with ``cv1`` split into ``cv0`` and ``cv1`` so that each half can be pruned on its own."""

    def __init__(self, cv0: nn.Module, cv1: nn.Module, cv2: nn.Module, m: nn.ModuleList) -> None:
        super().__init__()
        self.cv0, self.cv1, self.cv2, self.m = cv0, cv1, cv2, m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv0(x), self.cv1(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def _half_of(conv: nn.Module, half: int) -> nn.Module:
    """A copy of an Ultralytics ``Conv`` (conv + BN + act) keeping only output half ``half`` (0 or 1)."""
    new = copy.deepcopy(conv)  # keeps BN eps/momentum, activation and training flag
    c = conv.conv.out_channels // 2
    keep = slice(half * c, (half + 1) * c)
    new.conv.weight = nn.Parameter(conv.conv.weight.data[keep].clone(), requires_grad=conv.conv.weight.requires_grad)
    if conv.conv.bias is not None:
        new.conv.bias = nn.Parameter(conv.conv.bias.data[keep].clone(), requires_grad=conv.conv.bias.requires_grad)
    new.conv.out_channels = c
    bn = new.bn
    for name in ("weight", "bias"):
        p = getattr(conv.bn, name)
        setattr(bn, name, nn.Parameter(p.data[keep].clone(), requires_grad=p.requires_grad))
    bn.running_mean = conv.bn.running_mean[keep].clone()
    bn.running_var = conv.bn.running_var[keep].clone()
    bn.num_features = c
    return new


def c2f_to_v2(block: C2f) -> C2f_v2:
    """An exact ``C2f_v2`` equivalent of ``block``, keeping Ultralytics' graph attributes (``f``, ``i``, ``type``...)."""
    new = C2f_v2(_half_of(block.cv1, 0), _half_of(block.cv1, 1), block.cv2, block.m)
    for attr in ("f", "i", "type", "np"):
        if hasattr(block, attr):
            setattr(new, attr, getattr(block, attr))
    new.train(block.training)
    return new.to(next(block.parameters()).device)


def replace_c2f(model: nn.Module) -> int:
    """Swap every ``C2f`` (and subclass) inside ``model`` for a ``C2f_v2``, in place; return how many."""
    swapped = 0
    for name, child in model.named_children():
        if isinstance(child, C2f):
            setattr(model, name, c2f_to_v2(child))
            swapped += 1
        else:
            swapped += replace_c2f(child)
    return swapped
