"""Pruned widths as an Ultralytics model yaml, so that stock Ultralytics rebuilds a pruned model exactly.

``YOLO("final.pt").train(...)`` (and ``yolo train model=final.pt``) rebuilds the model from ``model.yaml`` and copies
only the tensors whose shapes match, so a yaml that still says the base widths silently grows the model back. This
module writes the yaml that says the pruned widths: each layer's output width as its first argument, the hidden
width of C2f-style blocks through their expansion ``e``, repeats as built, and no width or depth scaling. What
Ultralytics derives from those (a Bottleneck's hidden width, SPPF's ``c1 // 2``, the head's inner widths, rounding
of every layer's width up to a multiple of 8) must hold in the pruned model too: ``rebuilt_widths`` builds a model
from a yaml to read those rules off Ultralytics itself, and ``stock_yaml`` checks that the yaml rebuilds the model
exactly (same tensors, same outputs) before a checkpoint promises it.

A model whose widths no yaml can express (``--round-to 1``, an unpruned head in front of a pruned neck) gets a yaml
that stops Ultralytics' rebuild with a message naming what works instead, never one that rebuilds another model.

Each layer type's row comes from its part (``yolo_prune.structure.parts``), the head's class from its task.

Usage:
    from yolo_prune.structure.model_yaml import stock_yaml

    yaml_dict, reason = stock_yaml(model)  # reason is None when stock training keeps the pruned structure
    model.yaml = yaml_dict
"""

from __future__ import annotations

import copy
import inspect
from operator import attrgetter
from typing import Any, Callable, NamedTuple

import torch
import torch.nn as nn

from yolo_prune.structure.parts import CONVS, PARTS, Row

# Message that a rebuild from an inexpressible yaml stops with: Ultralytics looks the first layer's module up by name.
REFUSAL = (
    "yolo-prune: this pruned model's channel counts cannot be written as a model yaml ({reason}), so stock "
    "Ultralytics cannot rebuild it for training. Train it further with 'yolo-prune --method finetune --model "
    "<this .pt> --data <data.yaml>', or from Python with YOLO(<this .pt>).train(data=..., "
    "trainer=yolo_prune.training.PrunedModelTrainer); prune with --round-to 8 or 16 for checkpoints that "
    "'yolo train' can train"
)


def yaml_rows() -> dict[type, Row]:
    """Each registered layer type's yaml row (``yolo_prune.structure.parts``)."""
    return {t: part.row for t, part in PARTS.items() if part.row is not None}


class Widths(NamedTuple):
    """The widths one yaml row states: output, hidden (None where the block has none) and repeats."""

    out: int
    hidden: int | None
    repeats: int


def row_widths(model: nn.Module) -> dict[int, tuple[type, Widths]]:
    """The class and widths each layer of a stock-form ``model`` states in its yaml row, by layer index."""
    out, table = {}, yaml_rows()
    for i, layer in enumerate(model.model):
        row = table.get(type(layer))
        if row is not None:
            hidden = int(getattr(layer, row.hidden)) if row.hidden else None
            widths = Widths(attrgetter(row.out)(layer).out_channels, hidden, len(layer.m) if row.repeats else 1)
            out[i] = (type(layer), widths)
    return out


def _expansion(hidden: int, c2: int) -> float:
    """An ``e`` for which Ultralytics' ``int(c2 * e)`` gives ``hidden``: exact where the ratio is, else half a
    channel above it (a float error of ``c2 * e`` is far smaller than that half)."""
    e = hidden / c2
    return e if int(c2 * e) == hidden else (hidden + 0.5) / c2


def _row_args(cls: type, args: list[Any], widths: Widths) -> list[Any]:
    """``args`` of a yaml row of ``cls`` with the output width and, through ``e``, the hidden width replaced."""
    args = [widths.out, *args[1:]]
    if widths.hidden is None:
        return args
    # parse_model calls cls(c1, c2, n, *args[1:]): the rest of args lines up with the parameters after n.
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name not in ("self", "c1", "c2", "n")]
    idx = [p.name for p in params].index("e")
    args += [p.default for p in params[len(args) - 1 : idx + 1]]
    args[idx + 1] = _expansion(widths.hidden, widths.out)
    return args


