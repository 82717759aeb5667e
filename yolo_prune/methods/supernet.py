"""The search method's supernet: the user's model trained so that every layer also works at narrower widths.

A width is "the first k channels" of a layer: each Torch-Pruning group's channels are ranked once, by the group L2
importance DepGraph uses, on the model the search starts from (``channel_ranks``), and a subnet keeps each group's k
best of them. In training, a subnet is the whole model with the other channels' outputs set to zero
(``SubnetMasks``: a forward hook on the layer that makes each channel, after its BatchNorm and activation), which
computes exactly what the cut model computes; the cut itself (``methods.search``) removes the same channels.

``SupernetTraining`` trains through Ultralytics' own trainer for the model's task with the sandwich rule of
BigNAS/AutoSlim: four batches in a row train the widest subnet, the narrowest and two random ones (their gradients
add up in one optimizer step at Ultralytics' default ``nbs`` 64 and batch 16), and, for the tasks distillation knows,
every subnet also learns the base model's outputs (``DistillTraining``; the base is the widest subnet before this
training: in-place distillation with a frozen teacher). The subnets to train are drawn before training, through the
run's width rules (``WidthRules``), so that every one is a model the cut can make, and travel in the hand-off
checkpoint's ``yolo_prune.supernet`` entry, as the sparse trainer's settings do. The hooks are added after Ultralytics
has made its EMA copy, so no checkpoint carries them.

Usage:
    from yolo_prune.methods.supernet import SupernetTraining, channel_ranks, subnet_masks
    from yolo_prune.training import finetune, trainer_class

    ranks, roots = channel_ranks(model, graph, groups, imp)  # prunable form: per conv, its channels best first
    spec = subnet_masks(model, ranks, roots, [rules.apply({}), narrowest, *random_widths])
    model = finetune(model, data, {"epochs": 10}, run / "supernet", trainer_cls=trainer_class(task, SupernetTraining),
                     weights="last", supernet=spec)

CLI:
    yolo-prune --method search --model best.pt --data data.yaml --target-speedup 1.5 2 3 --supernet-epochs 10
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.distill import DistillTraining
from yolo_prune.methods.base import out_convs
from yolo_prune.structure import TASKS, stock_name
from yolo_prune.structure.parts import CONVS
from yolo_prune.structure.tasks import DEFAULT_TASK
from yolo_prune.training import PrunedTraining, trainer_class

SANDWICH = ("widest", "narrowest", "random", "random")  # the subnets of four batches in a row
# The handlers that cut a conv's output channels: a depthwise conv's are its input channels too.
OUTPUT_HANDLERS = (tp.prune_conv_out_channels, tp.prune_depthwise_conv_out_channels,
                   tp.prune_depthwise_conv_in_channels)  # fmt: skip


def channel_ranks(model: nn.Module, graph: tp.DependencyGraph, groups: list[Any], imp: tp.importance.Importance,
                  ) -> tuple[dict[str, list[int]], dict[str, str]]:  # fmt: skip
    """Per conv of prunable-form ``model`` whose output channels a group cuts (by name): its channel indices, most
    important first, by ``imp`` on the group (each group's scores are its root's; coupled convs, depthwise ones
    included, map them through the group's index mapping, so a residual add keeps the same channels on both sides);
    and each such conv's group root (whose width it keeps)."""
    names = {m: n for n, m in model.named_modules()}
    ranks: dict[str, list[int]] = {}
    roots: dict[str, str] = {}
    for group in groups:
        root = out_convs(group)
        if not root:
            continue
        scores = imp(group)
        if scores is None:
            continue
        order = torch.argsort(scores.detach().cpu().float(), descending=True).tolist()
        for item in group:
            module = item.dep.target.module
            if isinstance(module, CONVS) and item.dep.handler in OUTPUT_HANDLERS:
                where = dict(zip(item.root_idxs, item.idxs))
                ranks[names[module]] = [where[r] for r in order if r in where]
                roots[names[module]] = names[root[0]]
    return ranks, roots


def subnet_masks(model: nn.Module, ranks: dict[str, list[int]], roots: dict[str, str],
                 subnets: list[dict[nn.Conv2d, int]]) -> dict[str, Any]:  # fmt: skip
    """What ``SupernetTraining`` needs, in stock-form names and plain lists (it travels in a checkpoint): for each
    ranked conv of prunable-form ``model``, the stock module whose output holds its channels (the Conv block around
    it, else the conv itself), the offset of its channels there (both halves of a split C2f block make one stock
    conv, first half first) and its ranked channels; and each subnet's width per conv, in that order, its root's
    (``subnets``: widths as ``WidthRules.apply`` gives them; index 0 the widest, 1 the narrowest)."""
    modules = dict(model.named_modules())
    entries, offsets, order = [], {}, []
    for name, module in model.named_modules():
        if name not in ranks:
            continue
        parent_name = name.rpartition(".")[0]
        parent = modules.get(parent_name)
        block = parent_name if getattr(parent, "conv", None) is module and hasattr(parent, "bn") else name
        stock = stock_name(block, model)
        entries.append([stock, offsets.get(stock, 0), ranks[name]])
        offsets[stock] = offsets.get(stock, 0) + module.out_channels
        order.append(modules[roots[name]])
    return {"entries": entries, "sizes": offsets,
            "subnets": [[int(widths.get(m, m.out_channels)) for m in order] for widths in subnets]}  # fmt: skip


class SubnetMasks:
    """Forward hooks that zero the channels a subnet does not keep, on the live model of a trainer."""

    def __init__(self, model: nn.Module, spec: dict[str, Any], device: torch.device) -> None:
        self.spec = spec
        modules = dict(model.named_modules())
        self.masks = {name: torch.ones(1, size, 1, 1, device=device) for name, size in spec["sizes"].items()}
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in self.masks]
        self.use(0)

    def _hook(self, name: str):
        def apply(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            return output * self.masks[name].to(output.dtype)

        return apply

    def use(self, index: int) -> None:
        """Keep the channels of subnet ``index`` of the spec's subnets."""
        for mask in self.masks.values():
            mask.fill_(1)
        for (name, offset, ranked), width in zip(self.spec["entries"], self.spec["subnets"][index]):
            dropped = ranked[width:]
            if dropped:
                self.masks[name][0, [offset + c for c in dropped]] = 0

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class SupernetTraining(PrunedTraining):
    """``PrunedTraining`` that trains the subnets of the hand-off checkpoint's ``yolo_prune.supernet`` entry by the
    sandwich rule (see the module docstring)."""

    class_name = "SupernetTrainer"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_callback("on_pretrain_routine_end", lambda trainer: trainer.install_subnets())
        self.add_callback("on_train_batch_start", lambda trainer: trainer.next_subnet())
        self.add_callback("on_train_epoch_end", lambda trainer: trainer.subnets.use(0))

    def setup_model(self):
        ckpt = super().setup_model()
        self.supernet = dict(ckpt["yolo_prune"]["supernet"])
        return ckpt

    def install_subnets(self) -> None:
        """Hook the live model (after the EMA copy was made: no checkpoint carries the hooks)."""
        from ultralytics.utils.torch_utils import unwrap_model

        self.subnets = SubnetMasks(unwrap_model(self.model), self.supernet, self.device)
        self.rng = random.Random(int(self.args.seed))
        self.batches = 0

    def next_subnet(self) -> None:
        """The widest, the narrowest, then two random subnets, batch after batch."""
        kind = SANDWICH[self.batches % len(SANDWICH)]
        count = len(self.supernet["subnets"])
        index = {"widest": 0, "narrowest": min(1, count - 1)}.get(kind)
        self.subnets.use(index if index is not None else self.rng.randrange(min(2, count - 1), count))
        self.batches += 1


class SupernetDistillTraining(SupernetTraining, DistillTraining):
    """``SupernetTraining`` whose subnets also learn the base model's outputs (the tasks distillation knows)."""

    class_name = "SupernetDistillTrainer"


for _task in TASKS.values():
    for _role in (SupernetTraining, SupernetDistillTraining):
        trainer_class(_task, _role)
SupernetTrainer = trainer_class(DEFAULT_TASK, SupernetTraining)
SupernetDistillTrainer = trainer_class(DEFAULT_TASK, SupernetDistillTraining)
