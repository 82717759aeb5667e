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

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.methods.base import (
    PruningMethod, channel_floor, module_names, prunable_groups, ranked_widths, search_widths, tied_units,
)  # fmt: skip
from yolo_prune.rundir import GAMMA_FILES, SPARSE_DIR, SPARSE_FILE, SPARSITY_FILE, write_json, write_npy, write_text
from yolo_prune.structure import stock_name


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

    def penalised(self, model: nn.Module, imgsz: int) -> list[str]:
        """Names, in stock-form ``model``, of the BatchNorms whose channels pruning can remove: a C2f block's ``cv1``
        BN covers both halves that pruning cuts alike."""
        with self.adapter.prunable_form(model):
            graph, ignored, _ = self.graph(model, imgsz)
            return list(dict.fromkeys(stock_name(n, model) for n in penalised_bns(model, graph, ignored)))

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        """Sparse-train ``model`` (unless ``sparse_epochs`` is 0) and return its last epoch's EMA weights, which are
        what gets pruned: the phase exists to make the model sparse, and its last epoch is the sparsest. ``best.pt``
        would be the epoch with the best mAP, usually an early, less sparse one, since the penalty costs mAP.

        Writes |gamma| before and after (``gamma_before.npy``, ``gamma_after.npy``), the per-epoch sparsity of the
        EMA weights, which Ultralytics saves and which are pruned, with the live model's beside it
        (``sparsity.csv``), and which checkpoint was pruned (``sparse.json``).
        """
        from yolo_prune.training import SparseTraining, finetune, trainer_class

        bns = self.penalised(model, run.imgsz)
        write_npy(run.dir / GAMMA_FILES["before"], gammas(model, bns))
        if self.settings["sparse_epochs"] == 0:
            return model
        threshold = self.settings["gamma_threshold"]
        log = SparsityLog(run.dir / SPARSITY_FILE, threshold)
        sparse = {"sr": self.settings["sr"], "anneal": self.settings["sr_anneal"], "bns": bns}
        model = finetune(
            model, run.data, {**run.train_args, "epochs": self.settings["sparse_epochs"]}, run.dir / SPARSE_DIR,
            trainer_cls=trainer_class(self.adapter.task, SparseTraining), callbacks={"on_train_epoch_end": log}, weights="last", sparse=sparse,
        )  # fmt: skip
        after = gammas(model, bns)
        write_npy(run.dir / GAMMA_FILES["after"], after)
        write_json(run.dir / SPARSE_FILE, {
            "pruned": f"{SPARSE_DIR}/weights/last.pt", "weights": "EMA", "epoch": log.epoch, "shrink": log.shrink,
            "mean_abs_gamma": float(after.mean()), "share_below": float((after < threshold).mean()),
        })  # fmt: skip
        return model

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """One global threshold on |gamma| over every channel above its layer's floor. How many channels it keeps is
        searched so that, after the width rules (rounding, tied C2f halves, derived widths), the share of channels
        kept is as close to the step's as those rules allow."""
        names, imp = module_names(model), self.importance()
        units = []  # (convs cut to one width, |gamma| scores sorted high to low, floor)
        for convs, scores in tied_units(model, groups, imp):
            base = base_widths[names[convs[0]]]
            floor = min(channel_floor(base, self.settings["min_channels"]), convs[0].out_channels)
            units.append((convs, scores, floor))
        count, widths_for = ranked_widths(units, rules)
        base_channels = sum(base_widths[names[convs[0]]] for convs in rules.convs if convs)
        budget = round(self.remaining_fraction(step, steps) * base_channels)
        return search_widths(count, budget, widths_for, rules)
