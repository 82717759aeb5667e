"""The shared part of every pruning method: what may be pruned, and how a step cuts each layer to its target width.

A method (``DepGraphMethod``, ``SlimmingMethod``) only says how channels are scored (a Torch-Pruning importance and
pruner class) and how many channels each layer keeps at a step (``target_widths``). The cut itself is always done
by a Torch-Pruning pruner over its dependency graph, so coupled channels (residual adds, concatenations, the two
C2f_v2 branches) are removed together.

Usage:
    from yolo_prune.methods import make_method
    from yolo_prune.evaluation import layer_widths

    method = make_method(settings)
    base = layer_widths(model)
    method.prune(model, step=1, steps=4, base_widths=base, imgsz=640)  # in place
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp


def ignored_layers(model: nn.Module, prune_head: bool) -> list[nn.Module]:
    """Layers whose outputs must keep their width: the head's prediction convs and DFL (class count and box
    encoding), or the whole head when ``prune_head`` is off."""
    head = model.model[-1]
    if not prune_head:
        return [head]
    branches = [getattr(head, n) for n in ("cv2", "cv3", "one2one_cv2", "one2one_cv3") if hasattr(head, n)]
    return [seq[-1] for branch in branches for seq in branch] + [head.dfl]


def keep_count(orig: int, fraction: float, round_to: int, floor: int = 1) -> int:
    """Channels a layer of ``orig`` channels keeps at ``fraction``: a multiple of ``round_to``, at least ``floor``."""
    n = max(round(orig * fraction / round_to) * round_to, floor)
    n = math.ceil(n / round_to) * round_to
    return min(n, orig)


class PruningMethod:
    """Base strategy: a Torch-Pruning pruner class and importance, and the per-layer widths of each step."""

    name = ""
    step_phase = "prune"  # the step-log phase of the loop's steps
    pruner_cls: type = tp.pruner.BasePruner

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def importance(self) -> tp.importance.Importance:
        raise NotImplementedError

    def remaining_fraction(self, step: int, steps: int) -> float:
        """Share of the base width kept after ``step`` of ``steps``: equal relative cuts, ``(1-rate)**(step/steps)``,
        so the last step lands exactly on ``target_prune_rate``."""
        return (1 - self.settings["target_prune_rate"]) ** (step / steps)

    prepare_phase: str | None = None  # the step-log phase of ``prepare``'s result, when it trains

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        """Work before the first pruning step (network slimming's sparse training); none by default."""
        return model

    def target_widths(
        self, model: nn.Module, graph: tp.DependencyGraph, ignored: list[nn.Module], step: int, steps: int,
        base_widths: dict[str, int],
    ) -> dict[nn.Conv2d, int]:  # fmt: skip
        raise NotImplementedError

    def graph(self, model: nn.Module, imgsz: int) -> tuple[tp.DependencyGraph, list[nn.Module], torch.Tensor]:
        """Torch-Pruning's dependency graph of ``model`` (moved to the CPU, eval mode), its ignored layers and input."""
        model.cpu().eval()  # eval: tracing must not update BatchNorm statistics
        for p in model.parameters():
            p.requires_grad_(True)  # the tracer follows autograd; EMA checkpoints come with gradients off
        example = torch.zeros(1, 3, imgsz, imgsz)
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example)
        return graph, ignored_layers(model, self.settings["prune_head"]), example

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> None:
        """Cut every prunable layer of ``model`` (in place, on the CPU) to the widths of ``step``."""
        graph, ignored, example = self.graph(model, imgsz)
        widths = self.target_widths(model, graph, ignored, step, steps, base_widths)
        # Torch-Pruning keeps int(current * (1 - ratio)) channels; the +0.5 makes that exactly `keep`.
        ratios = {conv: 1 - (keep + 0.5) / conv.out_channels for conv, keep in widths.items() if keep < conv.out_channels}
        if not ratios:
            return
        pruner = self.pruner_cls(
            model, example, importance=self.importance(), pruning_ratio=0.0, pruning_ratio_dict=ratios,
            ignored_layers=ignored,
        )  # fmt: skip
        pruner.step()


def prunable_groups(graph: tp.DependencyGraph, ignored: list[nn.Module]) -> list[Any]:
    """Torch-Pruning's groups of coupled channels, each rooted at a conv whose output channels may be cut."""
    skip = [m for layer in ignored for m in layer.modules()]
    return list(graph.get_all_groups(ignored_layers=skip, root_module_types=[nn.Conv2d]))


def out_convs(group: Any) -> list[nn.Conv2d]:
    """The convs whose output channels a group cuts: they share one width, so they share one target."""
    return [
        dep.target.module
        for dep, _ in group
        if isinstance(dep.target.module, nn.Conv2d) and dep.handler == tp.prune_conv_out_channels
    ]


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    return {m: n for n, m in model.named_modules()}


__all__ = ["PruningMethod", "ignored_layers", "keep_count", "module_names", "out_convs", "prunable_groups"]
