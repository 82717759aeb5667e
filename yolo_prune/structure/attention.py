"""Attention as one fixed-width unit for Torch-Pruning, so that YOLO11 and YOLO26 prune around it.

Torch-Pruning builds its dependency graph by walking autograd from the model's outputs. Inside Ultralytics'
``Attention`` (in C2PSA, and in YOLO26's C3k2 with ``attn=True``) that walk meets a qkv conv viewed into heads, a
split on a non-channel dimension and batched matmuls, and ``get_all_groups`` does not finish. A customized pruner
alone does not help: it hooks the module, but the walk goes on from the module's output into its inner ops. So, only
in the prunable form, the attention is wrapped in an ``OpaqueBlock`` whose forward runs it inside one autograd
function: its output's grad_fn leads straight back to its input, the tracer never sees the inside, and
``OpaqueBlockPruner`` (registered through ``customized_pruners``) gives Torch-Pruning its fixed width.

The unit is each ``Attention``; in C2PSA it is the whole PSABlock chain (``C2PSA.m``), because Torch-Pruning cannot
map a ``split`` output that two ops read (Torch-Pruning 1.6 maps a split's outputs to its consumers one to one, so a
half read twice, by the PSABlock's residual add and by its attention, breaks its index mapping).

The attention width stays fixed: ``Attention`` views qkv as ``(num_heads, 2 * key_dim + head_dim)`` and its output
back to the input's channel count, and ``num_heads = max(c // 64, 1)`` follows from the width when a model is
rebuilt from yaml. The wrappers are fixed modules of their parts (every group that touches one is dropped, so all
channels added to the attention's residual stream keep their width), and so is ``cv0`` of a C3k2 with attention
(``yolo_prune.structure.c2f``). Pruned: C2PSA's input and output width (``cv1``'s input, ``cv2``'s output, coupled to
the layers around it), C3k2(attn)'s input and output width and the hidden widths of its Bottleneck and of its
PSABlock's feed-forward. Kept: everything inside C2PSA between ``cv1`` and ``cv2``, and C3k2(attn)'s hidden width
``c`` (its two halves, its Bottleneck's and PSABlock's input and output, its attention).

Usage:
    import torch
    import torch_pruning as tp
    from yolo_prune.structure import CUSTOMIZED_PRUNERS, ModelAdapter

    adapter = ModelAdapter(model)
    with adapter.prunable_form():  # C2f split, attention wrapped; stock modules back on exit, also on error
        pruner = tp.pruner.GroupNormPruner(
            model, torch.zeros(1, 3, 640, 640), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=0.5, ignored_layers=adapter.fixed(prune_head=True), customized_pruners=CUSTOMIZED_PRUNERS,
        )
        pruner.step()

Nothing here is ever pickled: the form is left before the model is saved or trained (the wrapper's backward refuses
to run, so training a wrapped model fails loudly instead of silently freezing the attention). Module names inside a
wrapper gain an ``inner`` level while it is wrapped; ``yolo_prune.structure.stock_name`` gives the stock name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp
from ultralytics.nn.modules.block import C2PSA, Attention

from yolo_prune.structure.parts import Part, Row, register


class _Opaque(torch.autograd.Function):
    """Runs a module as one autograd node whose only input is ``x``: a tracer walking grad_fns skips its inside."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, module: nn.Module) -> torch.Tensor:
        return module(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> None:
        raise RuntimeError("an OpaqueBlock is only for building a pruning graph: unwrap it before training")


class OpaqueBlock(nn.Module):
    """A width-preserving module (``channels`` in and out) hidden from Torch-Pruning's tracer; ``inner`` is the
    original module, computed unchanged."""

    opaque = True  # the prunable form does not enter it further

    def __init__(self, inner: nn.Module, channels: int) -> None:
        super().__init__()
        self.inner, self.channels = inner, channels
        self.training = inner.training  # not .train(), which would also reset the modes inside ``inner``

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Opaque.apply(x, self.inner)


class OpaqueBlockPruner(tp.pruner.function.BasePruningFunc):
    """Torch-Pruning's view of an ``OpaqueBlock``: fixed in/out widths, coupled to each other, never cut.

    Input and output share one pruning function (Torch-Pruning's sign of intra-layer coupling), so every group that
    reaches the block from either side contains an output-channel cut of it and is dropped when the block is among
    the ignored layers. Being asked to cut it means it was not ignored, which would break the attention's shapes.
    """

    TARGET_MODULES = OpaqueBlock

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        raise RuntimeError(
            f"{type(layer.inner).__name__} has a fixed width; pass the adapter's fixed modules as ignored_layers"
        )

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: nn.Module) -> int:
        return layer.channels

    get_in_channels = get_out_channels


CUSTOMIZED_PRUNERS: dict[type, tp.pruner.function.BasePruningFunc] = {OpaqueBlock: OpaqueBlockPruner()}
"""Pass as ``customized_pruners`` to ``DependencyGraph.build_dependency`` and to every Torch-Pruning pruner."""


def holds_attention(module: nn.Module) -> bool:
    return any(isinstance(m, (Attention, OpaqueBlock)) for m in module.modules())


class _Unwrap(Part):
    """Leaving the form of an ``OpaqueBlock``: its inner module, unchanged; it stays whole."""

    form = OpaqueBlock

    def leave(self, module: nn.Module) -> nn.Module:
        return module.inner

    def fixed(self, module: nn.Module) -> list[nn.Module]:
        return [module] if isinstance(module, OpaqueBlock) else []

    def stock_name(self, parts: list[str], i: int) -> None:
        if parts[i] == "inner":
            del parts[i]


@register
class AttentionPart(_Unwrap):
    """An ``Attention`` (inside YOLO26's C3k2 with attention): wrapped whole, at its input width."""

    types = (Attention,)

    def enter(self, module: nn.Module) -> nn.Module:
        return OpaqueBlock(module, module.qkv.conv.in_channels)


@register
class C2PSAPart(Part):
    """C2PSA: its PSABlock chain ``m`` wrapped whole (see the module docstring); ``cv1`` split in two like C2f's,
    with the output width equal to the input width (Ultralytics asserts it)."""

    types = (C2PSA,)
    row = Row("cv2.conv", "c", repeats=True, same_width_as_input=True)

    def enter(self, module: nn.Module) -> nn.Module:
        if not isinstance(module.m, OpaqueBlock):
            module.m = OpaqueBlock(module.m, module.c)
        return module

    def split_sizes(self, module: nn.Module) -> list[int] | None:
        return [module.c, module.c]
