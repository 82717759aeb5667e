"""Two levers ``recovery.py`` measures before either goes into yolo-prune: DepGraph with channels ranked across
layers (``GlobalDepGraph``) and DepGraph after group-sparsity training (``GroupSparseDepGraph``).

- ``GlobalDepGraph``: instead of every layer keeping the same share, all channels compete on Torch-Pruning's
  group importance (L2, each group normalised by its mean, as Torch-Pruning's own global pruning does), above a
  per-layer floor of ``floor`` times the base width (the cap on what one layer may lose). The number of channels kept
  is searched so that the estimated MACs equal those of the uniform cut of the base model at the same step (worked
  out at step 1, on the base): the two spreads are compared at equal compute, not at equal channel counts (which
  would favour cutting the cheap, deep layers).
- ``GroupSparseDepGraph``: ``sparse_epochs`` epochs of training with Torch-Pruning's group regularisation
  (``GroupNormPruner.regularize``: each channel group decays with strength ``reg * alpha ** ((max - imp) / (max -
  min))``, so the least important groups 16x faster) before the DepGraph steps. Torch-Pruning adds it to the
  gradients, which Ultralytics' AdamW would normalise away; here it is the same decay as a decoupled step after each
  optimizer step, ``w <- w * (1 - lr * reg * gamma)``, on the stock-form model that Ultralytics trains (the group
  indices are mapped from the prunable form, where C2f blocks are split, back to the stock convs).

Usage (from ``recovery.py``):
    from levers import GlobalDepGraph, GroupSparseDepGraph
    import yolo_prune.methods
    yolo_prune.methods.METHODS["depgraph"] = GlobalDepGraph   # for this process only
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.methods.base import (
    channel_floor, module_names, out_convs, prunable_groups, ranked_widths, tied_units,
)  # fmt: skip
from yolo_prune.methods.depgraph import DepGraphMethod
from yolo_prune.structure import C2f_v2, ModelAdapter, stock_name
from yolo_prune.training import PrunedModelTrainer, finetune


class MacsEstimate:
    """MACs of the convs of ``model`` (prunable form) for given output widths, from each conv's kernel, output size and
    the widths of the groups that feed it; within about a percent of Torch-Pruning's count for YOLOv8."""

    def __init__(self, model: nn.Module, groups: list[Any], imgsz: int) -> None:
        sizes: dict[nn.Conv2d, int] = {}
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        def size(conv: nn.Conv2d, inputs: Any, output: torch.Tensor) -> None:
            sizes[conv] = output.shape[-2] * output.shape[-1]

        hooks = [c.register_forward_hook(size) for c in convs]
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, imgsz, imgsz))
        for h in hooks:
            h.remove()
        self.convs = [(c, c.kernel_size[0] * c.kernel_size[1] * sizes[c]) for c in convs if c in sizes]
        self.feeds = []  # (conv whose width a group sets, conv whose input it feeds, input channels per channel)
        for group in groups:
            outs = out_convs(group)
            if not outs:
                continue
            n = len(group[0][1])
            for dep, idxs in group:
                if dep.handler == tp.prune_conv_in_channels and isinstance(dep.target.module, nn.Conv2d):
                    self.feeds.append((outs[0], dep.target.module, len(idxs) / n))

    def __call__(self, widths: dict[nn.Conv2d, int]) -> float:
        removed = defaultdict(float)
        for out, consumer, ratio in self.feeds:
            removed[consumer] += (out.out_channels - widths.get(out, out.out_channels)) * ratio
        total = 0.0
        for conv, k in self.convs:
            out = widths.get(conv, conv.out_channels)
            if conv.groups > 1 and conv.groups == conv.in_channels:  # depthwise: one input channel per output
                total += k * out
            else:
                total += k * (conv.in_channels - removed[conv]) / conv.groups * out
        return total


class GlobalDepGraph(DepGraphMethod):
    floor = 0.25  # no layer keeps less than this share of its base width

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> float:
        self.imgsz = imgsz
        return super().prune(model, step, steps, base_widths, imgsz)

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        macs = MacsEstimate(model, groups, self.imgsz)
        uniform = super().target_widths
        if step == 1:  # the base model: the uniform cut's MACs at every step, from the base widths
            self.budgets = {k: macs(uniform(model, groups, rules, k, steps, base_widths)) for k in range(1, steps + 1)}
        budget = self.budgets[step]
        names = module_names(model)
        units = [(convs, scores, min(channel_floor(base_widths[names[convs[0]]], self.floor), convs[0].out_channels))
                 for convs, scores in tied_units(model, groups, tp.importance.GroupMagnitudeImportance(p=2))]
        count, widths_for = ranked_widths(units, rules)
        lo, hi = 0, count  # the most channels whose MACs stay within the uniform cut's
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if macs(widths_for(mid)) <= budget else (lo, mid - 1)
        return widths_for(lo)


