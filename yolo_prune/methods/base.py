"""The shared part of every pruning method: what may be pruned, the width rules every cut obeys, and the cut itself.

A method (``DepGraphMethod``, ``SlimmingMethod``) only says how channels are scored (a Torch-Pruning importance and
pruner class) and which width each layer should keep at a step (``target_widths``). ``WidthRules`` then makes those
widths ones the model can hold: the two halves of a C2f block keep one width (so the block folds back into a stock
C2f), widths are multiples of ``round_to``, and, where ``round_to`` is a multiple of 8 and the head is pruned, widths
are ones an Ultralytics model yaml can state (the head's inner widths and other widths Ultralytics derives follow
their rules), so that ``yolo train model=final.pt`` rebuilds the pruned model as it is. The cut itself is always
done by a Torch-Pruning pruner over its dependency graph, so coupled channels (residual adds, concatenations, the
two C2f_v2 branches) are removed together. Models go in and come out in their stock form: the prunable form
(``ModelAdapter.prunable_form``) exists only during the cut.

Usage:
    from yolo_prune.evaluation import layer_widths
    from yolo_prune.methods import make_method
    from yolo_prune.structure import ModelAdapter

    method = make_method(settings, ModelAdapter.of(model, "best.pt"))
    base = layer_widths(model)
    rate = method.prune(model, step=1, steps=4, base_widths=base, imgsz=640)  # in place; share of channels removed
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.structure import CUSTOMIZED_PRUNERS, ModelAdapter, split_widths
from yolo_prune.structure.model_yaml import rebuilt_widths
from yolo_prune.structure.parts import CONVS, tied_convs


def keep_count(orig: int, fraction: float, round_to: int, floor: int = 1) -> int:
    """Channels a layer of ``orig`` channels keeps at ``fraction``: a multiple of ``round_to``, at least ``floor``."""
    n = max(round(orig * fraction / round_to) * round_to, floor)
    n = math.ceil(n / round_to) * round_to
    return min(n, orig)


REBUILD_ROUNDS = 3  # rebuilds until coupled convs agree with what Ultralytics derives (two suffice in practice)


class WidthRules:
    """Turns the widths a method wants into widths the model can hold (see the module docstring)."""

    def __init__(self, model: nn.Module, groups: list[Any], round_to: int, yaml_widths: bool) -> None:
        self.model, self.round_to, self.yaml_widths = model, round_to, yaml_widths
        self.names = module_names(model)
        self.convs = [out_convs(g) for g in groups]
        self.current = {c: c.out_channels for convs in self.convs for c in convs}

    def apply(self, wanted: dict[nn.Conv2d, int]) -> dict[nn.Conv2d, int]:
        """Each prunable conv's width: ``wanted`` (the current width where not given), halves of a C2f block tied to
        the wider one, rounded up to ``round_to``, then (with yaml widths) as an Ultralytics yaml rebuilds them."""
        widths = {c: min(self._rounded(wanted.get(c, c.out_channels)), c.out_channels) for c in self.current}
        for tied in tied_convs(self.model):  # one width; where one of them is fixed, the others keep theirs too
            present = [c for c in tied if c in widths]
            if present:
                whole = len(present) == len(tied)
                widths.update(dict.fromkeys(present, max(widths[c] if whole else c.out_channels for c in present)))
        widths = self._coupled(widths)
        return self._as_yaml_rebuilds(widths) if self.yaml_widths else widths

    def _coupled(self, widths: dict[nn.Conv2d, int]) -> dict[nn.Conv2d, int]:
        """``widths`` with the convs of each group (coupled channels) at the widest of them, in place."""
        for convs in self.convs:
            widths.update(dict.fromkeys(convs, max(widths[c] for c in convs)))
        return widths

    def _rounded(self, n: int, multiple: int = 1) -> int:
        step = self.round_to * multiple
        return max(math.ceil(n / step), 1) * step

    def _as_yaml_rebuilds(self, widths: dict[nn.Conv2d, int]) -> dict[nn.Conv2d, int]:
        """The widths of the model Ultralytics builds from a yaml stating ``widths`` per layer (``rebuilt_widths``)."""
        current = {n: m.out_channels for n, m in self.model.named_modules() if isinstance(m, CONVS)}
        for _ in range(REBUILD_ROUNDS):  # a width the rebuild rounds (SPPF's input) re-ties its coupled convs
            by_name = {self.names[c]: w for c, w in widths.items()}
            built = rebuilt_widths(self.model, lambda name: by_name.get(name, current[name]), self._rounded)
            rebuilt = self._coupled({c: min(built[self.names[c]], c.out_channels) for c in widths})
            if rebuilt == widths:
                break
            widths = rebuilt
        return widths

    def channels(self, widths: dict[nn.Conv2d, int]) -> int:
        """Prunable channels kept: one width per group of coupled convs."""
        return sum(widths.get(convs[0], convs[0].out_channels) for convs in self.convs if convs)


class PruningMethod:
    """Base strategy: a Torch-Pruning pruner class and importance, and the per-layer widths of each step."""

    name = ""
    step_phase = "prune"  # the step-log phase of the loop's steps
    pruner_cls: type = tp.pruner.BasePruner

    def __init__(self, settings: dict[str, Any], adapter: ModelAdapter) -> None:
        self.settings, self.adapter = settings, adapter

    def importance(self) -> tp.importance.Importance:
        raise NotImplementedError

    def remaining_fraction(self, step: int, steps: int) -> float:
        """Share of the base width kept after ``step`` of ``steps``: equal relative cuts, ``(1-rate)**(step/steps)``,
        so the last step lands on ``target_prune_rate``."""
        return (1 - self.settings["target_prune_rate"]) ** (step / steps)

    def target_rate(self, step: int, steps: int, reached: float) -> float:
        """The share of channels the schedule meant to remove by ``step``, logged beside the share ``reached``."""
        return 1 - self.remaining_fraction(step, steps)

    prepare_phase: str | None = None  # the step-log phase of ``prepare``'s result, when it trains

    def check(self, model: nn.Module) -> dict[str, Any]:
        """Work that may refuse the run before anything is written (the latency method measures whether its target
        is within the model's reach); returns files for the new run directory, {name: JSON data}. None by default."""
        return {}

    def attach(self, run: Any) -> None:
        """The run this method works for, before the loop's first step (a resumed run attaches again)."""
        self.run = run

    def goal_reached(self, row: dict[str, Any]) -> bool:
        """Whether the run may end after the step logged as ``row``: the latency method times that step's checkpoint
        against the base. The loop asks after every kept step, the last included, and again for the last row of a
        resumed run, so a method answers each step once. Never, by default: the schedule ends the run."""
        return False

    def summary(self, run: Any, summary: dict[str, Any]) -> dict[str, Any]:
        """What the method adds to the run's ``summary`` (summary.json); nothing by default."""
        return {}

    def prepare(self, model: nn.Module, run: Any) -> nn.Module:
        """Work before the first pruning step (network slimming's sparse training); none by default."""
        return model

    def step_model(self, model: nn.Module, step: int) -> nn.Module:
        """The model step ``step`` cuts: the previous step's, by default (the search cuts every target from its
        supernet)."""
        return model

    def target_widths(
        self, model: nn.Module, groups: list[Any], rules: WidthRules, step: int, steps: int,
        base_widths: dict[str, int],
    ) -> dict[nn.Conv2d, int]:  # fmt: skip
        """Each prunable conv's width after ``step`` (``model`` in its prunable form), passed through ``rules``."""
        raise NotImplementedError

    def graph(self, model: nn.Module, imgsz: int) -> tuple[tp.DependencyGraph, list[nn.Module], torch.Tensor]:
        """Torch-Pruning's dependency graph of ``model`` in its prunable form (moved to the CPU, eval mode), its
        ignored layers and example input."""
        # eval: tracing must not update BatchNorm statistics, and YOLO26's head detaches its one-to-one branch in
        # training mode, which would split the two branches of an end-to-end head into separate groups
        model.cpu().eval()
        for p in model.parameters():
            p.requires_grad_(True)  # the tracer follows autograd; EMA checkpoints come with gradients off
        example = torch.zeros(1, 3, imgsz, imgsz)
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example, customized_pruners=CUSTOMIZED_PRUNERS)
        return graph, self.adapter.fixed(model, self.settings["prune_head"]), example

    def width_rules(self, model: nn.Module, groups: list[Any]) -> WidthRules:
        """The run's width rules for prunable-form ``model`` and its groups."""
        return WidthRules(model, groups, self.settings["round_to"], bool(self.settings["yaml_widths"]))

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> float:
        """Cut every prunable layer of stock-form ``model`` (in place, on the CPU) to the widths of ``step``; return
        the share of the base's prunable channels removed so far (the rate reached, rounding included)."""
        with self.adapter.prunable_form(model):
            base = split_widths(model, base_widths)
            graph, ignored, example = self.graph(model, imgsz)
            groups = prunable_groups(graph, ignored)
            rules = self.width_rules(model, groups)
            base_channels = sum(base[module_names(model)[convs[0]]] for convs in rules.convs if convs)
            widths = self.target_widths(model, groups, rules, step, steps, base)
            ratios = {c: 1 - (keep + 0.5) / c.out_channels for c, keep in widths.items() if keep < c.out_channels}
            if ratios:
                # Torch-Pruning keeps int(current * (1 - ratio)) channels; the +0.5 makes that exactly `keep`.
                pruner = self.pruner_cls(
                    model, example, importance=self.importance(), pruning_ratio=0.0, pruning_ratio_dict=ratios,
                    ignored_layers=ignored, customized_pruners=CUSTOMIZED_PRUNERS,
                )  # fmt: skip
                pruner.step()
            return 1 - rules.channels({c: c.out_channels for c in rules.current}) / base_channels


