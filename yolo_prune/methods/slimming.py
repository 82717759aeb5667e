"""Network slimming (Liu et al., ICCV 2017): sparse training with an L1 penalty on BatchNorm scales, then the
channels with the smallest |gamma| go, chosen by one global threshold with a per-layer floor.

Coupled channels (residual adds, concatenations, C2f_v2 branches) are scored and removed together through
Torch-Pruning's dependency groups (``BNScaleImportance``, ``BNScalePruner``) instead of hand-written skip lists.
Torch-Pruning's own global pruning has no per-layer floor and can empty a layer, so the threshold is taken here
and handed to the pruner as per-layer widths.

Usage:
    from yolo_prune import prune

    prune(model="best.pt", data="data.yaml", method="slim", sr=1e-2, sparse_epochs=50, target_prune_rate=0.5)

CLI:
    yolo-prune --method slim --model best.pt --data data.yaml --sr 1e-2 --sparse-epochs 50 --target-prune-rate 0.5
    yolo-prune --method slim --model sparse.pt --data data.yaml --sparse-epochs 0   # prune an already sparse model
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.methods.base import PruningMethod, module_names, out_convs, prunable_groups
from yolo_prune.rundir import write_json, write_npy, write_text


def penalised_bns(model: nn.Module, graph: tp.DependencyGraph, ignored: list[nn.Module]) -> list[str]:
    """Names of the BatchNorms whose channels pruning can remove; the others get no sparsity penalty."""
    names = module_names(model)
    found = {
        names[dep.target.module]
        for group in prunable_groups(graph, ignored)
        for dep, _ in group
        if isinstance(dep.target.module, nn.BatchNorm2d)
    }
    return [n for n in names.values() if n in found]


def gammas(model: nn.Module, bn_names: list[str]) -> np.ndarray:
    modules = dict(model.named_modules())
    return torch.cat([modules[n].weight.detach().abs().float().cpu().flatten() for n in bn_names]).numpy()


class SparsityLog:
    """``on_train_epoch_end`` callback of sparse training that writes ``sparsity.csv``: per epoch the penalty ``sr``,
    ``shrink`` (how far the penalty has pulled each |gamma| toward zero so far), and mean |gamma| and the share below
    ``threshold`` of the EMA weights, which Ultralytics saves and which are pruned; ``live_share_below`` is the live
    model's share, which the EMA trails by its averaging window (thousands of steps into a long run)."""

    header = "epoch,sr,shrink,mean_abs_gamma,share_below,live_share_below"

    def __init__(self, path: Path, threshold: float) -> None:
        self.path, self.threshold, self.rows = path, threshold, [self.header]
        self.epoch: int | None = None
        self.shrink = 0.0

    def __call__(self, trainer: Any) -> None:
        ema = gammas(trainer.ema.ema, trainer.bn_names)
        live = torch.cat([bn.weight.detach().abs().float().cpu().flatten() for bn in trainer.bns]).numpy()
        self.epoch, self.shrink = trainer.epoch + 1, float(trainer.shrink)
        self.rows.append(f"{self.epoch},{trainer.current_sr():.6g},{self.shrink:.6g},{ema.mean():.6g},"
                         f"{(ema < self.threshold).mean():.6g},{(live < self.threshold).mean():.6g}")  # fmt: skip
        write_text(self.path, "\n".join(self.rows) + "\n")


class SlimmingMethod(PruningMethod):
    name = "slim"
    pruner_cls = tp.pruner.BNScalePruner

    @property
    def prepare_phase(self) -> str | None:
        return "sparse" if self.settings["sparse_epochs"] > 0 else None

    def importance(self) -> tp.importance.Importance:
        return tp.importance.BNScaleImportance(normalizer=None)  # raw |gamma|: comparable across layers

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        """Sparse-train ``model`` (unless ``sparse_epochs`` is 0) and return its last epoch's EMA weights, which are
        what gets pruned: the phase exists to make the model sparse, and its last epoch is the sparsest. ``best.pt``
        would be the epoch with the best mAP, usually an early, less sparse one, since the penalty costs mAP.

        Writes |gamma| before and after (``gamma_before.npy``, ``gamma_after.npy``), the per-epoch sparsity of the
        EMA weights, which Ultralytics saves and which are pruned, with the live model's beside it
        (``sparsity.csv``), and which checkpoint was pruned (``sparse.json``).
        """
        from yolo_prune.training import SparseTrainer, finetune

        graph, ignored, _ = self.graph(model, run.imgsz)
        bns = penalised_bns(model, graph, ignored)
        write_npy(run.dir / "gamma_before.npy", gammas(model, bns))
        if self.settings["sparse_epochs"] == 0:
            return model
        threshold = self.settings["gamma_threshold"]
        log = SparsityLog(run.dir / "sparsity.csv", threshold)
        sparse = {"sr": self.settings["sr"], "anneal": self.settings["sr_anneal"], "bns": bns}
        model = finetune(
            model, run.data, {**run.train_args, "epochs": self.settings["sparse_epochs"]}, run.dir / "sparse",
            trainer_cls=SparseTrainer, callbacks={"on_train_epoch_end": log}, weights="last", sparse=sparse,
        )  # fmt: skip
        after = gammas(model, bns)
        write_npy(run.dir / "gamma_after.npy", after)
        write_json(run.dir / "sparse.json", {
            "pruned": "sparse/weights/last.pt", "weights": "EMA", "epoch": log.epoch, "shrink": log.shrink,
            "mean_abs_gamma": float(after.mean()), "share_below": float((after < threshold).mean()),
        })  # fmt: skip
        return model

    def target_widths(self, model, graph, ignored, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        names, imp = module_names(model), self.importance()
        round_to, floor_setting = self.settings["round_to"], self.settings["min_channels"]
        layers = []  # (convs, scores sorted high to low, floor, current width, base width)
        for group in prunable_groups(graph, ignored):
            convs, scores = out_convs(group), imp(group)
            if not convs or scores is None:
                continue
            base, current = base_widths[names[convs[0]]], convs[0].out_channels
            floor = math.ceil(floor_setting * base) if floor_setting < 1 else int(floor_setting)
            floor = min(math.ceil(max(floor, 1) / round_to) * round_to, current)
            layers.append((convs, torch.sort(scores.detach().cpu(), descending=True).values, floor, current, base))
        budget = round(self.remaining_fraction(step, steps) * sum(layer[4] for layer in layers))
        budget -= sum(layer[2] for layer in layers)
        # One global threshold over every channel above its layer's floor: the `budget` largest |gamma| stay.
        rest = [(float(s), i) for i, layer in enumerate(layers) for s in layer[1][layer[2] :]]
        rest.sort(key=lambda t: -t[0])
        extra = [0] * len(layers)
        for _, i in rest[: max(budget, 0)]:
            extra[i] += 1
        widths = {}
        for (convs, _, floor, current, _), n in zip(layers, extra):
            keep = min(math.ceil((floor + n) / round_to) * round_to, current)
            widths.update(dict.fromkeys(convs, keep))
        return widths