Slice = tuple[str, int, torch.Tensor, torch.Tensor]  # parameter name, dim, channel indices, root channel of each


def group_slices(model: nn.Module, settings: dict[str, Any], imgsz: int) -> list[list[Slice]]:
    """Per prunable group of stock-form ``model``: (parameter name, dim, channel indices, root channel of each), with
    the indices of the second half of a split C2f block moved back to where they sit in the stock ``cv1``."""
    work = copy.deepcopy(model)
    out = []
    adapter = ModelAdapter.of(work, "model")
    with adapter.prunable_form(work):
        method = DepGraphMethod(settings, adapter)
        graph, ignored, _ = method.graph(work, imgsz)
        modules = dict(work.named_modules())
        names = module_names(work)
        for group in prunable_groups(graph, ignored):
            slices = []
            for i, (dep, idxs) in enumerate(group):
                m, fn = dep.target.module, dep.handler
                if fn not in (tp.prune_conv_out_channels, tp.prune_conv_in_channels, tp.prune_batchnorm_out_channels):
                    continue
                name = names[m]
                idx = torch.tensor([int(j) for j in idxs])
                root = torch.tensor([int(j) for j in group[i].root_idxs])
                dim = 1 if fn == tp.prune_conv_in_channels else 0
                if dim == 1 and m.groups > 1:
                    continue  # a depthwise conv's input is its output, regularised with it
                parts = name.split(".")
                block = next((".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)
                              if isinstance(modules.get(".".join(parts[:k])), C2f_v2)), None)  # fmt: skip
                if dim == 0 and block is not None and name.startswith(f"{block}.cv1."):
                    idx = idx + modules[block].cv0.conv.out_channels
                slices.append((f"{stock_name(name, work)}.weight", dim, idx, root))
            if slices:
                out.append(slices)
    return out


class GroupSparseTrainer(PrunedModelTrainer):
    """Training with Torch-Pruning's group regularisation as a decoupled step after each optimizer step."""

    def setup_model(self):
        ckpt = super().setup_model()
        cfg = ckpt["yolo_prune"]["group_sparse"]
        self.reg, self.alpha = float(cfg["reg"]), float(cfg["alpha"])
        params = dict(self.model.named_parameters())
        slices = group_slices(self.model, cfg["settings"], cfg["imgsz"])
        self.groups = [[(params[n], d, i, r) for n, d, i, r in group] for group in slices]
        return ckpt

    def build_optimizer(self, *args: Any, **kwargs: Any) -> torch.optim.Optimizer:
        optimizer = super().build_optimizer(*args, **kwargs)
        optimizer.register_step_post_hook(self.decay)
        return optimizer

    @torch.no_grad()
    def decay(self, optimizer: torch.optim.Optimizer, args: Any = (), kwargs: Any = None) -> None:
        lr = optimizer.param_groups[0]["lr"]
        for group in self.groups:
            n = max(int(r.max()) for _, _, _, r in group) + 1
            imp = torch.zeros(n, device=group[0][0].device)
            for w, dim, idx, root in group:
                part = w.index_select(dim, idx.to(w.device)).transpose(0, dim).flatten(1) if w.ndim > 1 else \
                    w.index_select(0, idx.to(w.device)).view(-1, 1)
                imp.index_add_(0, root.to(w.device), part.pow(2).sum(1))
            imp = imp.sqrt()
            gamma = self.alpha ** ((imp.max() - imp) / (imp.max() - imp.min()).clamp(min=1e-12))
            for w, dim, idx, root in group:
                shape = [-1 if d == dim else 1 for d in range(w.ndim)]
                factor = (1 - lr * self.reg * gamma[root.to(w.device)]).clamp(min=0).view(shape)
                w.index_copy_(dim, idx.to(w.device), w.index_select(dim, idx.to(w.device)) * factor)


class GroupSparseDepGraph(DepGraphMethod):
    prepare_phase = "sparse"
    # Torch-Pruning's examples use reg 5e-4 over hundreds of SGD epochs; the demo's 4 sparse epochs are 80 AdamW steps
    # whose learning rates sum to about 0.07, so reg 2 shrinks the least important groups (gamma 16) by about e^-2
    # and the most important ones (gamma 1) by about 13%.
    reg, alpha = 2.0, 16.0

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        meta = {"reg": self.reg, "alpha": self.alpha, "imgsz": run.imgsz, "settings": dict(self.settings)}
        return finetune(model, run.data, {**run.train_args, "epochs": self.settings["sparse_epochs"]},
                        run.dir / "sparse", trainer_cls=GroupSparseTrainer, weights="last", group_sparse=meta)
