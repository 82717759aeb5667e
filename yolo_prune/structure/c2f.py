"""C2f-style blocks (YOLOv8's C2f, YOLO11's and YOLO26's C3k2): split for the cut, folded back for saving.

Torch-Pruning cannot trace ``C2f.forward``'s ``chunk`` (the two halves of ``cv1`` must stay equal), so for the time
of a pruning step every such block becomes a ``C2f_v2`` whose ``cv1`` is split into two parallel 1x1 convs, ``cv0``
and ``cv1``. The split copies the trained weights, BatchNorm statistics, ``eps``/``momentum`` and train/eval mode, so
outputs are identical. Leaving the form joins the halves again into the block's own stock class, with ``c`` set to
the (pruned) half width, so that both ``forward`` (chunk) and ``forward_split`` (what Ultralytics' exporter uses) are
right: checkpoints hold only torch and Ultralytics classes.

Usage:
    from ultralytics import YOLO
    from yolo_prune.structure import prunable_form

    model = YOLO("yolov8n.yaml").model
    with prunable_form(model):  # C2f blocks are C2f_v2 inside the block, stock C2f again afterwards
        ...
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn as nn
from ultralytics.nn.modules import C2f, C3k2

from yolo_prune.structure.attention import holds_attention
from yolo_prune.structure.parts import Part, Row, register


class C2f_v2(nn.Module):  # noqa: N801 - the name users know from Torch-Pruning's YOLOv8 example
    """C2f with ``cv1`` split into ``cv0`` and ``cv1`` so that each half can be pruned on its own.

    It remembers the stock class and the plain attributes of the block it replaced, so that leaving the prunable form
    gives back that class (``C2f``, ``C3k2``...). It exists only while a model is being pruned and is never saved.
    """

    def __init__(self, cv0: nn.Module, cv1: nn.Module, cv2: nn.Module, m: nn.ModuleList,
                 stock_cls: type[C2f] = C2f, stock_attrs: dict[str, Any] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.cv0, self.cv1, self.cv2, self.m = cv0, cv1, cv2, m
        self.stock_cls, self.stock_attrs = stock_cls, dict(stock_attrs or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv0(x), self.cv1(x)]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


def _half_of(conv: nn.Module, half: int) -> nn.Module:
    """A copy of an Ultralytics ``Conv`` (conv + BN + act) keeping only output half ``half`` (0 or 1)."""
    c = conv.conv.out_channels // 2
    return _take_outputs(conv, slice(half * c, (half + 1) * c))


def _take_outputs(conv: nn.Module, keep: slice) -> nn.Module:
    """A copy of ``conv`` (conv + BN + act, BN eps/momentum, activation and training flag kept) with only the output
    channels ``keep``."""
    new = copy.deepcopy(conv)
    new.conv.weight = nn.Parameter(conv.conv.weight.data[keep].clone(), requires_grad=conv.conv.weight.requires_grad)
    if conv.conv.bias is not None:
        new.conv.bias = nn.Parameter(conv.conv.bias.data[keep].clone(), requires_grad=conv.conv.bias.requires_grad)
    new.conv.out_channels = new.conv.weight.shape[0]
    bn = new.bn
    for name in ("weight", "bias"):
        p = getattr(conv.bn, name)
        setattr(bn, name, nn.Parameter(p.data[keep].clone(), requires_grad=p.requires_grad))
    bn.running_mean = conv.bn.running_mean[keep].clone()
    bn.running_var = conv.bn.running_var[keep].clone()
    bn.num_features = new.conv.out_channels
    return new


def _joined(first: nn.Module, second: nn.Module) -> nn.Module:
    """One ``Conv`` whose outputs are ``first``'s then ``second``'s (both with the same input, kernel and BN settings)."""
    new = copy.deepcopy(first)
    for part, name in (("conv", "weight"), ("conv", "bias"), ("bn", "weight"), ("bn", "bias")):
        a, b = getattr(getattr(first, part), name), getattr(getattr(second, part), name)
        if a is not None:
            setattr(getattr(new, part), name, nn.Parameter(torch.cat([a.data, b.data]), requires_grad=a.requires_grad))
    new.bn.running_mean = torch.cat([first.bn.running_mean, second.bn.running_mean])
    new.bn.running_var = torch.cat([first.bn.running_var, second.bn.running_var])
    new.conv.out_channels = new.bn.num_features = new.conv.weight.shape[0]
    return new


# Attributes Ultralytics sets on every layer of a parsed model (parse_model): they travel with the block.
_GRAPH_ATTRS = ("f", "i", "type", "np")


def c2f_to_v2(block: C2f) -> C2f_v2:
    """An exact ``C2f_v2`` equivalent of ``block``, keeping Ultralytics' graph attributes (``f``, ``i``, ``type``...)."""
    attrs = {k: v for k, v in vars(block).items() if not k.startswith("_") and k not in ("c", "training")}
    new = C2f_v2(_half_of(block.cv1, 0), _half_of(block.cv1, 1), block.cv2, block.m, type(block), attrs)
    for attr in _GRAPH_ATTRS:
        if hasattr(block, attr):
            setattr(new, attr, getattr(block, attr))
    new.train(block.training)
    return new.to(next(block.parameters()).device)


