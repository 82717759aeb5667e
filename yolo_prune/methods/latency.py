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
  the current model (``cut_copy``: its least important channels gone, by Torch-Pruning's group L2 importance as
  DepGraph scores them; written into the current model's exported graph by ``export_like``, without tracing), and
  the copies are timed with the current model and the base, and run on a few training images. Per layer: the share
  of the base's latency one of its channels costs, and how far the detections move when it is halved
  (``output_change``), with everything the cut drags along (the convs that read the layer, the widths Ultralytics
  derives from it: the head's class branch follows the P3 width).
- **Each step's widths**: a layer's accuracy cost grows with the square of the share of it that goes, from its
  measured output change at one half; per channel, divided by the layer's latency per channel, that ranks every
  channel of the model (``Ranking``). The cheapest go until the step runs ``target ** (step / steps)`` times faster
  than the base (3 % beyond, for the noise of the next measurement), every width through the run's width rules.
  Cuts made together save less than the table's sum of single-layer savings, so how many channels go is searched
  on measured speed-ups: each proposal is written into the exported graph and timed against the base (up to 6);
  the step cuts the one with the fewest channels near its aim (``choose_proposal``), with Torch-Pruning's pruner
  (L2 importance, as DepGraph).
- **After each step's fine-tuning**, the step's checkpoint is exported and timed against the base; the run ends at
  the first step that meets the target (``goal_reached``), or after ``iterative_steps``.

Files in the run directory: ``speed_target.json`` (target, floor, each step's measured speed-up, the step that met
the target) and ``latency_table.json`` (each step's table: per layer, the time a halving saves, how far it moves
the outputs, the share of the layer's importance it removes, the widths chosen, the proposals; the report's
per-layer guidance).

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
import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.errors import UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import export_like, export_model, export_onnx, require_onnxruntime
from yolo_prune.latency import attainable_speedup, measure_interleaved, timing_label
from yolo_prune.methods.base import (
    PruningMethod, WidthRules, channel_floor, module_names, out_convs, prunable_groups, tied_units,
)  # fmt: skip
from yolo_prune.rundir import LATENCY_TABLE_FILE, SPEED_TARGET_FILE, checkpoint_file, read_json, write_json
from yolo_prune.structure import ModelAdapter, Task, stock_name
from yolo_prune.structure.parts import CONVS, leave

MARGIN = 0.03  # each step aims this much beyond its target: the measurement after fine-tuning has its own noise
PROPOSALS = 6  # proposals timed per step before the real cut
PROBE = 0.5  # the table halves each layer: a cut whose effect stands well above the timing noise
IMAGES = 16  # training images the table runs every copy on, to see how far its detections move
OVERSHOOT = 0.05  # a proposal this much beyond the step's target is kept without looking for a smaller cut


def choose_proposal(proposals: list[dict[str, Any]], goal: float, aim: float) -> dict[str, Any] | None:
    """The proposal a step cuts: the fewest channels among those that measured the aim without running more than
    ``OVERSHOOT`` past it, else among those that measured the step's goal within that bound, else among all that
    measured the goal, else the fastest. A cut far past the aim costs accuracy for speed the step did not ask for, so
    it is taken only when nothing nearer met the goal (a yolov8n step aiming at 2.06x took a 2.69x cut while a cut
    with a fifth fewer channels had measured 2.03x)."""
    bound = aim * (1 + OVERSHOOT)
    for low, high in ((aim, bound), (goal, bound), (goal, math.inf)):
        fits = [p for p in proposals if low <= p["measured_speedup"] <= high]
        if fits:
            return min(fits, key=lambda p: p["channels"])
    return max(proposals, key=lambda p: p["measured_speedup"], default=None)


@dataclass
class Unit:
    """Convs the run cuts to one width (a coupled group, or both halves of a C2f block), in the prunable form."""

    layer: str  # the stock name of its first conv (both halves of a C2f block: the block's cv1)
    key: tuple[str, ...]  # the names of its convs in the prunable form
    convs: list[nn.Conv2d]
    width: int
    floor: int  # the narrowest width the run allows it; == width when the rules derive it from others
    stock_factor: int = 1  # the stock conv holds both halves of a C2f block: twice the unit's width

    @property
    def cuttable(self) -> bool:
        return self.floor < self.width


@dataclass
class Probe:
    """A layer's row of the latency table, as the width choice reads it."""

    unit: Unit
    slope: float  # the share of the base's latency one of its channels costs
    change: float  # how far the model's outputs move when the layer is halved (``output_change``)


class Ranking:
    """Channels in the order they go: ``widths(n)`` are the widths once the first ``n`` have gone, after the width
    rules; ``saving`` is what the latency table predicts for them (the sum of each layer's measured slope).

    A layer's accuracy cost is its measured output change when halved, grown with the square of the share that goes
    (a cut of a converged model costs to second order: small cuts little, deep ones much more), so the k-th channel
    of a layer of width w costs ``change * 4 * (2k - 1) / w**2``; divided by the layer's latency per channel, that
    ranks every channel of the model. Layers whose halving saved no time never come."""

    def __init__(self, probed: list[Probe], rules: WidthRules) -> None:
        ranked = []
        for i, p in enumerate(probed):
            if p.slope > 0:
                w = p.unit.width
                ranked += [(p.change * 4 * (2 * k - 1) / w**2 / p.slope, i) for k in range(1, w - p.unit.floor + 1)]
        self.probed, self.order, self.rules = probed, [i for _, i in sorted(ranked)], rules
        self.size = len(self.order)

    def widths(self, n: int) -> dict[nn.Conv2d, int]:
        removed = Counter(self.order[:n])
        return self.rules.apply({c: p.unit.width - removed[i] for i, p in enumerate(self.probed) for c in p.unit.convs})

    def saving(self, widths: dict[nn.Conv2d, int]) -> float:
        return sum(p.slope * (p.unit.width - widths[p.unit.convs[0]]) for p in self.probed)

    def first(self, need: float) -> int:
        """The fewest channels whose predicted saving reaches ``need`` (all of them if none does)."""
        lo, hi = 0, self.size
        while lo < hi:
            mid = (lo + hi) // 2
            if self.saving(self.widths(mid)) >= need:
                hi = mid
            else:
                lo = mid + 1
        return lo


def output_change(reference: list[list[np.ndarray]], outputs: list[list[np.ndarray]], imgsz: int, task: Task,
                  model: nn.Module) -> float:  # fmt: skip
    """How far a cut model's predictions move from the reference model's on the same images (each image's exported
    outputs, in order): the relative L1 change of the scores, plus the shift of the pixel coordinates (a share of the
    image side) weighted by the reference's confidence, plus what the task predicts besides (``Task.other_change``:
    segmentation's masks). The first output is read as ``model``'s task lays it out (detection: ``(1, 4 + nc,
    anchors)``, boxes in pixels, then class probabilities)."""
    ref, out = [task.split_output(r[0], model) for r in reference], [task.split_output(o[0], model) for o in outputs]
    cls = sum(float(np.abs(o - r).sum()) for (_, r), (_, o) in zip(ref, out))
    mass = sum(float(r.sum()) for _, r in ref)
    weight = [r.max(axis=1) for _, r in ref]
    box = sum(float((np.abs(o - r).sum(axis=1) * w).sum()) for (r, _), (o, _), w in zip(ref, out, weight))
    other = sum(task.other_change(r, o, w, model) for r, o, w in zip(reference, outputs, weight)) / len(reference)
    return cls / max(mass, 1e-12) + box / imgsz / max(sum(float(w.sum()) for w in weight), 1e-12) + other


def cut_copy(model: nn.Module, graph: tp.DependencyGraph, widths: dict[nn.Conv2d, int],
             order: dict[nn.Conv2d, torch.Tensor] | None = None) -> nn.Module:  # fmt: skip
    """A stock-form copy of prunable-form ``model`` with every conv cut to its width in ``widths``: the model the
    real cut gives when ``order`` ranks each group's channels by importance (the root conv of each group to the
    channel indices, least important first), else its architecture (each conv's last channels go: latency does not
    depend on which). Torch-Pruning's groups on ``graph`` say which tensors of which layers each cut touches;
    ``model`` itself is left as it is."""
    names = module_names(model)
    removals: dict[tuple[str, Callable], set[int]] = {}
    for conv, keep in widths.items():
        if keep < conv.out_channels and (order is None or conv in order):
            drop = order[conv][: conv.out_channels - keep].tolist() if order else range(keep, conv.out_channels)
            group = graph.get_pruning_group(conv, tp.prune_conv_out_channels, sorted(drop))
            for dep, idxs in group:
                if dep.target.module in names:  # model layers; concat and split nodes of the graph hold no weights
                    removals.setdefault((names[dep.target.module], dep.handler), set()).update(idxs)
    cut = copy.deepcopy(model)
    modules = dict(cut.named_modules())
    for (name, handler), idxs in removals.items():  # idxs of every group in the unpruned numbering: one call each
        handler(modules[name], sorted(idxs))
    leave(cut)
    return cut


class LatencyMethod(PruningMethod):
    """Widths chosen for a measured speed-up (see the module docstring)."""

    name = "latency"
    pruner_cls = tp.pruner.GroupNormPruner

    def __init__(self, settings: dict[str, Any], adapter: ModelAdapter) -> None:
        super().__init__(settings, adapter)
        self.run: Any = None
        self.state: dict[str, Any] = {}
        self._derived: set[tuple[str, ...]] = set()  # layers whose width the rules derive from others
        self._exported: set[Path] = set()  # checkpoints exported by this process (a killed export may be partial)
        self._graph: tp.DependencyGraph | None = None
        self._noise = 0.0
        self._cached_images: list[np.ndarray] | None = None

    def importance(self) -> tp.importance.Importance:
        return tp.importance.GroupMagnitudeImportance(p=2)

    # ---------------------------------------------------------------------------------------------- hooks

    def check(self, model: nn.Module) -> dict[str, Any]:
        """Time the floor against the base; refuse a target beyond it in one line that gives the reachable one."""
        s = self.settings
        with self.adapter.prunable_form(model), tempfile.TemporaryDirectory(prefix="yolo_prune_floor_") as tmp:
            graph, ignored, _ = self.graph(model, s["imgsz"])
            groups = prunable_groups(graph, ignored)
            rules = self.width_rules(model, groups)
            base = {n: m.out_channels for n, m in model.named_modules() if isinstance(m, CONVS)}
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
        return {SPEED_TARGET_FILE: self.state}

    def attach(self, run: Any) -> None:
        super().attach(run)
        self.state = read_json(run.dir / SPEED_TARGET_FILE)

    def graph(self, model: nn.Module, imgsz: int) -> tuple[tp.DependencyGraph, list[nn.Module], torch.Tensor]:
        """The base class's graph, kept for ``target_widths``: its proposals are cut from it."""
        graph, ignored, example = super().graph(model, imgsz)
        self._graph = graph
        return graph, ignored, example

    def target_rate(self, step: int, steps: int, reached: float) -> float:
        """The share the cut reached: a speed target schedules no share of its own."""
        return reached

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """The step's widths: the latency table, then proposals timed against the base (see the module docstring)."""
        goal = self.state["target_speedup"] ** (step / steps)
        units = self._units(model, groups, rules, base_widths)
        imp, scores = self.importance(), {}
        for group in groups:  # each group's channels scored as the pruner scores them, by its root conv
            convs, value = out_convs(group), imp(group)
            if convs and value is not None:
                scores[convs[0]] = value.detach().cpu().float()
        with tempfile.TemporaryDirectory(prefix="yolo_prune_latency_") as tmp:
            rows, probed, base_ms, current_ms = self._table(model, units, rules, scores, step, Path(tmp))
            aim = goal * (1 + MARGIN)
            proposals = self._propose(model, probed, rules, current_ms / base_ms, aim, step, Path(tmp))
        chosen = choose_proposal(proposals, goal, aim)
        widths = chosen.pop("widths") if chosen else rules.apply({})
        for p in proposals:
            p.pop("widths", None)
            p["chosen"] = p is chosen
        for row, p in zip(rows, probed):
            row["chosen_width"] = widths[p.unit.convs[0]]
            row["chosen_stock_width"] = widths[p.unit.convs[0]] * p.unit.stock_factor
        entry = {"step": step, "step_target": goal, "base_ms": base_ms, "current_ms": current_ms,
                 "current_speedup": base_ms / current_ms, "noise": self._noise, "layers": rows,
                 "proposals": proposals}  # fmt: skip
        self._save_table(entry)
        measured = chosen["measured_speedup"] if chosen else base_ms / current_ms
        print(f"step {step}/{steps}    widths for {goal:.2f}x: {len(rows)} layers timed, {len(proposals)} proposal(s), "
              f"the cut measures {measured:.2f}x against the base", flush=True)  # fmt: skip
        return widths

    def _propose(self, model: nn.Module, probed: list[Probe], rules: WidthRules, current: float, aim: float,
                 step: int, tmp: Path) -> list[dict[str, Any]]:  # fmt: skip
        """Widths for the step: the ``n`` cheapest channels of the ranking go, and ``n`` is searched on measured
        speed-ups (each proposal exported and timed against the base) until one runs ``aim`` times faster than the
        base, or at most ``OVERSHOOT`` beyond. The table's sum of single-layer savings overrates cuts made together
        (a conv narrowed at both ends saves less than both halvings say), so it only gives the first ``n``; the
        next ones come from the measurements: extrapolated while every proposal falls short, interpolated between
        the last short one and the first that meets the aim."""
        ranking = Ranking(probed, rules)
        wanted = current - 1 / aim  # share of the base's latency the cut must remove
        proposals: list[dict[str, Any]] = []
        n = ranking.first(wanted)
        short, over = (0, 0.0), None  # (n, removed) of the largest cut measured short and the smallest that met
        while wanted > 0 and ranking.size and len(proposals) < PROPOSALS:
            widths = ranking.widths(n)
            path = export_like(self._onnx(self._current(step)), cut_copy(model, self._graph, widths),
                               tmp / f"p{len(proposals)}.onnx")  # fmt: skip
            base_ms, ms = self._time([self._onnx(None), path])
            removed = current - ms / base_ms
            proposals.append({"channels": n, "predicted_speedup": 1 / (current - ranking.saving(widths)),
                              "measured_speedup": base_ms / ms, "widths": widths})  # fmt: skip
            if base_ms / ms >= aim:
                over = (n, removed) if over is None or n < over[0] else over
            else:
                short = (n, removed) if n > short[0] else short
            if over is not None and (over[1] < wanted * (1 + OVERSHOOT) or over[0] - short[0] <= 1):
                break
            if over is None and n == ranking.size:  # every layer at its floor, and still short
                break
            if over is None:  # along the line through the last short cut, at most twice as far
                n = min(ranking.size, n + max(1, min(n, round(n * (wanted - removed) / max(removed, 1e-6)))))
            else:  # between the short and the met, where the line between them meets the aim
                (n0, r0), (n1, r1) = short, over
                n = min(max(n0 + round((n1 - n0) * (wanted - r0) / max(r1 - r0, 1e-6)), n0 + 1), n1 - 1)
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
                    "speedup": base_ms / ms, "met": base_ms / ms >= target,
                    "checkpoint": row["checkpoint"]}  # fmt: skip
            self.state["steps"].append(done)
            if done["met"] and self.state.get("met_at_step") is None:
                self.state["met_at_step"] = k
            write_json(self.run.dir / SPEED_TARGET_FILE, self.state)
            verdict = "target met, the run ends here" if done["met"] else "not yet"
            print(f"step {k}/{steps}    speed-up {done['speedup']:.2f}x measured against the base (target "
                  f"{target:.2f}x): {verdict}", flush=True)  # fmt: skip
        return bool(done["met"])

    def summary(self, run: Any, summary: dict[str, Any]) -> dict[str, Any]:
        """The target, the floor and the speed-up the floor allows at the final MACs ratio (Amdahl's law: the time
        above the floor shrinking in proportion to the MACs), beside what was measured."""
        state = read_json(run.dir / SPEED_TARGET_FILE)
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
        pt = self.run.dir / (checkpoint or checkpoint_file("base"))
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
               ) -> list[Unit]:  # fmt: skip
        """The layers of one width each, with the narrowest width the run allows them: ``min_channels`` of the base
        width, through the width rules, all at once (as in the floor model). A layer whose width the rules derive
        from others (a bottleneck's from its block's) has a floor too, but halving it alone changes nothing: the
        latency table finds those once and leaves them out."""
        names, units = module_names(model), tied_units(model, groups)
        mc = self.settings["min_channels"]
        floors = rules.apply({c: channel_floor(base_widths[names[convs[0]]], mc) for convs, _ in units for c in convs})
        out = []
        for convs, _ in units:
            key = tuple(names[c] for c in convs)
            if key in self._derived:
                continue
            layer, width = stock_name(key[0], model), convs[0].out_channels
            out.append(Unit(layer, key, convs, width, min(floors[convs[0]], width), 1 if layer == key[0] else 2))
        return out

    def _table(self, model: nn.Module, units: list[Unit], rules: WidthRules, scores: dict[nn.Conv2d, torch.Tensor],
               step: int, tmp: Path) -> tuple[list[dict[str, Any]], list[Probe], float, float]:  # fmt: skip
        """Each cuttable layer halved in a copy (its least important channels gone, as the real cut takes them),
        all copies timed with the current model and the base, and run on a few training images: the table's rows,
        each layer's probe (the share of the base's latency one of its channels costs and how far the outputs move:
        what ``Ranking`` ranks by), and the base's and the current model's ms."""
        current, probes = self._onnx(self._current(step)), []
        order = {c: torch.argsort(v) for c, v in scores.items()}
        stock = {c: stock_name(n, model) for n, c in model.named_modules() if isinstance(c, CONVS)}
        for u in (u for u in units if u.cuttable):
            widths = rules.apply({c: max(u.floor, round(u.width * PROBE)) for c in u.convs})
            if widths[u.convs[0]] == u.width:
                self._derived.add(u.key)
                continue
            path = export_like(current, cut_copy(model, self._graph, widths, order), tmp / f"t{len(probes)}.onnx")
            probes.append((u, widths, path))
        # The base twice, in two sessions: how far two timings of one model differ is the table's noise.
        start = [self._onnx(None), self._onnx(None), current]
        base_ms, again_ms, current_ms, *times = self._time([*start, *(path for *_, path in probes)])
        self._noise = abs(again_ms - base_ms) / base_ms
        images = self._images()
        reference = onnx_outputs(current, images)
        rows, probed = [], []
        for (u, widths, path), ms in zip(probes, times):
            width = widths[u.convs[0]]
            outputs = onnx_outputs(path, images)
            change = output_change(reference, outputs, self.settings["imgsz"], self.adapter.task, model)
            probed.append(Probe(u, max(current_ms - ms, 0.0) / base_ms / (u.width - width), change))
            removed = [float(v.sort().values[: len(v) - widths[c]].sum() / v.sum()) for c, v in scores.items()
                       if c in u.convs]  # fmt: skip
            rows.append({
                "layer": u.layer, "width": u.width, "floor": u.floor, "probe_width": width, "probe_ms": ms,
                "saved_ms": current_ms - ms, "saved_share": (current_ms - ms) / base_ms,
                "share_per_channel": probed[-1].slope, "output_change": change,
                "importance_removed": sum(removed) / len(removed), "layers_narrowed": _narrowed(widths, stock, u.layer),
            })  # fmt: skip
        return rows, probed, base_ms, current_ms

    def _images(self) -> list[np.ndarray]:
        """``IMAGES`` training images of the run's data set, letterboxed to ``imgsz`` as validation sees them: what
        the latency table runs every copy on, so that it sees how each cut moves the detections."""
        if self._cached_images is None:
            from ultralytics.cfg import get_cfg
            from ultralytics.data import build_yolo_dataset
            task = self.adapter.task
            data = task.check_dataset(self.run.data)
            cfg = get_cfg(overrides={"imgsz": self.settings["imgsz"], "task": task.name, "fraction": 1.0})
            dataset = build_yolo_dataset(cfg, data["train"], IMAGES, data, mode="val")
            count = min(IMAGES, len(dataset))
            self._cached_images = [dataset[i]["img"][None].float().numpy() / 255 for i in range(count)]
        return self._cached_images

    def _save_table(self, entry: dict[str, Any]) -> None:
        path = self.run.dir / LATENCY_TABLE_FILE
        tables = [t for t in (read_json(path, optional=True) or []) if t["step"] != entry["step"]]
        write_json(path, sorted([*tables, entry], key=lambda t: t["step"]))


def _narrowed(widths: dict[nn.Conv2d, int], stock: dict[nn.Conv2d, str], layer: str) -> float:
    """How many layers ``widths`` narrows, each counted by its share of the cut that ``layer`` takes (stock layers:
    both halves of a C2f block are one)."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for conv, width in widths.items():
        before[stock[conv]] += conv.out_channels
        after[stock[conv]] += width
    shrink = {name: 1 - after[name] / before[name] for name in before if after[name] < before[name]}
    return sum(shrink.values()) / shrink[layer]


def onnx_outputs(path: Path, images: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The outputs of the ONNX model at ``path`` for each image (ONNX Runtime on the CPU)."""
    session = require_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: image}) for image in images]
