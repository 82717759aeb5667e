"""Attention blocks as one fixed-width unit for Torch-Pruning, so that YOLO11 and YOLO26 prune around them.

Torch-Pruning builds its dependency graph by walking autograd from the model's outputs. Inside Ultralytics'
``Attention`` (in C2PSA, and in YOLO26's C3k2 with ``attn=True``) that walk meets a qkv conv viewed into heads, a
split on a non-channel dimension and batched matmuls, and ``get_all_groups`` does not finish. A customized pruner
alone does not help: it hooks the module, but the walk goes on from the module's output into its inner ops. So, only
while pruning, the attention is wrapped in an ``OpaqueBlock`` whose forward runs it inside one autograd function:
its output's grad_fn leads straight back to its input, the tracer never sees the inside, and ``OpaqueBlockPruner``
(registered through ``customized_pruners``) gives Torch-Pruning its fixed width.

The unit is each ``Attention``; in C2PSA it is the whole PSABlock chain (``C2PSA.m``), because Torch-Pruning cannot
map a ``split`` output that two ops read (see ``wrap_attention``).

The attention width stays fixed: ``Attention`` views qkv as ``(num_heads, 2 * key_dim + head_dim)`` and its output
back to the input's channel count, and ``num_heads = max(c // 64, 1)`` follows from the width when a model is
rebuilt from yaml. ``attention_ignored_layers`` names what Torch-Pruning must leave alone for that: the wrappers
(every group that touches one is dropped, so all channels added to the attention's residual stream keep their
width) and ``cv0`` of a C3k2 with attention (stock C3k2 chunks ``cv1`` into two equal halves, and the other half
feeds the attention). Pruned: C2PSA's input and output width (``cv1``'s input, ``cv2``'s output, coupled to the
layers around it), C3k2(attn)'s input and output width and the hidden widths of its Bottleneck and of its
PSABlock's feed-forward. Kept: everything inside C2PSA between ``cv1`` and ``cv2``, and C3k2(attn)'s hidden width
``c`` (its two halves, its Bottleneck's and PSABlock's input and output, its attention).

Usage (the model already in C2f_v2 form, see ``yolo_prune.surgery``):
    import torch
    import torch_pruning as tp
    from yolo_prune.attention import CUSTOMIZED_PRUNERS, attention_ignored_layers, opaque_attention
    from yolo_prune.methods.base import ignored_layers

    example = torch.zeros(1, 3, 640, 640)
    with opaque_attention(model):  # wraps the attention; unwraps on exit, also on error
        pruner = tp.pruner.GroupNormPruner(
            model, example, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=0.5,
            ignored_layers=ignored_layers(model, prune_head=True) + attention_ignored_layers(model),
            customized_pruners=CUSTOMIZED_PRUNERS,
        )
        pruner.step()
    # the model holds its stock Ultralytics attention modules again, bitwise unchanged

Nothing here is ever pickled: wrapping is undone before the model is saved or trained (the wrapper's backward
refuses to run, so training a wrapped model fails loudly instead of silently freezing the attention). Module names
inside a wrapper gain an ``inner`` level while it is wrapped; ``unwrapped_name`` gives the stock name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp
from ultralytics.nn.modules.block import C2PSA, Attention

from yolo_prune.surgery import C2f_v2


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

    def __init__(self, inner: nn.Module, channels: int) -> None:
        super().__init__()
        self.inner, self.channels = inner, channels
        self.training = inner.training  # not .train(), which would also reset the modes inside ``inner``

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Opaque.apply(x, self.inner)


class OpaqueBlockPruner(tp.pruner.function.BasePruningFunc):
    """Torch-Pruning's view of an ``OpaqueBlock``: fixed in/out widths, coupled to each other, never cut.

    Input and output share one pruning function (Torch-Pruning's sign of intra-layer coupling), so every group that
    reaches the block from either side contains an output-channel cut of it and is dropped when the block is in
    ``ignored_layers``. Being asked to cut it means it was not ignored, which would break the attention's shapes.
    """

    TARGET_MODULES = OpaqueBlock

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        raise RuntimeError(
            f"{type(layer.inner).__name__} has a fixed width; pass attention_ignored_layers(model) as ignored_layers"
        )

    prune_in_channels = prune_out_channels

    def get_out_channels(self, layer: nn.Module) -> int:
        return layer.channels

    get_in_channels = get_out_channels


CUSTOMIZED_PRUNERS: dict[type, tp.pruner.function.BasePruningFunc] = {OpaqueBlock: OpaqueBlockPruner()}
"""Pass as ``customized_pruners`` to ``DependencyGraph.build_dependency`` and to every Torch-Pruning pruner."""


def wrap_attention(model: nn.Module) -> int:
    """Wrap attention inside ``model`` in ``OpaqueBlock``s, in place; return how many blocks were wrapped.

    The unit is each ``Attention``, except in C2PSA, where it is the whole PSABlock chain ``m``: C2PSA feeds ``m`` one
    half of a ``split``, and Torch-Pruning 1.6 maps a split's outputs to its consumers one to one, so a half read
    twice (by the PSABlock's residual add and by its attention) breaks its index mapping (IndexError).
    """
    wrapped = 0
    for name, child in model.named_children():
        if isinstance(child, OpaqueBlock):
            continue
        if isinstance(child, C2PSA) and not isinstance(child.m, OpaqueBlock):
            child.m = OpaqueBlock(child.m, child.c)
            wrapped += 1
        elif isinstance(child, Attention):
            setattr(model, name, OpaqueBlock(child, child.qkv.conv.in_channels))
            wrapped += 1
        else:
            wrapped += wrap_attention(child)
    return wrapped


def unwrap_attention(model: nn.Module) -> int:
    """Put back the original module of every ``OpaqueBlock`` inside ``model``, in place; return how many."""
    unwrapped = 0
    for name, child in model.named_children():
        if isinstance(child, OpaqueBlock):
            setattr(model, name, child.inner)
            unwrapped += 1
        else:
            unwrapped += unwrap_attention(child)
    return unwrapped


@contextmanager
def opaque_attention(model: nn.Module) -> Iterator[nn.Module]:
    """``wrap_attention`` for the duration of a ``with`` block; the stock modules are back afterwards, also on error."""
    wrap_attention(model)
    try:
        yield model
    finally:
        unwrap_attention(model)


def unwrapped_name(name: str, model: nn.Module) -> str:
    """The name module ``name`` of wrapped ``model`` has once unwrapped (each ``OpaqueBlock`` adds an ``inner``)."""
    modules = dict(model.named_modules())
    parts = name.split(".")
    wrapper = [p == "inner" and isinstance(modules.get(".".join(parts[:i])), OpaqueBlock) for i, p in enumerate(parts)]
    return ".".join(p for p, drop in zip(parts, wrapper) if not drop)


def _holds_attention(module: nn.Module) -> bool:
    return any(isinstance(m, (Attention, OpaqueBlock)) for m in module.modules())


def attention_ignored_layers(model: nn.Module) -> list[nn.Module]:
    """What Torch-Pruning must not cut in a wrapped, C2f_v2-form model: every ``OpaqueBlock``, and ``cv0`` of each
    C3k2(attn=True) block, whose width must equal the attention half ``cv1`` for stock C3k2's ``chunk``."""
    blocks = [m for m in model.modules() if isinstance(m, OpaqueBlock)]
    halves = [m.cv0 for m in model.modules() if isinstance(m, C2f_v2) and any(_holds_attention(b) for b in m.m)]
    return blocks + halves


__all__ = [
    "CUSTOMIZED_PRUNERS",
    "OpaqueBlock",
    "OpaqueBlockPruner",
    "attention_ignored_layers",
    "opaque_attention",
    "unwrap_attention",
    "unwrapped_name",
    "wrap_attention",
]