def with_widths(yaml: dict[str, Any], rows: dict[int, tuple[type, Widths]], nc: int,
                head_args: list[Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """``yaml`` restated with the class and explicit widths of ``rows`` per layer index, at scale 1 (no width or
    depth multiples), for ``nc`` classes, with the head's row arguments ``head_args`` where given."""
    new = copy.deepcopy(yaml)
    new.pop("scales", None)
    new.update(depth_multiple=1.0, width_multiple=1.0, nc=nc)
    layers = new["backbone"] + new["head"]
    for i, (cls, widths) in rows.items():
        layers[i][1:] = [widths.repeats, cls.__name__, _row_args(cls, list(layers[i][3]), widths)]
    if head_args is not None:
        new["head"][-1][3] = head_args
    return new


def stated_head_args(model: nn.Module, width: Callable[[str], int] | None = None) -> list[Any]:
    """The head row's arguments of stock-form ``model``'s yaml restated by its task for its widths, or for the widths
    ``width(conv name)`` wants."""
    from yolo_prune.structure.tasks import task_of

    return task_of(model).yaml_head_args(model, list(model.yaml["head"][-1][3]), width)


def build_layers(yaml: dict[str, Any]) -> nn.Sequential:
    """The layers Ultralytics builds from ``yaml`` (its own parse_model: its width rules, no forward pass)."""
    from ultralytics.nn.tasks import parse_model

    return parse_model(copy.deepcopy(yaml), ch=yaml.get("channels", 3), verbose=False)[0]


def rebuilt_widths(model: nn.Module, width: Callable[[str], int], rounded: Callable[[int, int], int]) -> dict[str, int]:
    """Every conv's width, by name, in the model Ultralytics builds from a yaml stating ``width(name)`` for the convs
    of prunable-form ``model``: its derived widths (head, SPPF's hidden width, blocks' inner widths) replace what was
    asked of them. A width Ultralytics divides (SPPF's input, C3k2's hidden width) is rounded up by
    ``rounded(width, divisor)`` so that what it derives is rounded too; a width left as it is stays."""
    from yolo_prune.structure.attention import OpaqueBlock
    from yolo_prune.structure.c2f import C2f_v2
    from yolo_prune.structure.parts import enter
    from yolo_prune.structure.tasks import task_of

    current = {n: m.out_channels for n, m in model.named_modules() if isinstance(m, CONVS)}
    rows: dict[int, tuple[type, Widths]] = {}
    table = yaml_rows()
    for i, layer in enumerate(model.model):
        cls = layer.stock_cls if isinstance(layer, C2f_v2) else type(layer)
        row = table.get(cls)
        if row is None:
            continue
        hidden = int(getattr(layer, row.hidden)) if row.hidden and not isinstance(layer, C2f_v2) else None
        if isinstance(layer, C2f_v2):
            now = layer.cv0.conv.out_channels
            hidden = max(width(f"model.{i}.cv0.conv"), width(f"model.{i}.cv1.conv"))
            hidden = hidden if hidden == now else min(rounded(hidden, row.hidden_divisor), now)
        out = rows[i - 1][1].out if row.same_width_as_input else width(f"model.{i}.{row.out}")
        if row.input_divisor > 1 and i - 1 in rows:
            prev_cls, prev = rows[i - 1]
            now = current[f"model.{i}.cv1.conv"] * row.input_divisor
            wider = min(rounded(prev.out, row.input_divisor), now)
            rows[i - 1] = (prev_cls, prev._replace(out=prev.out if prev.out == now else wider))
        blocks = layer.m.inner if isinstance(getattr(layer, "m", None), OpaqueBlock) else getattr(layer, "m", ())
        rows[i] = (cls, Widths(out, hidden, len(blocks) if row.repeats else 1))
    yaml = with_widths(model.yaml, rows, task_of(model).classes(model), stated_head_args(model, width))
    return {f"model.{n}": m.out_channels for n, m in enter(build_layers(yaml)).named_modules() if isinstance(m, CONVS)}


def stock_yaml(model: nn.Module) -> tuple[dict[str, Any], str | None]:
    """The yaml that rebuilds stock-form ``model`` exactly, and None; or, where no yaml can, one whose rebuild stops
    with a message that says so and what to use instead, and the reason."""
    from yolo_prune.structure.tasks import head_of, task_of

    task = task_of(model)
    if task is None:  # other heads are refused before any pruning: their yaml stays as it is
        return model.yaml, f"a {type(head_of(model)).__name__} head, which yolo-prune does not prune"
    nc = task.classes(model)
    try:
        yaml = with_widths(model.yaml, row_widths(model), nc, stated_head_args(model))
        rebuilt = task.model_cls()(yaml, nc=nc, ch=yaml.get("channels", 3), verbose=False)
    except Exception as e:  # the widths break one of Ultralytics' own asserts (e.g. C2PSA's c1 == c2)
        reason = f"Ultralytics cannot build it: {type(e).__name__}: {e}"
    else:
        reason = _difference(model, rebuilt)
    if reason is None:
        return yaml, None
    refusal = copy.deepcopy(model.yaml)
    refusal["backbone"][0][2] = REFUSAL.format(reason=reason)
    return refusal, reason


def _difference(model: nn.Module, rebuilt: nn.Module) -> str | None:
    """Where ``rebuilt`` differs from ``model`` (tensor names and shapes, then outputs), or None."""
    have, got = model.state_dict(), rebuilt.state_dict()
    for name in list(have) + [k for k in got if k not in have]:
        if name not in have or name not in got or have[name].shape != got[name].shape:
            shape = lambda sd: tuple(sd[name].shape) if name in sd else "absent"  # noqa: E731
            return f"{name} would be {shape(got)} instead of {shape(have)}"
    rebuilt.load_state_dict(have)
    x = torch.rand(1, rebuilt.yaml.get("channels", 3), 64, 64, generator=torch.Generator().manual_seed(0))
    model_mode = model.training
    with torch.no_grad():
        a, b = _first(model.eval()(x)), _first(rebuilt.eval()(x))
    model.train(model_mode)
    diff = (a - b).abs().max().item()
    return None if diff <= 1e-5 else f"a rebuilt model's outputs differ by {diff:.2g}"


def _first(out: Any) -> torch.Tensor:
    while isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(out, dict):  # end-to-end heads in training form
        return _first(next(iter(out.values())))
    return out
