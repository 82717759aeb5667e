"""Latency-targeted pruning: per-layer widths chosen for a speed-up that the run's runtime measures, not for a share
of channels.

Uniform pruning spends accuracy on layers that buy little time, and part of a YOLO model's latency never shrinks with
its channels (head decoding, fixed-width prediction convs, per-operation costs). This method measures both on the
run's runtime (``latency_provider``: ONNX Runtime by default, or OpenVINO, ncnn or TensorRT, each reading the ONNX
graphs this method writes as it reads its own export, ``yolo_prune.runtimes``; ``latency_threads``; models exported
as the run exports its final model; models compared in the same interleaved rounds, so that the machine's drift
falls on all alike; with ``latency_threads`` 1 on a CPU runtime, each run timed by its thread's CPU time, which a busy
machine does not disturb):

- **Before any work, the floor**: the model with every prunable layer at the narrowest width the run allows
  (``min_channels``, ``round_to`` and the width rules) against the base. A target beyond it is refused with the best
  reachable speed-up. ``--target-latency-ms T`` becomes the speed-up ``base ms / T`` here, once.
- **Once, a latency model** (HALP's latency lookup table, NetAdapt's per-layer tables): every layer whose width the
  run may choose is cut in a copy of the model, once to half its width and once to its floor (``cut_copy``: its
  least important channels gone, by Torch-Pruning's group L2 importance as DepGraph scores them; written into the
  model's exported graph by ``export_like``, without tracing), and all copies are timed with the base in the same
  rounds. Per layer, the share of the base's latency its width costs at those widths, interpolated between them
  (``LatencyModel``). Kept in ``latency_model.json``, built at the first step and read by every later step and by
  ``--resume``; it learns from every timing made after it (each proposal, each step's checkpoint): cuts made
  together save less than the sum of single-layer savings, and a correction factor fitted to the measured savings
  of the cuts timed says how much less.
- **Each step's widths**: the step runs each layer of the current model, halved, on a few training images
  (``output_change``: how far the detections move). A layer's accuracy cost grows with the square of the share of it
  that goes; per channel, divided by the time the latency model says the channel costs, that ranks every channel of
  the model (``Ranking``). The cheapest go until the model predicts the step to run ``target ** (step / steps)``
  times faster than the base (3 % beyond, for the noise of the next measurement), every width through the run's
  width rules. The step times only what the model cannot predict well enough, its proposals near that aim: each is
  written into the exported graph and timed against the base (up to 6), the next one placed by the last one's
  measured error, between the nearest short and past ones once the aim is bracketed; the step cuts the one with
  the fewest channels near its aim (``choose_proposal``), with Torch-Pruning's pruner (L2 importance, as DepGraph).
  Each proposal's predicted and measured speed-up are kept: the model's error.
- **Timing, bounded**: every timing runs the models in interleaved rounds until each median is known to 0.5 %
  (``PRECISION``; ``latency_runs`` rounds at most, after ``TIMING_WARMUP`` untimed ones), and a step stops timing
  once it has spent ``latency_budget`` seconds on it, the latency model's build at half of that (every timing still
  makes 3 rounds, so a step may run a round or so past it): the seconds, models and rounds of each timing are kept
  per step.
- **After each step's fine-tuning**, the step's checkpoint is exported and timed against the base; the run ends at
  the first step that meets the target (``goal_reached``), or after ``iterative_steps``.

Files in the run directory: ``speed_target.json`` (target, floor, each step's measured speed-up, the step that met
the target, each timing's seconds), ``latency_model.json`` (per layer, the share of the base's latency each width
measured saves; the cuts timed since, predicted against measured) and ``latency_table.json`` (each step's table: per
layer, the time a halving saves by the model, how far it moves the outputs, the share of the layer's importance it
removes, the widths chosen, the proposals with their predicted and measured speed-ups; the report's per-layer
guidance).

Usage:
    from yolo_prune import prune

    prune(model="best.pt", data="data.yaml", target_speedup=2.0, iterative_steps=4, epochs=10, latency_threads=1)
    prune(model="best.pt", data="data.yaml", target_speedup=2.0, latency_budget=60)  # at most a minute of timing a step
    prune(model="best.pt", data="data.yaml", target_latency_ms=12.5)  # a target selects method="latency"
    prune(model="best.pt", data="data.yaml", target_speedup=2.0, latency_provider="openvino")  # met on OpenVINO

CLI:
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --iterative-steps 4 --latency-threads 1
    yolo-prune --model best.pt --data data.yaml --target-latency-ms 12.5
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --latency-provider openvino --latency-threads 1
    yolo-prune --model best.pt --data data.yaml --target-speedup 2 --imgsz 640 --latency-threads 1 --latency-budget 120
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
import torch_pruning as tp

from yolo_prune.errors import Paused, UserError
from yolo_prune.evaluation import layer_widths
from yolo_prune.export import export_like, export_model, export_onnx, require_onnxruntime
from yolo_prune.latency import PRECISION, attainable_speedup, measure_interleaved, step_timing, timing_label
from yolo_prune.methods.base import (
    PruningMethod, WidthRules, channel_floor, module_names, out_convs, prunable_groups, tied_units,
)  # fmt: skip
from yolo_prune.methods.latency_kit import Kit, kit_models
from yolo_prune.methods.latency_model import (
    MARGIN, OVERSHOOT, LatencyModel, Probe, Ranking, Unit, choose_proposal, keyed, monotone, narrowed, within_noise,
)  # fmt: skip
from yolo_prune.rundir import (
    LATENCY_MODEL_FILE, LATENCY_TABLE_FILE, SPEED_TARGET_FILE, checkpoint_file, read_json, write_json,
)  # fmt: skip
from yolo_prune.settings import speedups
from yolo_prune.structure import ModelAdapter, Task, stock_name
from yolo_prune.structure.parts import CONVS, leave

PROPOSALS = 6  # proposals timed per step before the real cut
PROBE = 0.5  # the latency model and the table halve each layer: a cut whose effect stands well above the noise
TIMING_WARMUP = 1  # untimed rounds before each timing of the speed target (at most ``latency_warmup``)
MODEL_SHARE = 0.5  # of a step's timing budget, what building the latency model may take: the proposals decide
IMAGES = 16  # training images the table runs every copy on, to see how far its detections move


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
        self._model: LatencyModel | None = None
        self._timings: list[dict[str, Any]] = []  # every timing: step, what, seconds, models, rounds
        self._base_ms = 0.0  # the base's ms in the latest timing
        self._cached_images: list[np.ndarray] | None = None
        table = settings.get("latency_table")
        self._kit = Kit(Path(table), settings) if table else None  # a device's timings instead of this machine's

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
            floor_onnx = export_like(base_onnx, floor, Path(tmp) / "floor.onnx")
            if self._kit is not None:
                self._kit.bind(layer_widths(model))
            if self._kit is not None and not self._kit.timed:
                probes = self._probes(units, rules)
                raise Paused(self._kit.write(*kit_models(model, graph, probes, rules, base_onnx, floor_onnx)))
            if self._kit is not None:
                self._kit.load()
            base_ms, floor_ms = self._time([base_onnx, floor_onnx], 0, "floor")
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
            target = max(speedups(s))  # the search's largest; the latency method has one
            if target > reach:
                raise UserError(
                    f"target speed-up {target:g}x is beyond this model's reach: with every prunable layer at its "
                    f"narrowest width it runs {reach:.2f}x faster than the base ({floor_ms:.2f} ms against "
                    f"{base_ms:.2f} ms, {where}); the best reachable speed-up is {reach:.2f}x"
                )  # fmt: skip
        self.state = {
            "target_speedup": target, "target_latency_ms": s.get("target_latency_ms"),
            "provider": s["latency_provider"], "threads": s.get("latency_threads"), "imgsz": s["imgsz"],
            "runs": s["latency_runs"], "budget_s": s["latency_budget"], "base_ms": base_ms, "floor_ms": floor_ms,
            "floor_speedup": reach, "floor_widths": layer_widths(floor),
            "steps": [], "met_at_step": None, "timing": self._timings,
            **({"predicted": True, "device": self._kit.device} if self._kit else {}),
        }  # fmt: skip
        print(f"speed target {target:.2f}x ({where}): base {base_ms:.2f} ms, floor {floor_ms:.2f} ms with every "
              f"prunable layer at its narrowest, so at most {reach:.2f}x is reachable", flush=True)  # fmt: skip
        return {SPEED_TARGET_FILE: self.state}

    def attach(self, run: Any) -> None:
        super().attach(run)
        self.state = read_json(run.dir / SPEED_TARGET_FILE)
        measured_on = self.state.get("provider", "cpu")
        if measured_on != self.settings["latency_provider"] and self.state.get("met_at_step") is None:
            raise UserError(f"this run's speed target is measured on --latency-provider {measured_on}, and its "
                            f"latency model with it: resume it with --latency-provider {measured_on}")  # fmt: skip
        self._timings = self.state.setdefault("timing", [])
        self._base_ms = self.state["base_ms"]

    def graph(self, model: nn.Module, imgsz: int) -> tuple[tp.DependencyGraph, list[nn.Module], torch.Tensor]:
        """The base class's graph, kept for ``target_widths``: its proposals are cut from it."""
        graph, ignored, example = super().graph(model, imgsz)
        self._graph = graph
        return graph, ignored, example

    def target_rate(self, step: int, steps: int, reached: float) -> float:
        """The share the cut reached: a speed target schedules no share of its own."""
        return reached

    def target_widths(self, model, groups, rules, step, steps, base_widths) -> dict[nn.Conv2d, int]:
        """The step's widths: the latency model, the table, then proposals timed against the base (see the module
        docstring)."""
        goal = self.state["target_speedup"] ** (step / steps)
        self._timings[:] = [t for t in self._timings if t["step"] != step]  # a step done again counts anew
        imp, scores = self.importance(), {}
        for group in groups:  # each group's channels scored as the pruner scores them, by its root conv
            convs, value = out_convs(group), imp(group)
            if convs and value is not None:
                scores[convs[0]] = value.detach().cpu().float()
        order = {c: torch.argsort(v) for c, v in scores.items()}
        with tempfile.TemporaryDirectory(prefix="yolo_prune_latency_") as tmp:
            units = self._units(model, groups, rules, base_widths)
            lm, halved = self._latency_model(model, units, rules, order, step, Path(tmp))
            units = [u for u in units if u.key not in self._derived]
            rows, probed = self._table(model, units, rules, scores, order, lm, halved, step, Path(tmp))
            aim = goal * (1 + MARGIN)
            proposals = self._propose(model, units, probed, rules, lm, aim, step, Path(tmp))
        chosen = choose_proposal(proposals, goal, aim)
        widths = chosen.pop("widths") if chosen else rules.apply({})
        for p in proposals:
            p.pop("widths", None)
            p["chosen"] = p is chosen
        for row, p in zip(rows, probed):
            row["chosen_width"] = widths[p.unit.convs[0]]
            row["chosen_stock_width"] = widths[p.unit.convs[0]] * p.unit.stock_factor
        current = self._current_speedup(step)
        entry = {"step": step, "step_target": goal, "base_ms": self._base_ms, "current_ms": self._base_ms / current,
                 "current_speedup": current, "noise": lm.noise, "correction": lm.correction(), "layers": rows,
                 "proposals": proposals, "chosen_widths": keyed(units, widths)}  # fmt: skip
        self._save_table(entry)
        self._save_model(lm)
        write_json(self.run.dir / SPEED_TARGET_FILE, self.state)
        spent = step_timing(self._timings).get(step, {})
        measured = chosen["measured_speedup"] if chosen else current
        how = "the cut is predicted to run" if self._kit else f"{len(proposals)} proposal(s) timed, the cut measures"
        print(f"step {step}/{steps}    widths for {goal:.2f}x: {len(rows)} layers, {how} {measured:.2f}x "
              f"against the base; {spent.get('seconds', 0.0):.0f} s of timing ({spent.get('models', 0)} models)",
              flush=True)  # fmt: skip
        return widths

    def _latency_model(self, model: nn.Module, units: list[Unit], rules: WidthRules,
                       order: dict[nn.Conv2d, torch.Tensor], step: int, tmp: Path,
                       ) -> tuple[LatencyModel, dict[tuple[str, ...], Path]]:  # fmt: skip
        """The run's latency model: read from the run directory, else built on the step's model (each cuttable layer
        cut to half its width and to its floor, the copies timed with the base in the same rounds), with the halved
        copies it exported (the table runs them on images)."""
        if self._model is None:
            data = read_json(self.run.dir / LATENCY_MODEL_FILE, optional=True)
            if data:
                self._model = LatencyModel(data)
                self._derived |= {tuple(k.split("|")) for k in self._model.derived}
        if self._model is not None:
            return self._model, {}
        current, copies, halved = self._current(step), [], {}
        context = self._onnx(current)
        for u, widths, halving in self._probes(units, rules):
            path = export_like(context, cut_copy(model, self._graph, widths, order if halving else None),
                               tmp / f"p{len(copies)}.onnx")  # fmt: skip
            if halving:
                halved[u.key] = path
            copies.append((u, widths[u.convs[0]], path))
        # The base twice, in two sessions: how far two timings of one model differ is the model's noise.
        start = [self._onnx(None), self._onnx(None), *([context] if current else [])]
        base_ms, again_ms, *times = self._time([*start, *(path for *_, path in copies)], step, "latency model",
                                               MODEL_SHARE)  # fmt: skip
        context_ms = times.pop(0) if current else base_ms
        points: dict[str, list[tuple[int, float]]] = {}
        for (u, width, _), ms in zip(copies, times):
            points.setdefault("|".join(u.key), [(u.width, 0.0)]).append((width, (context_ms - ms) / base_ms))
        self._model = LatencyModel({
            "points": {k: monotone(v) for k, v in points.items()}, "derived": ["|".join(k) for k in self._derived],
            "layers": {"|".join(u.key): u.layer for u, *_ in copies}, "context": context_ms / base_ms,
            "built_at_step": step, "noise": abs(again_ms - base_ms) / base_ms,
        })  # fmt: skip
        for widths, share in self._kit.uniform_cuts() if self._kit else []:
            self._model.learn(step, "device: every layer cut", widths, share)
        self._save_model(self._model)
        return self._model, halved

    def _propose(self, model: nn.Module, units: list[Unit], probed: list[Probe], rules: WidthRules,
                 lm: LatencyModel, aim: float, step: int, tmp: Path) -> list[dict[str, Any]]:  # fmt: skip
        """Widths for the step: the ``n`` cheapest channels of the ranking go, ``n`` where the latency model says the
        cut runs ``aim`` times faster than the base (or up to ``OVERSHOOT`` beyond), each proposal timed against the
        base and learnt by the model. The next ``n`` comes from the last proposal's own error while every proposal
        falls on one side of the aim, then from the line between the nearest short and past ones: the proposals
        bracket the aim until one lands within ``OVERSHOOT`` beyond it, or within twice the timing's own error of
        it (its relative standard error, from the spread of its rounds)."""
        ranking = Ranking(probed, rules)
        want = 1 / (aim * (1 + OVERSHOOT / 2))  # the share of the base's latency in the middle of the window
        now = lm.raw(keyed(units, ranking.widths(0)))

        def channels(correction: float) -> int:
            return ranking.first((lm.context - want) / max(correction, 1e-3) - now)

        proposals: list[dict[str, Any]] = []
        n = channels(lm.correction())
        if self._kit is not None:  # nothing to time here: the cut the device's latency model says meets the aim
            predicted = 1 / lm.predict(keyed(units, ranking.widths(n)))
            return [{"channels": n, "predicted_speedup": predicted, "measured_speedup": predicted, "predicted": True,
                     "error": 0.0, "widths": ranking.widths(n)}]  # fmt: skip
        short: tuple[int, float] | None = None  # (n, share) of the largest cut measured short of the aim
        over: tuple[int, float] | None = None  # and of the smallest that met it
        while n > 0 and len(proposals) < PROPOSALS:
            widths = ranking.widths(n)
            by_key = keyed(units, widths)
            path = export_like(self._onnx(self._current(step)), cut_copy(model, self._graph, widths),
                               tmp / f"p{len(proposals)}.onnx")  # fmt: skip
            base_ms, ms = self._time([self._onnx(None), path], step, "proposal")
            predicted = lm.learn(step, "proposal", by_key, ms / base_ms)
            speed = base_ms / ms
            proposals.append({"channels": n, "predicted_speedup": 1 / predicted, "measured_speedup": speed,
                              "error": speed * predicted - 1, "widths": widths})  # fmt: skip
            if speed >= aim:
                over = (n, ms / base_ms) if over is None or n < over[0] else over
            else:
                short = (n, ms / base_ms) if short is None or n > short[0] else short
            if over is not None and (1 / over[1] <= aim * (1 + OVERSHOOT) or over[0] <= (short or (0,))[0] + 1):
                break
            if within_noise(speed, aim, self._ratio_error):
                break
            if over is not None and short is not None:  # between them, where the line through them meets the aim
                (n0, s0), (n1, s1) = short, over
                n = min(max(n0 + round((n1 - n0) * (s0 - want) / max(s0 - s1, 1e-9)), n0 + 1), n1 - 1)
                continue
            raw = lm.raw(by_key)
            local = (lm.context - ms / base_ms) / raw if raw > 0 else lm.correction()
            if over is not None:  # past the aim, nothing short yet: a smaller cut
                n = min(channels(local), over[0] - 1)
            else:  # short of it: a larger cut, at most twice as large
                if n == ranking.size:  # every layer at its floor, and still short
                    break
                n = min(max(channels(local), n + 1), 2 * n + 1, ranking.size)
        return proposals

    def goal_reached(self, row: dict[str, Any]) -> bool:
        """Time the step's checkpoint against the base (once per step; the latency model learns it); True once it
        meets the target."""
        if row.get("phase") != self.step_phase or not row.get("step") or row.get("status") != "kept":
            return False
        done = next((e for e in self.state["steps"] if e["step"] == row["step"]), None)
        if done is None:
            k, steps, target = row["step"], self.settings["iterative_steps"], self.state["target_speedup"]
            base_ms, ms = self._step_ms(k, row["checkpoint"])
            done = {"step": k, "step_target": target ** (k / steps), "base_ms": base_ms, "ms": ms,
                    "speedup": base_ms / ms, "met": base_ms / ms >= target,
                    "checkpoint": row["checkpoint"]}  # fmt: skip
            table = next((t for t in read_json(self.run.dir / LATENCY_TABLE_FILE, optional=True) or []
                          if t["step"] == k), None)  # fmt: skip
            data = read_json(self.run.dir / LATENCY_MODEL_FILE, optional=True)
            if table and table.get("chosen_widths") and data and self._kit is None:  # a device's: predicted only
                lm = self._model or LatencyModel(data)
                done["predicted_speedup"] = 1 / lm.learn(k, "checkpoint", table["chosen_widths"], ms / base_ms)
                self._save_model(lm)
            self.state["steps"].append(done)
            if done["met"] and self.state.get("met_at_step") is None:
                self.state["met_at_step"] = k
            write_json(self.run.dir / SPEED_TARGET_FILE, self.state)
            verdict = "target met, the run ends here" if done["met"] else "not yet"
            how = "predicted for the device" if self._kit else "measured"
            print(f"step {k}/{steps}    speed-up {done['speedup']:.2f}x {how} against the base (target "
                  f"{target:.2f}x): {verdict}", flush=True)  # fmt: skip
        return bool(done["met"])

    def summary(self, run: Any, summary: dict[str, Any]) -> dict[str, Any]:
        """The target, the floor and the speed-up the floor allows at the final MACs ratio (Amdahl's law: the time
        above the floor shrinking in proportion to the MACs), beside what was measured; the time spent timing, per
        step and in all; the latency model's error on the proposals it predicted."""
        state = read_json(run.dir / SPEED_TARGET_FILE)
        share = state["floor_ms"] / state["base_ms"]
        ratio = summary.get("macs_ratio")
        attainable = attainable_speedup(state["base_ms"], state["floor_ms"], ratio) if ratio else None
        keep = ("target_speedup", "target_latency_ms", "base_ms", "floor_ms", "floor_speedup", "met_at_step",
                "budget_s", "predicted", "device")  # fmt: skip
        final = run.dir / checkpoint_file("final").replace(".pt", ".onnx")
        if self._kit is not None and final.is_file():
            folder = self._kit.verify(run.dir / checkpoint_file("base").replace(".pt", ".onnx"), final)
            print(f"the speed-ups are predicted for the device; to confirm the final one, copy {folder} to it and "
                  f"run 'python time_models.py' in it (it times base and final, and prints the speed-up)", flush=True)
        per_step = step_timing(state.get("timing") or [])
        errors = [abs(p["error"]) for t in read_json(run.dir / LATENCY_TABLE_FILE, optional=True) or []
                  for p in t["proposals"] if "error" in p]  # fmt: skip
        return {"speed_target": {**{k: state.get(k) for k in keep}, "floor_share": share,
                                 "attainable_speedup": attainable, "steps": state["steps"],
                                 "timing": per_step, "timing_s": sum(t["seconds"] for t in per_step.values()),
                                 "model_error": sum(errors) / len(errors) if errors else None}}  # fmt: skip

    # ---------------------------------------------------------------------------------------------- internals

    def _where(self) -> str:
        s = self.settings
        if self._kit is not None:
            return f"{s['latency_provider']} on the device that timed the kit in {self._kit.folder}, imgsz {s['imgsz']}"
        return f"{timing_label(s['latency_provider'], s.get('latency_threads'))}, imgsz {s['imgsz']}, batch 1"

    def _time(self, paths: list[Path], step: int, what: str, share: float = 1.0) -> list[float]:
        """Median ms of each model, all timed in the same interleaved rounds until each median is known to
        ``PRECISION``, within what is left of ``share`` of the step's ``latency_budget``; the timing is recorded for
        the step. ``paths[0]`` is the base."""
        if self._kit is not None:  # the device's timings, read back from the kit
            ms = [self._kit.ms(p) for p in paths]
            self._base_ms, self._ratio_error = ms[0], 0.0
            return ms
        s = self.settings
        left = s["latency_budget"] * share - sum(t["seconds"] for t in self._timings if t["step"] == step)
        started = time.perf_counter()
        stats = measure_interleaved(paths, runs=s["latency_runs"], warmup=min(s["latency_warmup"], TIMING_WARMUP),
                                    provider=s["latency_provider"], threads=s.get("latency_threads"),
                                    precision=PRECISION, budget_s=max(left, 0.0))  # fmt: skip
        self._timings.append({"step": step, "what": what, "seconds": time.perf_counter() - started,
                              "models": len(paths), "runs": stats[0].runs})  # fmt: skip
        self._base_ms = stats[0].median_ms
        self._ratio_error = math.hypot(stats[0].rel_error, stats[-1].rel_error)
        return [x.median_ms for x in stats]

    def _step_ms(self, step: int, checkpoint: str) -> tuple[float, float]:
        """The base's and the step's checkpoint's ms: timed here, or on a device predicted by its latency model."""
        if self._kit is None:
            base_ms, ms = self._time([self._onnx(None), self._onnx(checkpoint)], step, "checkpoint")
            return base_ms, ms
        table = next(t for t in read_json(self.run.dir / LATENCY_TABLE_FILE) if t["step"] == step)
        lm = self._model or LatencyModel(read_json(self.run.dir / LATENCY_MODEL_FILE))
        return self.state["base_ms"], self.state["base_ms"] * lm.predict(table["chosen_widths"])

    def _probes(self, units: list[Unit], rules: WidthRules) -> list[tuple[Unit, dict[nn.Conv2d, int], bool]]:
        """The cuts the latency model is built from: each cuttable layer to half its width (True) and, where
        narrower, to its floor (False); a layer whose halving changes nothing is derived from others."""
        out = []
        for u in (u for u in units if u.cuttable):
            half = rules.apply({c: max(u.floor, round(u.width * PROBE)) for c in u.convs})
            if half[u.convs[0]] == u.width:
                self._derived.add(u.key)
                continue
            out.append((u, half, True))
            floor = rules.apply({c: u.floor for c in u.convs})
            if floor[u.convs[0]] < half[u.convs[0]]:
                out.append((u, floor, False))
        return out

    def _current_speedup(self, step: int) -> float:
        """The speed-up of the model the step starts from, as measured when its step ended (the base: 1)."""
        earlier = [e for e in self.state["steps"] if e["step"] < step]
        return earlier[-1]["speedup"] if earlier else 1.0

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
               order: dict[nn.Conv2d, torch.Tensor], lm: LatencyModel, halved: dict[tuple[str, ...], Path],
               step: int, tmp: Path) -> tuple[list[dict[str, Any]], list[Probe]]:  # fmt: skip
        """Each cuttable layer halved in a copy of the step's model (its least important channels gone, as the real
        cut takes them; the latency model's own copies where it was built on this model) and run on a few training
        images: the table's rows and each layer's probe (how far the outputs move, and what the latency model says
        its channels save: what ``Ranking`` ranks by). No timing: the time comes from the latency model."""
        current = self._onnx(self._current(step))
        stock = {c: stock_name(n, model) for n, c in model.named_modules() if isinstance(c, CONVS)}
        images = self._images()
        reference = onnx_outputs(current, images)
        base_ms, current_ms = self._base_ms, self._base_ms / self._current_speedup(step)
        rows, probed = [], []
        for u in (u for u in units if u.cuttable):
            widths = rules.apply({c: max(u.floor, round(u.width * PROBE)) for c in u.convs})
            width = widths[u.convs[0]]
            if width == u.width:
                continue
            path = halved.get(u.key) or export_like(current, cut_copy(model, self._graph, widths, order),
                                                    tmp / f"t{len(probed)}.onnx")  # fmt: skip
            change = output_change(reference, onnx_outputs(path, images), self.settings["imgsz"], self.adapter.task,
                                   model)  # fmt: skip
            key = "|".join(u.key)
            now = lm.saved(key, u.width)
            probe = Probe(u, (lm.saved(key, width) - now) / (u.width - width), change,
                          lambda w, key=key, now=now: lm.saved(key, w) - now)  # fmt: skip
            probed.append(probe)
            saved = probe.saving(width)
            removed = [float(v.sort().values[: len(v) - widths[c]].sum() / v.sum()) for c, v in scores.items()
                       if c in u.convs]  # fmt: skip
            rows.append({
                "layer": u.layer, "width": u.width, "floor": u.floor, "probe_width": width,
                "probe_ms": current_ms - saved * base_ms, "saved_ms": saved * base_ms, "saved_share": saved,
                "timed": u.key in halved, "share_per_channel": probe.slope, "output_change": change,
                "importance_removed": sum(removed) / len(removed), "layers_narrowed": narrowed(widths, stock, u.layer),
            })  # fmt: skip
        return rows, probed

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

    def _save_model(self, lm: LatencyModel) -> None:
        write_json(self.run.dir / LATENCY_MODEL_FILE, lm.as_dict())


def onnx_outputs(path: Path, images: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The outputs of the ONNX model at ``path`` for each image (ONNX Runtime on the CPU)."""
    session = require_onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: image}) for image in images]
