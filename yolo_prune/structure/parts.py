"""Parts: what yolo-prune knows about each Ultralytics layer type, registered by type as Torch-Pruning registers its
pruners.

A ``Part`` says, for one layer type: how it enters the prunable form and leaves it again (``enter``/``leave``: C2f
blocks split for the cut, attention hidden from the tracer), which of its modules must keep their width
(``fixed``), how its widths are written as a model-yaml row (``row``), and how a split inside it is rewritten in an
exported ONNX graph (``split_sizes``). A layer type the model uses without a part is a layer yolo-prune cannot
prune: the model is refused before any work (``unsupported_layers``). A new layer type is one ``@register`` class.

Usage:
    from yolo_prune.structure.parts import Part, Row, register

    @register
    class MyBlockPart(Part):
        types = (MyBlock,)
        row = Row("cv2.conv", "c", repeats=True)
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn as nn
from ultralytics.nn.modules import Concat


CONVS = (nn.Conv2d, nn.ConvTranspose2d)
"""The layer types whose output channels yolo-prune cuts (Segment's prototype upsamples with a transposed conv)."""


class Row(NamedTuple):
    """How one layer type's widths are written in its yaml row."""

    out: str  # the conv whose output width is the layer's (args[0] in the yaml row)
    hidden: str | None = None  # the attribute holding the hidden width, set through the expansion argument ``e``
    repeats: bool = False  # whether the row's repeat count is the length of the block's ``m``
    same_width_as_input: bool = False  # Ultralytics asserts c1 == c2 (C2PSA)
    hidden_divisor: int = 1  # inner blocks are built at hidden // this (C3k2's Bottleneck and C3k: e=0.5)
    input_divisor: int = 1  # the block's first conv is built at input width // this (SPPF's c1 // 2)


class Part:
    """A layer type's handling; the defaults suit a layer that needs none (``Upsample``, ``Concat``)."""

    types: tuple[type, ...] = ()  # the stock module types this part is for (exact types)
    form: type | None = None  # the module type ``enter`` turns them into, if any
    row: Row | None = None  # its model-yaml row; None for layers whose row states no width

    def enter(self, module: nn.Module) -> nn.Module:
        """``module`` in its prunable form (a replacement, or ``module`` itself changed in place)."""
        return module

    def leave(self, module: nn.Module) -> nn.Module:
        """The stock module a prunable-form ``module`` (of type ``form``) stands for."""
        return module

    def fixed(self, module: nn.Module) -> list[nn.Module]:
        """Modules inside prunable-form ``module`` whose channels Torch-Pruning must not cut."""
        return []

    def tied(self, module: nn.Module) -> list[tuple[nn.Module, ...]]:
        """Convs inside prunable-form ``module`` that must keep one width, so that it leaves the form again (or so
        that its yaml row, which states one width for them, rebuilds it)."""
        return []

    def split_sizes(self, module: nn.Module) -> list[int] | None:
        """The sizes of the channel split that stock ``module`` makes in its forward (its ONNX ``Split`` node)."""
        return None

    def stock_name(self, parts: list[str], i: int) -> None:
        """Rename, in place, the module path ``parts`` below this part's prunable-form module at ``parts[:i]`` to the
        name it has once the module leaves the prunable form."""


PARTS: dict[type, Part] = {}  # stock module type -> its part
FORMS: dict[type, Part] = {}  # prunable-form module type -> the part that made it


def register(cls: type[Part]) -> type[Part]:
    """Class decorator: one instance of ``cls`` handles each of its ``types`` (and its ``form``)."""
    part = cls()
    for t in cls.types:
        PARTS[t] = part
    if cls.form is not None:
        FORMS[cls.form] = part
    return cls


def part_of(module: nn.Module) -> Part | None:
    """The part of ``module``'s exact type, stock or prunable form."""
    return PARTS.get(type(module)) or FORMS.get(type(module))


@register
class PlainPart(Part):
    """Layers with no channels of their own to keep or write: they pass widths through."""

    types = (nn.Upsample, Concat)


def enter(model: nn.Module) -> nn.Module:
    """Every registered layer inside ``model`` in its prunable form, in place. A module that ``enter`` wraps whole
    (an ``OpaqueBlock``) is not entered further."""
    for name, child in model.named_children():
        part = PARTS.get(type(child))
        new = part.enter(child) if part is not None else child
        if new is not child:
            setattr(model, name, new)
        if not getattr(new, "opaque", False):
            enter(new)
    return model


def leave(model: nn.Module) -> nn.Module:
    """Every prunable-form module inside ``model`` back in its stock form, in place (innermost first)."""
    for name, child in model.named_children():
        leave(child)
        part = FORMS.get(type(child))
        if part is not None:
            setattr(model, name, part.leave(child))
    return model


def fixed_modules(model: nn.Module) -> list[nn.Module]:
    """Modules of prunable-form ``model`` whose width its parts keep (attention, halves tied to it)."""
    return [m for module in model.modules() if (part := part_of(module)) is not None for m in part.fixed(module)]


def tied_convs(model: nn.Module) -> list[tuple[nn.Module, ...]]:
    """Convs of prunable-form ``model`` that its parts tie to one width (the two halves of a C2f block, the
    prototype's inner convs)."""
    return [t for module in model.modules() if (part := part_of(module)) is not None for t in part.tied(module)]


def stock_name(name: str, model: nn.Module) -> str:
    """The name module ``name`` of prunable-form ``model`` has once ``model`` is back in its stock form."""
    modules = dict(model.named_modules())
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):  # innermost first: a rename never moves an outer prefix
        part = FORMS.get(type(modules.get(".".join(parts[:i]))))
        if part is not None:
            part.stock_name(parts, i)
    return ".".join(parts)


def unsupported_layers(model: nn.Module) -> list[str]:
    """Names of the body layer types of ``model`` (all but its head; stock or prunable form) that no part is
    registered for."""
    return sorted({type(m).__name__ for m in list(model.model)[:-1] if part_of(m) is None})


FAMILIES = {"YOLOv8": "yolov8n.yaml", "YOLO11": "yolo11n.yaml", "YOLO26": "yolo26n.yaml"}
"""The model families whose every body layer has a part, by the bundled yaml users know them by (for messages)."""


def supported_families() -> str:
    """'YOLOv8, YOLO11 and YOLO26', for messages."""
    names = list(FAMILIES)
    return f"{', '.join(names[:-1])} and {names[-1]}"