def prunable_groups(graph: tp.DependencyGraph, ignored: list[nn.Module]) -> list[Any]:
    """Torch-Pruning's groups of coupled channels, each rooted at a conv whose output channels may be cut."""
    skip = [m for layer in ignored for m in layer.modules()]
    return list(graph.get_all_groups(ignored_layers=skip, root_module_types=list(CONVS)))


def out_convs(group: Any) -> list[nn.Conv2d]:
    """The convs whose output channels a group cuts: they share one width, so they share one target."""
    return [
        dep.target.module
        for dep, _ in group
        if isinstance(dep.target.module, CONVS) and dep.handler == tp.prune_conv_out_channels
    ]


def tied_units(model: nn.Module, groups: list[Any], imp: tp.importance.Importance | None = None,
               ) -> list[tuple[list[nn.Conv2d], torch.Tensor | None]]:  # fmt: skip
    """Groups as units of one width (``model`` in its prunable form): convs the width rules tie (the two halves of a
    C2f block, the prototype's inner convs) are one unit. With ``imp``, each unit comes with its channel scores
    sorted high to low, channel k of a tied unit scored by the mean of its groups' k-th largest; groups ``imp`` cannot
    score are left out."""
    scored = []
    for group in groups:
        convs, scores = out_convs(group), imp(group) if imp is not None else None
        if convs and (imp is None or scores is not None):
            ordered = None if scores is None else torch.sort(scores.detach().cpu().float(), descending=True).values
            scored.append((convs, ordered))
    unit_of = {c: i for i, (convs, _) in enumerate(scored) for c in convs}
    merged: dict[int, int] = {}
    for tied in tied_convs(model):
        found = [unit_of.get(c) for c in tied]
        if None not in found:  # one of them fixed or unscored: the width rules keep all of them as they are
            first, *rest = dict.fromkeys(found)
            merged.update(dict.fromkeys(rest, first))
    units = []
    for i, (convs, scores) in enumerate(scored):
        if i in merged:
            continue
        members = [i, *(j for j, into in merged.items() if into == i)]
        convs = [c for j in members for c in scored[j][0]]
        if scores is not None:
            n = min(len(scored[j][1]) for j in members)
            scores = torch.stack([scored[j][1][:n] for j in members]).mean(0)
        units.append((convs, scores))
    return units