def v2_to_c2f(block: C2f_v2) -> C2f:
    """The stock block (``block.stock_cls``) equivalent to ``block``; its two halves must have one width. Blocks that
    yolo-prune 0.1 pickled into its checkpoints carry no stock class: they were C2f blocks."""
    c0, c1 = block.cv0.conv.out_channels, block.cv1.conv.out_channels
    if c0 != c1:
        raise ValueError(f"cannot fold a C2f_v2 whose halves differ in width ({c0} and {c1})")
    cls = getattr(block, "stock_cls", C2f)
    attrs = getattr(block, "stock_attrs", {k: getattr(block, k) for k in _GRAPH_ATTRS if hasattr(block, k)})
    new = cls.__new__(cls)
    nn.Module.__init__(new)
    for k, v in attrs.items():
        setattr(new, k, v)
    new.c = c0
    new.cv1, new.cv2, new.m = _joined(block.cv0, block.cv1), block.cv2, block.m
    new.train(block.training)
    return new


@register
class C2fPart(Part):
    """C2f: ``cv1`` split in two halves of one width; the output width is ``cv2``'s, the hidden one ``c``."""

    types = (C2f,)
    form = C2f_v2
    row = Row("cv2.conv", "c", repeats=True)

    def enter(self, module: nn.Module) -> nn.Module:
        return c2f_to_v2(module)

    def leave(self, module: nn.Module) -> nn.Module:
        return v2_to_c2f(module)

    def fixed(self, module: nn.Module) -> list[nn.Module]:
        """``cv0`` of a block with attention: stock C3k2 chunks ``cv1`` into equal halves and the other half feeds
        the attention, whose width is fixed."""
        return [module.cv0] if isinstance(module, C2f_v2) and any(holds_attention(b) for b in module.m) else []

    def tied(self, module: nn.Module) -> list[tuple[nn.Conv2d, ...]]:
        """Both halves: stock C2f chunks ``cv1`` into two equal halves."""
        return [(module.cv0.conv, module.cv1.conv)]

    def split_sizes(self, module: nn.Module) -> list[int] | None:
        return [module.c, module.c]

    def stock_name(self, parts: list[str], i: int) -> None:
        """Both halves ``X.cv0...`` and ``X.cv1...`` are ``X.cv1...`` once folded."""
        if parts[i] == "cv0":
            parts[i] = "cv1"


@register
class C3k2Part(C2fPart):
    """YOLO11's and YOLO26's C3k2: a C2f whose inner blocks are built at half its hidden width."""

    types = (C3k2,)
    row = Row("cv2.conv", "c", repeats=True, hidden_divisor=2)


def split_widths(model: nn.Module, stock_widths: dict[str, int]) -> dict[str, int]:
    """Per-conv widths of a stock-form model (``layer_widths``) restated for ``model`` in its prunable form: each
    half of a ``C2f_v2`` has half its stock ``cv1``'s width."""
    from yolo_prune.structure.parts import CONVS, stock_name

    out = {}
    for name, m in model.named_modules():
        if isinstance(m, CONVS):
            stock = stock_widths[stock_name(name, model)]
            parent, _, rest = name.rpartition(".")  # e.g. "model.2.cv0" and "conv"
            block = parent.rpartition(".")[0]
            is_half = parent.rsplit(".", 1)[-1] in ("cv0", "cv1") and rest == "conv"
            out[name] = stock // 2 if is_half and isinstance(model.get_submodule(block), C2f_v2) else stock
    return out
