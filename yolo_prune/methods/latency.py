"""Latency-targeted pruning: per-layer widths chosen for a speed-up that ONNX Runtime measures, not for a share of
channels.

Uniform pruning spends accuracy on layers that buy little time, and part of a YOLO model's latency never shrinks with
its channels (head decoding, fixed-width prediction convs, per-operation costs). This method measures both on the
run's runtime (ONNX Runtime with ``latency_provider`` and ``latency_threads``; models exported as the run exports its
final model; models compared in the same interleaved rounds, so that the machine's drift falls on all alike; with
``latency_threads`` 1, each run timed by its thread's CPU time, which a busy machine does not disturb):

- **Before any work, the floor**: the model with every prunable layer at the narrowest width the run allows
  (``min_channels``, ``round_to`` and the width rules) against the base. A target beyond it is refused with the best
  reachable speed-up. ``--target-latency-ms T`` becomes the speed-up ``base ms / T`` here, once.
- **Each step, a latency table** (NetAdapt-style): every layer whose width the run may choose is halved in a copy of
  the current model (``cut_copy``, written into the current model's exported graph by ``export_like``: no tracing),
  and the copies are timed with the current model and the base:
  what that layer's channels cost here, with everything they drag along (the convs that read them, the widths
  Ultralytics derives from them). Per layer, the share of the base's latency one channel costs.
- **Each step's widths**: a channel's cost is the share of its layer's remaining importance it holds (Torch-Pruning's
  group L2 importance, as DepGraph scores channels; the least important go first), so a layer's cost is -log of the
  share of its importance it keeps: halving any layer costs about log 2, as uniform pruning treats every layer alike,
  and thinning a thin layer costs more than thinning a wide one. Channels go in order of cost per latency saved until
  the table predicts the step's target, ``target ** (step / steps)`` (3 % beyond, for the noise of the next
  measurement). Every width goes through the run's width rules. The proposal is exported and timed against the base;
  one that falls short asks for more (cuts made together save less than the sum of their parts), one that
  overshoots after a short one is bisected, up to 4 proposals, before the real cut.
- **After each step's fine-tuning**, the step's checkpoint is exported and timed against the base; the run ends at
  the first step that meets the target (``goal_reached``), or after ``iterative_steps``.

Files in the run directory: ``speed_target.json`` (target, floor, each step's measured speed-up, the step that met
the target) and ``latency_table.json`` (each step's table: per layer, the time a halving saves and the share of the
layer's importance it removes, the widths chosen, the proposals; the report's per-layer guidance).

Usage:
    from yolo_prune import prune

    prune(model="best.pt", data="data.yaml", target_speedup=2.0, iterative_steps=4, epochs=10, latency_threads=1)
    prune(model="best.pt", data="data.yaml", target_latency_ms=12.5)  # a target selects method="latency"

CLI:
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --iterative-steps 4 --latency-threads 1
    yolo-prune --model best.pt --data data.yaml --target-latency-ms 12.5
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.errors import UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import export_like, export_model, export_onnx
from yolo_prune.latency import measure_interleaved, timing_label
from yolo_prune.methods.base import (
    PruningMethod, WidthRules, channel_floor, module_names, prunable_groups, tied_units, yaml_widths,
)  # fmt: skip
from yolo_prune.rundir import write_json
from yolo_prune.speed_report import SPEED_FILE, TABLE_FILE, attainable_speedup
from yolo_prune.surgery import fold_c2f, prunable, stock_name

MARGIN = 0.03  # each step aims this much beyond its target: the measurement after fine-tuning has its own noise
PROPOSALS = 4  # proposals timed per step before the real cut
PROBE = 0.5  # the table halves each layer: a cut whose effect stands well above the timing noise
MAX_CORRECTION = 3.0  # a proposal that falls short raises the amount by at most this factor
OVERSHOOT = 0.05  # a proposal this much beyond the step's target is kept without looking for a smaller cut


@dataclass
class Unit:
    """Convs the run cuts to one width (a coupled group, or both halves of a C2f block), in the prunable form."""

    layer: str  # the stock name of its first conv (both halves of a C2f block: the block's cv1)
    key: tuple[str, ...]  # the names of its convs in the prunable form
    convs: list[nn.Conv2d]
    scores: torch.Tensor | None  # importance of its channels, sorted high to low
    width: int
    floor: int  # the narrowest width the run allows it; == width when the rules derive it from others
    stock_factor: int = 1  # the stock conv holds both halves of a C2f block: twice the unit's width

    @property
    def cuttable(self) -> bool:
        return self.floor < self.width


def cut_copy(model: nn.Module, graph: tp.DependencyGraph, widths: dict[nn.Conv2d, int]) -> nn.Module:
    """A stock-form copy of prunable-form ``model`` with every conv cut to its width in ``widths``, for timing: the
    architecture the real cut gives (each conv's last channels go: latency does not depend on which). Torch-Pruning's
    groups on ``graph`` say which tensors of which layers each cut touches; ``model`` itself is left as it is."""
    names = module_names(model)
    removals: dict[tuple[str, Callable], set[int]] = {}
    for conv, keep in widths.items():
        if keep < conv.out_channels:
            group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, list(range(keep, conv.out_channels)))
            for dep, idxs in group:
                if dep.target.module in names:  # model layers; concat and split nodes of the graph hold no weights
                    removals.setdefault((names[dep.target.module], dep.handler), set()).update(idxs)
    cut = copy.deepcopy(model)
    modules = dict(cut.named_modules())
    for (name, handler), idxs in removals.items():  # idxs of every group in the unpruned numbering: one call each
        handler(modules[name], sorted(idxs))
    fold_c2f(cut)
    return cut


class LatencyMethod(PruningMethod):
    """Widths chosen for a measured speed-up (see the module docstring)."""

    name = "latency"
    pruner_cls = tp.pruner.GroupNormPruner

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(settings)
        self.run: Any = None
        self.state: dict[str, Any] = {}
        self._derived: set[tuple[str, ...]] = set()  # layers whose width the rules derive from others
        self._exported: set[Path] = set()  # checkpoints exported by this process (a killed export may be partial)
        self._graph: tp.DependencyGraph | None = None
        self._rate = 0.0
        self._noise = 0.0

    def importance(self) -> tp.importance.Importance:
        return tp.importance.GroupMagnitudeImportance(p=2)

    # ---------------------------------------------------------------------------------------------- hooks

    def check(self, model: nn.Module) -> dict[str, Any]:
        """Time the floor against the base; refuse a target beyond it in one line that gives the reachable one."""
        s = self.settings
        with prunable(model), tempfile.TemporaryDirectory(prefix="yolo_prune_floor_") as tmp:
            graph, ignored, _ = self.graph(model, s["imgsz"])
            groups = prunable_groups(graph, ignored)
            rules = WidthRules(model, groups, s["round_to"], yaml_widths(s))
            base = {n: m.out_channels for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
            units = self._units(model, groups, rules, base)
            floor = cut_copy(model, graph, rules.apply({c: u.floor for u in units for c in u.convs}))
            base_onnx = export_model(cut_copy(model, graph, {}), Path(tmp) / "base.onnx", s["imgsz"])
            base_ms, floor_ms = self._time([base_onnx, export_like(base_onnx, floor, Path(tmp) / "floor.onnx")])
        reach = base_ms / floor_ms
        where = self._where()
        if s.get("target_latency_ms") is not None:
            wanted = s["target_latency_ms"]
            if wanted >= base_ms:
                raise UserError(f"target latency {wanted:g} ms is not below the base model's {base_ms:.2f} ms "
                                f"({where}): nothing to prune for")  # fmt: skip
            if wanted < floor_ms:
                raise UserError(
                    f"target latency {wanted:g} ms is beyond this model's reach: with every prunable layer at its "
                    f"narrowest width it still takes {floor_ms:.2f} ms ({where}; base {base_ms:.2f} ms); the lowest "
                    f"reachable is {floor_ms:.2f} ms, a {reach:.2f}x speed-up"
                )  # fmt: skip
            target = base_ms / wanted
        else:
            target = s["target_speedup"]
            if target > reach:
                raise UserError(
                    f"target speed-up {target:g}x is beyond this model's reach: with every prunable layer at its "
                    f"narrowest width it runs {reach:.2f}x faster than the base ({floor_ms:.2f} ms against "
                    f"{base_ms:.2f} ms, {where}); the best reachable speed-up is {reach:.2f}x"
                )  # fmt: skip
        self.state = {
            "target_speedup": target, "target_latency_ms": s.get("target_latency_ms"),
            "provider": s["latency_provider"], "threads": s.get("latency_threads"), "imgsz": s["imgsz"],
            "runs": s["latency_runs"], "base_ms": base_ms, "floor_ms": floor_ms, "floor_speedup": reach,
            "floor_widths": layer_widths(floor),
            "steps": [], "met_at_step": None,
        }  # fmt: skip
        print(f"speed target {target:.2f}x ({where}): base {base_ms:.2f} ms, floor {floor_ms:.2f} ms with every "
              f"prunable layer at its narrowest, so at most {reach:.2f}x is reachable", flush=True)  # fmt: skip
        return {SPEED_FILE: self.state}

    def attach(self, run: Any) -> None:
        super().attach(run)
        self.state = json.loads((run.dir / SPEED_FILE).read_text())

    def graph(self, model: nn.Module, imgsz: int) -> tuple[tp.DependencyGraph, list[nn.Module], torch.Tensor]:
        """The base class's graph, kept for ``target_widths``: its proposals are cut from it."""
        graph, ignored, example = super().graph(model, imgsz)
        self._graph = graph
        return graph, ignored, example

    def prune(self, model: nn.Module, step: int, steps: int, base_widths: dict[str, int], imgsz: int) -> float:
        self._rate = super().prune(model, step, steps, base_widths, imgsz)
        return self._rate

    def remaining_fraction(self, step: int, steps: int) -> float:
        """The share of channels the last cut kept: a speed target schedules no share of its own."""
        return 1 - self._rate

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """The step's widths: the latency table, then proposals timed against the base (see the module docstring)."""
        goal = self.state["target_speedup"] ** (step / steps)
        units = self._units(model, groups, rules, base_widths, self.importance())
        with tempfile.TemporaryDirectory(prefix="yolo_prune_latency_") as tmp:
            rows, probed, base_ms, current_ms = self._table(model, units, rules, step, Path(tmp))
            aim = goal * (1 + MARGIN)
            proposals = self._propose(model, probed, rules, current_ms / base_ms, aim, step, Path(tmp))
        chosen = min((p for p in proposals if p["measured_speedup"] >= aim), key=lambda p: p["need"],
                     default=max(proposals, key=lambda p: p["measured_speedup"], default=None))  # fmt: skip
        widths = chosen.pop("widths") if chosen else rules.apply({})
        for p in proposals:
            p.pop("widths", None)
            p["chosen"] = p is chosen
        for row, (unit, _) in zip(rows, probed):
            row["chosen_width"] = widths[unit.convs[0]]
            row["chosen_stock_width"] = widths[unit.convs[0]] * unit.stock_factor
        entry = {"step": step, "step_target": goal, "base_ms": base_ms, "current_ms": current_ms,
                 "current_speedup": base_ms / current_ms, "noise": self._noise, "layers": rows,
                 "proposals": proposals}  # fmt: skip
        self._save_table(entry)
        measured = chosen["measured_speedup"] if chosen else base_ms / current_ms
        print(f"step {step}/{steps}    widths for {goal:.2f}x: {len(rows)} layers timed, {len(proposals)} proposal(s), "
              f"the cut measures {measured:.2f}x against the base", flush=True)  # fmt: skip
        return widths

    def _propose(self, model: nn.Module, probed: list[tuple[Unit, float]], rules: WidthRules, current: float,
                 aim: float, step: int, tmp: Path) -> list[dict[str, Any]]:  # fmt: skip
        """Widths for the step, each proposal exported and timed against the base until one runs ``aim`` times
        faster than the base. ``need`` is the share of the base's latency the table says to remove. The table sums
        single-layer cuts, and cuts made together save less, so a proposal that falls short asks for more: by the
        table's error after one proposal, along the line through the last two after that; one that overshoots by
        more than ``OVERSHOOT`` after a short one is bisected."""
        wanted = current - 1 / aim  # share of the base's latency the cut must remove
        proposals: list[dict[str, Any]] = []
        need = wanted
        while need > 0 and probed and len(proposals) < PROPOSALS:
            widths, predicted, at_floor = self._choose(probed, need, rules)
            path = export_like(self._onnx(self._current(step)), cut_copy(model, self._graph, widths),
                               tmp / f"p{len(proposals)}.onnx")  # fmt: skip
            base_ms, ms = self._time([self._onnx(None), path])
            proposals.append({"need": need, "predicted_speedup": 1 / (current - predicted),
                              "removed": current - ms / base_ms, "measured_speedup": base_ms / ms,
                              "at_floor": at_floor, "widths": widths})  # fmt: skip
            met = [p for p in proposals if p["measured_speedup"] >= aim]
            short = [p for p in proposals if p["measured_speedup"] < aim]
            if met and (not short or min(p["measured_speedup"] for p in met) < aim * (1 + OVERSHOOT)):
                break
            if at_floor and not met:
                break
            if met:
                need = (min(p["need"] for p in met) + max(p["need"] for p in short)) / 2
            elif len(proposals) == 1:
                need = min(wanted * predicted / max(proposals[0]["removed"], 1e-6), need * MAX_CORRECTION)
            else:
                (n1, r1), (n2, r2) = ((p["need"], p["removed"]) for p in proposals[-2:])
                slope = (r2 - r1) / (n2 - n1) if n2 != n1 else 0.0
                step_up = (wanted - r2) / slope if slope > 0 else need * (MAX_CORRECTION - 1)
                need = n2 + min(max(step_up, n2 * MARGIN), n2 * (MAX_CORRECTION - 1))
        return proposals

    def goal_reached(self, row: dict[str, Any]) -> bool:
        """Time the step's checkpoint against the base (once per step); True once it meets the target."""
        if row.get("phase") != self.step_phase or not row.get("step") or row.get("status") != "kept":
            return False
        done = next((e for e in self.state["steps"] if e["step"] == row["step"]), None)
        if done is None:
            k, steps, target = row["step"], self.settings["iterative_steps"], self.state["target_speedup"]
            base_ms, ms = self._time([self._onnx(None), self._onnx(row["checkpoint"])])
            done = {"step": k, "step_target": target ** (k / steps), "base_ms": base_ms, "ms": ms,
                    "speedup": base_ms / ms, "met": base_ms / ms >= target, "checkpoint": row["checkpoint"]}  # fmt: skip
            self.state["steps"].append(done)
            if done["met"] and self.state.get("met_at_step") is None:
                self.state["met_at_step"] = k
            write_json(self.run.dir / SPEED_FILE, self.state)
            verdict = "target met, the run ends here" if done["met"] else "not yet"
            print(f"step {k}/{steps}    speed-up {done['speedup']:.2f}x measured against the base (target "
                  f"{target:.2f}x): {verdict}", flush=True)  # fmt: skip
        return bool(done["met"])

    def summary(self, run: Any, summary: dict[str, Any]) -> dict[str, Any]:
        """The target, the floor and the speed-up the floor allows at the final MACs ratio (Amdahl's law: the time
        above the floor shrinking in proportion to the MACs), beside what was measured."""
        state = json.loads((run.dir / SPEED_FILE).read_text())
        share = state["floor_ms"] / state["base_ms"]
        ratio = summary.get("macs_ratio")
        attainable = attainable_speedup(state["base_ms"], state["floor_ms"], ratio) if ratio else None
        keep = ("target_speedup", "target_latency_ms", "base_ms", "floor_ms", "floor_speedup", "met_at_step")
        return {"speed_target": {**{k: state.get(k) for k in keep}, "floor_share": share,
                                 "attainable_speedup": attainable, "steps": state["steps"]}}  # fmt: skip

    # ---------------------------------------------------------------------------------------------- internals

    def _where(self) -> str:
        s = self.settings
        return f"{timing_label(s['latency_provider'], s.get('latency_threads'))}, imgsz {s['imgsz']}, batch 1"

    def _time(self, paths: list[Path]) -> list[float]:
        """Median ms of each model, all timed in the same interleaved rounds."""
        s = self.settings
        stats = measure_interleaved(paths, runs=s["latency_runs"], warmup=s["latency_warmup"],
                                    provider=s["latency_provider"], threads=s.get("latency_threads"))  # fmt: skip
        return [x.median_ms for x in stats]

    def _onnx(self, checkpoint: str | None) -> Path:
        """The ONNX file of a run checkpoint (None: the base), exported as the run exports its final model."""
        pt = self.run.dir / (checkpoint or "weights/base.pt")
        onnx = pt.with_suffix(".onnx")
        if pt not in self._exported:
            export_onnx(pt, self.settings["imgsz"])
            self._exported.add(pt)
        return onnx

    def _current(self, step: int) -> str | None:
        """The checkpoint the step starts from: the last step measured before it, or the base."""
        earlier = [e for e in self.state["steps"] if e["step"] < step]
        return earlier[-1]["checkpoint"] if earlier else None

    def _units(self, model: nn.Module, groups: list[Any], rules: WidthRules, base_widths: dict[str, int],
               imp: tp.importance.Importance | None = None) -> list[Unit]:  # fmt: skip
        """The layers of one width each, with the narrowest width the run allows them: ``min_channels`` of the base
        width, through the width rules, all at once (as in the floor model). A layer whose width the rules derive
        from others (a bottleneck's from its block's) has a floor too, but halving it alone changes nothing: the
        latency table finds those once and leaves them out."""
        names, units = module_names(model), tied_units(model, groups, imp)
        mc = self.settings["min_channels"]
        floors = rules.apply({c: channel_floor(base_widths[names[convs[0]]], mc) for convs, _ in units for c in convs})
        out = []
        for convs, scores in units:
            key = tuple(names[c] for c in convs)
            if key in self._derived:
                continue
            layer, width = stock_name(key[0], model), convs[0].out_channels
            out.append(Unit(layer, key, convs, scores, width, min(floors[convs[0]], width), 1 if layer == key[0] else 2))
        return out

    def _table(self, model: nn.Module, units: list[Unit], rules: WidthRules, step: int, tmp: Path,
               ) -> tuple[list[dict[str, Any]], list[tuple[Unit, float]], float, float]:  # fmt: skip
        """Each cuttable layer halved in a copy, all copies timed with the current model and the base: the table's
        rows, each layer with the share of the base's latency one of its channels costs (what ``_choose`` ranks by),
        and the base's and the current model's ms."""
        current, probes = self._onnx(self._current(step)), []
        for u in (u for u in units if u.cuttable):
            width = rules.apply({c: max(u.floor, round(u.width * PROBE)) for c in u.convs})
            if width[u.convs[0]] == u.width:
                self._derived.add(u.key)
                continue
            path = export_like(current, cut_copy(model, self._graph, width), tmp / f"t{len(probes)}.onnx")
            probes.append((u, width[u.convs[0]], path))
        # The base twice, in two sessions: how far two timings of one model differ is the table's noise.
        start = [self._onnx(None), self._onnx(None), current]
        base_ms, again_ms, current_ms, *times = self._time([*start, *(path for *_, path in probes)])
        self._noise = abs(again_ms - base_ms) / base_ms
        rows, probed = [], []
        for (u, width, _), ms in zip(probes, times):
            probed.append((u, max(current_ms - ms, 0.0) / base_ms / (u.width - width)))
            rows.append({
                "layer": u.layer, "width": u.width, "floor": u.floor, "probe_width": width, "probe_ms": ms,
                "saved_ms": current_ms - ms, "saved_share": (current_ms - ms) / base_ms,
                "importance_removed": float(u.scores[width:].sum() / u.scores.sum()), "share_per_channel": probed[-1][1],
            })  # fmt: skip
        return rows, probed, base_ms, current_ms

    @staticmethod
    def _choose(probed: list[tuple[Unit, float]], need: float, rules: WidthRules,
                ) -> tuple[dict[nn.Conv2d, int], float, bool]:  # fmt: skip
        """The fewest channels, cheapest per latency saved first, whose predicted saving (after the width rules)
        reaches ``need``; with the predicted saving and whether every layer is at its floor.

        A channel costs the share of its layer's remaining importance that it holds (its layer's least important
        channels go first), so a layer's cost is -log of the share of its importance it keeps: thinning a thin layer
        costs more than thinning a wide one, and halving any layer costs about log 2, as uniform pruning treats every
        layer alike. Divided by the layer's measured latency per channel, that ranks every channel of the model."""
        units, slopes = [u for u, _ in probed], [slope for _, slope in probed]
        ranked = []
        for i, (u, slope) in enumerate(probed):
            if slope <= 0:
                continue
            ascending = u.scores[: u.width].flip(0)
            remaining = ascending.flip(0).cumsum(0).flip(0)  # before removing channel j: the sum of j and above
            cost = ascending / remaining
            ranked += [(float(c) / slope, i) for c in cost[: u.width - u.floor]]
        ranked.sort()

        def widths_for(n: int) -> dict[nn.Conv2d, int]:
            removed = Counter(i for _, i in ranked[:n])
            return rules.apply({c: u.width - removed[i] for i, u in enumerate(units) for c in u.convs})

        def saving(widths: dict[nn.Conv2d, int]) -> float:
            return sum(slope * (u.width - widths[u.convs[0]]) for u, slope in zip(units, slopes))

        lo, hi = 0, len(ranked)  # invariant: saving(widths_for(hi)) >= need, unless hi is all of them
        while lo < hi:
            mid = (lo + hi) // 2
            if saving(widths_for(mid)) >= need:
                hi = mid
            else:
                lo = mid + 1
        widths = widths_for(lo)
        return widths, saving(widths), all(widths[u.convs[0]] <= u.floor for u in units)

    def _save_table(self, entry: dict[str, Any]) -> None:
        path = self.run.dir / TABLE_FILE
        tables = [t for t in (json.loads(path.read_text()) if path.is_file() else []) if t["step"] != entry["step"]]
        write_json(path, sorted([*tables, entry], key=lambda t: t["step"]))