def channel_floor(base: int, min_channels: float) -> int:
    """The fewest channels a layer of ``base`` channels keeps: a share (< 1) or a count (>= 1), at least one."""
    return max(math.ceil(min_channels * base) if min_channels < 1 else int(min_channels), 1)


def module_names(model: nn.Module) -> dict[nn.Module, str]:
    return {m: n for n, m in model.named_modules()}


def ranked_widths(units: list[tuple[list[nn.Conv2d], torch.Tensor, int]], rules: WidthRules,
                  ) -> tuple[int, Callable[[int], dict[nn.Conv2d, int]]]:  # fmt: skip
    """Channels ranked across layers: ``units`` are (convs of one width, channel scores sorted high to low, floor).
    Returns how many channels lie above the floors and ``widths_for(n)``: every unit at its floor plus the ``n``
    best-scored of those channels, through the width rules (for ``search_widths`` or a search of one's own)."""
    ranked = sorted(((float(s), i) for i, (_, scores, floor) in enumerate(units) for s in scores[floor:]),
                    key=lambda t: -t[0])  # fmt: skip

    def widths_for(n: int) -> dict[nn.Conv2d, int]:
        keep = [floor for _, _, floor in units]
        for _, i in ranked[:n]:
            keep[i] += 1
        return rules.apply({c: k for (convs, _, _), k in zip(units, keep) for c in convs})

    return len(ranked), widths_for


def search_widths(count: int, budget: int, widths_for: Callable[[int], dict[nn.Conv2d, int]],
                  rules: WidthRules) -> dict[nn.Conv2d, int]:  # fmt: skip
    """The widths ``widths_for(n)`` (n in 0..count, kept channels growing with n) whose kept channels, after the width
    rules, come closest to ``budget``: rounding and derived widths move the total, so the budget is searched for."""
    lo, hi = 0, count  # invariant: channels(lo) <= budget, or lo == 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if rules.channels(widths_for(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    below = widths_for(lo)
    if lo == count:
        return below
    above = widths_for(lo + 1)
    return above if abs(rules.channels(above) - budget) < abs(budget - rules.channels(below)) else below


__all__ = [
    "PruningMethod", "WidthRules", "channel_floor", "keep_count", "module_names", "out_convs", "prunable_groups",
    "ranked_widths", "search_widths", "tied_units",
]  # fmt: skip
